"""Sessions that last: refresh tokens (rotation, reuse detection, grace window, lifetimes),
one session per device (list, end one, the cap) and both logout scopes."""

from __future__ import annotations

import base64
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest

from tests.helpers import (
    PASSWORDLESS_CLIENT_SIGN_IN_FIELDS,
    Api,
    FakeClock,
    SetEnv,
    existing_user,
    last_code,
    response_keys,
    sign_in,
)

PHONE = "+66812345678"
OTHER = "+66898765432"
THREADS = 20


def refresh(api: Api, token: str, **body: Any) -> tuple[int, dict[str, Any]]:
    status, answer, _ = api.call("refresh", body or {"refresh_token": token})
    return status, answer


def code(answer: dict[str, Any]) -> str:
    return str(answer["error"]["code"])


def me(api: Api, token: str) -> tuple[int, dict[str, Any]]:
    status, body, _ = api.call("me", token=token)
    return status, body


# ------------------------------------------------------------------ what a sign-in returns
def test_a_sign_in_returns_a_refresh_token_and_a_session_and_keeps_the_fields_clients_read(
    api: Api, clock: FakeClock
) -> None:
    body = sign_in(api, clock=clock)
    assert (
        set(body)
        == response_keys("verify_code")
        >= PASSWORDLESS_CLIENT_SIGN_IN_FIELDS | {"refresh_token", "session_id"}
    )
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sid"] == body["session_id"]
    locator, session_id, secret = body["refresh_token"].split(".")
    assert base64.urlsafe_b64decode(locator + "==").decode() == PHONE and session_id == body["session_id"]
    assert len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) == 32  # 256 random bits
    stored = existing_user(PHONE).sessions[session_id]
    assert secret not in str(stored) and body["refresh_token"] not in str(stored)  # only keyed hashes


# ------------------------------------------------------------------ rotation
def test_a_refresh_rotates_both_tokens_and_the_new_ones_work(api: Api, clock: FakeClock) -> None:
    first = sign_in(api, clock=clock)
    clock.advance(300)
    status, second = refresh(api, first["refresh_token"])
    assert status == 200, second
    assert set(second) == response_keys("refresh")
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    assert second["session_id"] == first["session_id"] and second["user"]["id"] == first["user"]["id"]
    assert me(api, second["access_token"])[0] == 200
    assert me(api, first["access_token"])[0] == 200  # the old access token lives until it expires
    clock.advance(300)
    status, third = refresh(api, second["refresh_token"])
    assert status == 200 and third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])


def test_the_camel_case_spelling_is_accepted(api: Api, clock: FakeClock) -> None:
    first = sign_in(api, clock=clock)
    status, _ = refresh(api, "", refreshToken=first["refresh_token"])
    assert status == 200


# ------------------------------------------------------------------ reuse detection and grace
def test_a_spent_token_after_the_grace_window_ends_the_whole_session(api: Api, clock: FakeClock) -> None:
    first = sign_in(api, clock=clock)
    other_device = sign_in(api, clock=clock)
    status, second = refresh(api, first["refresh_token"])
    assert status == 200
    clock.advance(11)  # past REFRESH_REUSE_GRACE_SECONDS (10)

    status, answer = refresh(api, first["refresh_token"])

    assert (status, code(answer)) == (401, "REFRESH_TOKEN_REUSED")
    assert first["session_id"] not in existing_user(PHONE).sessions
    assert code(me(api, second["access_token"])[1]) == "TOKEN_REVOKED"  # its access tokens at once
    assert code(refresh(api, second["refresh_token"])[1]) == "REFRESH_TOKEN_INVALID"  # and its successor
    assert me(api, other_device["access_token"])[0] == 200  # other sessions go on
    assert existing_user(PHONE).is_active is True


def test_a_retry_within_the_grace_window_gets_the_same_successor(api: Api, clock: FakeClock) -> None:
    first = sign_in(api, clock=clock)
    status, second = refresh(api, first["refresh_token"])
    clock.advance(5)

    status, retried = refresh(api, first["refresh_token"])

    assert status == 200, retried
    assert retried["refresh_token"] == second["refresh_token"]
    assert me(api, retried["access_token"])[0] == 200
    assert refresh(api, retried["refresh_token"])[0] == 200  # one chain, still alive


def test_with_the_grace_window_off_an_immediate_retry_ends_the_session(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(REFRESH_REUSE_GRACE_SECONDS="0")
    first = sign_in(api, clock=clock)
    status, second = refresh(api, first["refresh_token"])
    assert status == 200
    assert code(refresh(api, first["refresh_token"])[1]) == "REFRESH_TOKEN_REUSED"
    assert code(me(api, second["access_token"])[1]) == "TOKEN_REVOKED"


def test_a_token_two_generations_old_is_reuse_even_inside_the_window(api: Api, clock: FakeClock) -> None:
    first = sign_in(api, clock=clock)
    second = refresh(api, first["refresh_token"])[1]
    refresh(api, second["refresh_token"])
    assert code(refresh(api, first["refresh_token"])[1]) == "REFRESH_TOKEN_REUSED"


def test_twenty_concurrent_refreshes_with_one_token_leave_one_live_successor(api: Api, clock: FakeClock) -> None:
    first = sign_in(api, clock=clock)
    refresh(api, sign_in(api, clock=clock)["refresh_token"])  # warm every handler and cache first
    barrier = threading.Barrier(THREADS)

    def attempt(_: int) -> tuple[int, dict[str, Any]]:
        barrier.wait()
        return refresh(api, first["refresh_token"])

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(attempt, range(THREADS)))

    assert Counter(status for status, _ in answers) == {200: THREADS}
    successors = {body["refresh_token"] for _, body in answers}
    assert len(successors) == 1  # never two live branches
    (successor,) = successors
    clock.advance(11)
    assert refresh(api, successor)[0] == 200
    assert code(refresh(api, first["refresh_token"])[1]) == "REFRESH_TOKEN_REUSED"


def test_twenty_concurrent_refreshes_without_grace_end_the_session_once(
    api: Api, clock: FakeClock, env: SetEnv
) -> None:
    env(REFRESH_REUSE_GRACE_SECONDS="0")
    first = sign_in(api, clock=clock)
    barrier = threading.Barrier(THREADS)

    def attempt(_: int) -> tuple[int, dict[str, Any]]:
        barrier.wait()
        return refresh(api, first["refresh_token"])

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(attempt, range(THREADS)))

    statuses = Counter(status if status == 200 else code(body) for status, body in answers)
    # At most one wins; the first loser to notice ends the session, later ones find it gone.
    assert statuses[200] <= 1 and statuses["REFRESH_TOKEN_REUSED"] >= 1, statuses
    assert set(statuses) <= {200, "REFRESH_TOKEN_REUSED", "REFRESH_TOKEN_INVALID"}, statuses
    assert first["session_id"] not in existing_user(PHONE).sessions  # the alarm ended the session


# ------------------------------------------------------------------ lifetimes
def test_a_session_idle_past_the_refresh_lifetime_is_expired(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(REFRESH_TOKEN_TTL_SECONDS="3600")
    first = sign_in(api, clock=clock)
    clock.advance(3000)
    status, second = refresh(api, first["refresh_token"])  # each refresh extends the idle lifetime
    assert status == 200
    clock.advance(3000)
    status, third = refresh(api, second["refresh_token"])
    assert status == 200
    clock.advance(3601)

    status, answer = refresh(api, third["refresh_token"])

    assert (status, code(answer)) == (401, "REFRESH_TOKEN_EXPIRED")


def test_a_session_ends_at_its_absolute_age_however_often_it_is_refreshed(
    api: Api, clock: FakeClock, env: SetEnv
) -> None:
    env(SESSION_MAX_AGE_SECONDS="7200", REFRESH_TOKEN_TTL_SECONDS="3600")
    token = sign_in(api, clock=clock)["refresh_token"]
    for _ in range(3):
        clock.advance(2000)
        status, body = refresh(api, token)
        assert status == 200
        token = body["refresh_token"]
    clock.advance(1300)  # 7300 s after the sign-in

    status, answer = refresh(api, token)

    assert (status, code(answer)) == (401, "REFRESH_TOKEN_EXPIRED")


def test_access_tokens_expire_after_fifteen_minutes_by_default(api: Api, clock: FakeClock) -> None:
    first = sign_in(api, clock=clock)
    clock.advance(900 + 10)
    assert code(me(api, first["access_token"])[1]) == "TOKEN_EXPIRED"
    status, second = refresh(api, first["refresh_token"])
    assert status == 200 and me(api, second["access_token"])[0] == 200


# ------------------------------------------------------------------ bad refresh tokens
@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b",
        "a.b.c.d",
        "!!!.abc.def",
        base64.urlsafe_b64encode(b"not a phone").decode() + ".abc.def",
        base64.urlsafe_b64encode(b"+66812345678").decode().rstrip("=") + ".not-hex!.secret",
        "x" * 511,
    ],
)
def test_malformed_refresh_tokens_are_401_not_errors(api: Api, clock: FakeClock, token: str) -> None:
    status, answer = refresh(api, token)
    assert (status, code(answer)) == (401, "REFRESH_TOKEN_INVALID")


def test_a_secret_never_issued_is_invalid_and_leaves_the_session_alone(api: Api, clock: FakeClock) -> None:
    """<base64url(phone)>.<session id> is readable from any access token of the victim: a secret
    we never issued for the session is no reuse, so it must not end the victim's session."""
    body = sign_in(api, clock=clock)
    locator, session_id, secret = body["refresh_token"].split(".")
    for forged in (f"{secret[:-2]}AA", "A" * 43, "0" * 64):
        assert code(refresh(api, f"{locator}.{session_id}.{forged}")[1]) == "REFRESH_TOKEN_INVALID"
    assert me(api, body["access_token"])[0] == 200
    assert refresh(api, body["refresh_token"])[0] == 200  # the real chain goes on


def test_a_spent_secret_many_refreshes_old_is_still_reuse(api: Api, clock: FakeClock) -> None:
    first = sign_in(api, clock=clock)
    current = first
    for _ in range(25):
        clock.advance(60)
        current = refresh(api, current["refresh_token"])[1]
    clock.advance(60)
    assert code(refresh(api, first["refresh_token"])[1]) == "REFRESH_TOKEN_REUSED"
    assert code(me(api, current["access_token"])[1]) == "TOKEN_REVOKED"


def test_a_refresh_token_from_another_market_is_refused(api: Api, clock: FakeClock, env: SetEnv) -> None:
    body = sign_in(api, clock=clock)
    env(MARKET="us")  # the same table and key, but another market's stack: the hash differs
    status, answer = refresh(api, body["refresh_token"])
    assert status == 401 and code(answer) in ("REFRESH_TOKEN_INVALID", "REFRESH_TOKEN_REUSED")


def test_a_refresh_token_for_an_unknown_phone_or_session_is_invalid(api: Api, clock: FakeClock) -> None:
    body = sign_in(api, clock=clock)
    _, session_id, secret = body["refresh_token"].split(".")
    other = base64.urlsafe_b64encode(OTHER.encode()).decode().rstrip("=")
    assert code(refresh(api, f"{other}.{session_id}.{secret}")[1]) == "REFRESH_TOKEN_INVALID"
    locator = body["refresh_token"].split(".")[0]
    assert code(refresh(api, f"{locator}.{'0' * 32}.{secret}")[1]) == "REFRESH_TOKEN_INVALID"


# ------------------------------------------------------------------ the session list
def test_the_session_list_shows_each_device_and_marks_the_current_one(api: Api, clock: FakeClock) -> None:
    phone_app = sign_in(api, clock=clock, headers={"User-Agent": "PhoneApp/2.1 (iPhone)"}, source_ip="203.0.113.77")
    laptop = sign_in(
        api, clock=clock, headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}, source_ip="2001:db8:1:2::5"
    )
    clock.advance(30)
    api.call(  # from the phone again: now the most recently used
        "refresh",
        {"refresh_token": phone_app["refresh_token"]},
        headers={"User-Agent": "PhoneApp/2.1 (iPhone)"},
        source_ip="203.0.113.77",
    )

    status, body, _ = api.call("list_sessions", token=laptop["access_token"])

    assert status == 200 and set(body) == response_keys("list_sessions")
    sessions = body["sessions"]
    assert [s["id"] for s in sessions] == [phone_app["session_id"], laptop["session_id"]]
    assert [s["current"] for s in sessions] == [False, True]
    assert [s["ip"] for s in sessions] == ["203.0.113.0/24", "2001:db8:1::/48"]
    assert [s["user_agent"] for s in sessions] == ["PhoneApp/2.1 (iPhone)", "Mozilla/5.0 (X11; Linux x86_64)"]
    assert {s["method"] for s in sessions} == {"sms_code"}
    assert sessions[0]["last_used_at"] > sessions[0]["created_at"]


def test_the_session_list_shows_where_and_from_what_a_session_was_last_used(api: Api, clock: FakeClock) -> None:
    """A refresh from another network and user agent (a stolen refresh token, say) shows in the list."""
    body = sign_in(api, clock=clock, headers={"User-Agent": "PhoneApp/2.1 (iPhone)"}, source_ip="203.0.113.77")
    clock.advance(30)
    _, refreshed, _ = api.call(
        "refresh",
        {"refresh_token": body["refresh_token"]},
        headers={"User-Agent": "curl/8.5"},
        source_ip="192.0.2.44",
    )
    (session,) = api.call("list_sessions", token=refreshed["access_token"])[1]["sessions"]
    assert (session["ip"], session["user_agent"]) == ("192.0.2.0/24", "curl/8.5")


# ------------------------------------------------------------------ ending one session
def test_ending_a_session_revokes_its_tokens_at_once_and_spares_the_others(api: Api, clock: FakeClock) -> None:
    lost_phone = sign_in(api, clock=clock)
    laptop = sign_in(api, clock=clock)

    status, body, _ = api.call(
        "end_session", token=laptop["access_token"], path_parameters={"id": lost_phone["session_id"]}
    )

    assert (status, body["success"]) == (200, True)
    assert code(me(api, lost_phone["access_token"])[1]) == "TOKEN_REVOKED"
    assert code(refresh(api, lost_phone["refresh_token"])[1]) == "REFRESH_TOKEN_INVALID"
    assert me(api, laptop["access_token"])[0] == 200
    assert existing_user(PHONE).is_active is True


def test_ending_an_unknown_or_someone_elses_session_is_404(api: Api, clock: FakeClock) -> None:
    mine = sign_in(api, clock=clock)
    theirs = sign_in(api, OTHER, clock=clock)
    for session_id in ("0" * 32, theirs["session_id"]):
        status, body, _ = api.call("end_session", token=mine["access_token"], path_parameters={"id": session_id})
        assert (status, code(body)) == (404, "SESSION_NOT_FOUND")
    assert me(api, theirs["access_token"])[0] == 200


def test_twenty_concurrent_ends_of_one_session_succeed_once(api: Api, clock: FakeClock) -> None:
    target = sign_in(api, clock=clock)
    caller = sign_in(api, clock=clock)
    barrier = threading.Barrier(THREADS)

    def attempt(_: int) -> int:
        barrier.wait()
        path = {"id": target["session_id"]}
        return api.call("end_session", token=caller["access_token"], path_parameters=path)[0]

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = Counter(pool.map(attempt, range(THREADS)))

    assert statuses == {200: 1, 404: THREADS - 1}


# ------------------------------------------------------------------ the cap
def test_past_the_cap_a_new_sign_in_ends_the_least_recently_used_session(
    api: Api, clock: FakeClock, env: SetEnv
) -> None:
    env(MAX_SESSIONS_PER_USER="3")
    oldest, middle, recent = (sign_in(api, clock=clock) for _ in range(3))
    clock.advance(10)
    refresh(api, oldest["refresh_token"])  # now "middle" is the least recently used

    newest = sign_in(api, clock=clock)

    live = existing_user(PHONE).live_sessions(clock())
    assert {s.id for s in live} == {oldest["session_id"], recent["session_id"], newest["session_id"]}
    assert code(me(api, middle["access_token"])[1]) == "TOKEN_REVOKED"
    assert code(refresh(api, middle["refresh_token"])[1]) == "REFRESH_TOKEN_INVALID"


def test_the_cap_holds_for_password_sign_ins_too(api: Api, clock: FakeClock, env: SetEnv) -> None:
    import bcrypt

    from tests.helpers import put_user

    env(MAX_SESSIONS_PER_USER="2")
    put_user(OTHER, password_hash=bcrypt.hashpw(b"Suan-Luang-2468", bcrypt.gensalt(10)).decode())
    answers = []
    for _ in range(4):
        clock.advance(1)
        answers.append(api.call("login_mobile", {"phone": OTHER, "password": "Suan-Luang-2468"})[1])
    live = existing_user(OTHER).live_sessions(clock())
    assert {s.id for s in live} == {answers[2]["session_id"], answers[3]["session_id"]}


def test_twenty_concurrent_sign_ins_leave_exactly_the_cap(api: Api, clock: FakeClock, env: SetEnv) -> None:
    import bcrypt

    from tests.helpers import put_user

    env(MAX_SESSIONS_PER_USER="10")
    put_user(OTHER, password_hash=bcrypt.hashpw(b"Suan-Luang-2468", bcrypt.gensalt(10)).decode())
    barrier = threading.Barrier(THREADS)

    def attempt(_: int) -> int:
        barrier.wait()
        return api.call("login_mobile", {"phone": OTHER, "password": "Suan-Luang-2468"})[0]

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = Counter(pool.map(attempt, range(THREADS)))
    assert statuses == {200: THREADS}
    assert len(existing_user(OTHER).live_sessions(clock())) == 10


# ------------------------------------------------------------------ logout scopes
def test_logout_by_default_ends_every_session(api: Api, clock: FakeClock) -> None:
    devices = [sign_in(api, clock=clock) for _ in range(3)]

    status, _, _ = api.call("logout", token=devices[0]["access_token"])

    assert status == 200
    for device in devices:
        assert code(me(api, device["access_token"])[1]) == "TOKEN_REVOKED"
        assert code(refresh(api, device["refresh_token"])[1]) == "REFRESH_TOKEN_INVALID"
    user = existing_user(PHONE)
    assert user.is_active is False and user.sessions == {}


def test_logout_of_the_current_session_keeps_the_others_and_the_user_active(api: Api, clock: FakeClock) -> None:
    here, there = sign_in(api, clock=clock), sign_in(api, clock=clock)

    status, body, _ = api.call("logout", {"scope": "current"}, token=here["access_token"])

    assert status == 200 and body["success"] is True
    assert code(me(api, here["access_token"])[1]) == "TOKEN_REVOKED"
    assert me(api, there["access_token"])[0] == 200
    assert existing_user(PHONE).is_active is True
    assert api.call("logout", {"scope": "current"}, token=there["access_token"])[0] == 200
    assert existing_user(PHONE).is_active is False  # no session left


def test_an_unknown_logout_scope_is_a_validation_error(api: Api, clock: FakeClock) -> None:
    body = sign_in(api, clock=clock)
    status, answer, _ = api.call("logout", {"scope": "galaxy"}, token=body["access_token"])
    assert (status, code(answer)) == (400, "VALIDATION_ERROR")
    assert me(api, body["access_token"])[0] == 200


def test_a_password_reset_ends_every_session(api: Api, clock: FakeClock) -> None:
    import bcrypt

    from tests.helpers import put_user

    put_user(OTHER, password_hash=bcrypt.hashpw(b"Suan-Luang-2468", bcrypt.gensalt(10)).decode())
    signed_in = api.call("login_mobile", {"phone": OTHER, "password": "Suan-Luang-2468"})[1]
    sms = sign_in(api, OTHER, clock=clock)
    clock.advance(61)
    assert api.call("request_password_reset_otp", {"phone": OTHER})[0] == 200
    reset = {"phone": OTHER, "code": last_code(OTHER), "new_password": "durian season 2026"}

    assert api.call("reset_password", reset)[0] == 200

    for device in (signed_in, sms):
        assert code(me(api, device["access_token"])[1]) == "TOKEN_REVOKED"
        assert code(refresh(api, device["refresh_token"])[1]) == "REFRESH_TOKEN_INVALID"
    assert existing_user(OTHER).sessions == {}
