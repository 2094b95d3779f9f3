"""Races: many real threads released together by a Barrier, against one phone.

moto serialises each DynamoDB request like DynamoDB does (conftest makes its writes
atomic), so whatever races remain here are races of our own read-then-write sequences.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from tests.helpers import Api, FakeClock, SetEnv, last_code, load_handler, sign_in, sms_outbox

PHONE = "+66812345678"
THREADS = 20


def together[T](work: Callable[[int], T], count: int = THREADS) -> list[T]:
    """Run work(0..count-1) on `count` threads that all start at the same moment."""
    barrier = threading.Barrier(count, timeout=30)

    def run(index: int) -> T:
        barrier.wait()
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def warm(*function_dirs: str) -> None:
    """Import the handlers and create the clients and keys before the threads start: a
    cold start is not what is under test, and twenty cold boto3 clients are slow."""
    from phone_auth import aws
    from phone_auth.keys import key_ring

    for function_dir in function_dirs:
        load_handler(function_dir)
    aws.dynamodb()
    aws.sns()
    key_ring()


def users() -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(os.environ["USERS_TABLE_NAME"])
    items: list[dict[str, Any]] = table.scan(ConsistentRead=True)["Items"]
    return items


def code_row(purpose: str = "login") -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(os.environ["OTP_TABLE_NAME"])
    item: dict[str, Any] = table.get_item(Key={"phone": PHONE, "purpose": purpose}, ConsistentRead=True)["Item"]
    return item


def outcome(answer: tuple[int, dict[str, Any], dict[str, str]]) -> tuple[int, str | None]:
    status, body, _ = answer
    return status, (body.get("error") or {}).get("code")


def test_a_code_used_by_twenty_requests_at_once_logs_in_exactly_once(api: Api, clock: FakeClock) -> None:
    warm("send_verification", "verify_code", "me", "authorizer")
    assert api.call("send_verification", {"phone": PHONE})[0] == 200
    code = last_code(PHONE)

    answers = together(lambda _: api.call("verify_code", {"phone": PHONE, "verification_code": code}))

    outcomes = Counter(outcome(a) for a in answers)
    assert outcomes[(200, None)] == 1, outcomes
    assert outcomes[(400, "OTP_NOT_FOUND")] == THREADS - 1, outcomes
    (winner,) = [body for status, body, _ in answers if status == 200]
    assert winner["is_new_user"] is True
    rows = users()
    assert len(rows) == 1
    assert rows[0]["id"] == winner["user"]["id"]
    assert api.call("me", token=winner["access_token"])[0] == 200


def test_twenty_first_logins_at_once_create_one_user_with_one_first_login(clock: FakeClock) -> None:
    from phone_auth import clock as clock_module
    from phone_auth.callers import ClientInfo
    from phone_auth.flows import sessions
    from phone_auth.store import users as user_store

    warm()
    proposed = [str(uuid.uuid4()) for _ in range(THREADS)]

    def first_login(index: int) -> dict[str, Any]:
        session, _ = sessions.new_session("sms_code", ClientInfo(source_ip="203.0.113.9", user_agent="test"))
        write = user_store.SignInWrite(
            PHONE,
            now_iso=clock_module.iso(clock_module.now()),
            create_user=True,
            verified=True,
            session=session,
            proposed_id=proposed[index],
        )
        sign_in = user_store.record_sign_in(write)
        assert sign_in.is_new_user == (sign_in.user.first_login_id == proposed[index])
        return {
            "id": sign_in.user.id,
            "first_login_id": sign_in.user.first_login_id,
            "created_at": sign_in.user.created_at,
        }

    items = together(first_login)

    rows = users()
    assert len(rows) == 1
    winners = [index for index, item in enumerate(items) if item["first_login_id"] == proposed[index]]
    assert len(winners) == 1
    (winner,) = winners
    assert {item["id"] for item in items} == {proposed[winner]}
    assert {item["first_login_id"] for item in items} == {proposed[winner]}
    assert {item["created_at"] for item in items} == {rows[0]["created_at"]}
    assert rows[0]["id"] == proposed[winner]
    assert int(rows[0]["session_epoch"]) == 0


def test_twenty_wrong_guesses_at_once_never_count_past_the_limit(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(OTP_MAX_ATTEMPTS="3")
    warm("send_verification", "verify_code")
    assert api.call("send_verification", {"phone": PHONE})[0] == 200
    code = last_code(PHONE)
    guesses = [f"{(int(code) + 1 + index) % 1_000_000:06d}" for index in range(THREADS)]

    answers = together(lambda index: api.call("verify_code", {"phone": PHONE, "verification_code": guesses[index]}))

    outcomes = Counter(outcome(a) for a in answers)
    assert set(outcomes) <= {(400, "OTP_INVALID"), (429, "OTP_ATTEMPTS_EXCEEDED")}, outcomes
    assert outcomes[(400, "OTP_INVALID")] <= 3, outcomes
    assert outcomes[(429, "OTP_ATTEMPTS_EXCEEDED")] >= THREADS - 3, outcomes
    assert int(code_row()["attempts"]) == 3
    # The code is dead, even the right one.
    assert outcome(api.call("verify_code", {"phone": PHONE, "verification_code": code})) == (
        429,
        "OTP_ATTEMPTS_EXCEEDED",
    )
    assert users() == []


def test_twenty_sends_at_once_text_exactly_one_code(api: Api, clock: FakeClock) -> None:
    warm("send_verification")

    answers = together(lambda _: api.call("send_verification", {"phone": PHONE}))

    outcomes = Counter(outcome(a) for a in answers)
    assert outcomes == {(200, None): 1, (429, "RATE_LIMITED"): THREADS - 1}, outcomes
    assert len(sms_outbox()) == 1
    for status, _, headers in answers:
        if status == 429:
            assert int(headers["Retry-After"]) >= 1
    # The one code sent is the one stored.
    assert api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[0] == 200


def test_twenty_logouts_at_once_with_one_token_end_the_session_once(api: Api, clock: FakeClock) -> None:
    warm("send_verification", "verify_code", "logout", "authorizer")
    api.call("send_verification", {"phone": PHONE})
    token = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]["access_token"]

    answers = together(lambda _: api.call("logout", token=token))

    outcomes = Counter(outcome(a) for a in answers)
    assert outcomes[(200, None)] >= 1, outcomes
    assert set(outcomes) <= {(200, None), (401, "TOKEN_REVOKED")}, outcomes
    (row,) = users()
    assert row["is_active"] is False
    # The conditional write bumps the epoch once, however many got past the authorizer.
    assert int(row["session_epoch"]) == 1


# ------------------------------------------------------------------ the account's own life
def scan_all() -> dict[str, list[dict[str, Any]]]:
    dynamodb = boto3.resource("dynamodb")
    return {
        variable: dynamodb.Table(os.environ[variable]).scan(ConsistentRead=True)["Items"]
        for variable in ("USERS_TABLE_NAME", "OTP_TABLE_NAME", "LIMITS_TABLE_NAME")
    }


def test_twenty_deletes_of_one_account_at_once_succeed_once(api: Api, clock: FakeClock) -> None:
    warm("send_verification", "verify_code", "delete_account", "authorizer")
    token = sign_in(api, PHONE)["access_token"]

    answers = together(lambda _: api.call("delete_account", token=token))

    outcomes = Counter(outcome(a) for a in answers)
    assert outcomes[(200, None)] == 1, outcomes
    assert outcomes[(401, "TOKEN_REVOKED")] == THREADS - 1, outcomes  # as a revoked token is answered
    tables = scan_all()
    assert tables["USERS_TABLE_NAME"] == [] and tables["OTP_TABLE_NAME"] == []
    assert len([item for item in tables["LIMITS_TABLE_NAME"] if item["id"].startswith("erased#")]) == 1


def test_a_delete_racing_sign_ins_leaves_a_deleted_account_or_a_live_one_never_half_of_one(
    api: Api, clock: FakeClock
) -> None:
    warm("send_verification", "verify_code", "delete_account", "me", "authorizer")
    for round_number in range(3):
        phone = f"+6681234{round_number:04d}"
        signed_in = sign_in(api, phone)
        clock.advance(61)
        assert api.call("send_verification", {"phone": phone})[0] == 200
        code = last_code(phone)

        def work(index: int, token: str = signed_in["access_token"], phone: str = phone, code: str = code) -> Any:
            if index % 2:
                return api.call("delete_account", token=token)
            return api.call("verify_code", {"phone": phone, "verification_code": code})

        answers = together(work)

        deletes = Counter(outcome(answer) for index, answer in enumerate(answers) if index % 2)
        sign_ins = [answer for index, answer in enumerate(answers) if not index % 2]
        assert set(deletes) <= {(200, None), (401, "TOKEN_REVOKED")} and deletes[(200, None)] <= 1, deletes
        assert sum(1 for status, _, _ in sign_ins if status == 200) <= 1
        tokens = [signed_in["access_token"], *(body["access_token"] for status, body, _ in sign_ins if status == 200)]
        tables = scan_all()
        found = [row for row in tables["USERS_TABLE_NAME"] if row["phone"] == phone]
        assert len(found) <= 1
        user = found[0] if found else None
        if user is None:  # deleted: nothing of the phone left but its rate-limit items, no token works
            assert deletes[(200, None)] == 1
            assert [row for row in tables["OTP_TABLE_NAME"] if row["phone"] == phone] == []
            for token in tokens:
                assert outcome(api.call("me", token=token)) == (401, "TOKEN_REVOKED")
        else:  # live: a whole user, and every token it answers for is one of its live sessions
            assert {"id", "created_at", "session_epoch"} <= set(user)
            if deletes[(200, None)]:  # the delete went through: only a sign-in after it, as a new user
                assert user["id"] != signed_in["user"]["id"]
                assert outcome(api.call("me", token=signed_in["access_token"])) == (401, "TOKEN_REVOKED")
            for token in tokens:
                status, body, _ = api.call("me", token=token)
                if status == 200:
                    assert body["user"]["id"] == user["id"]
        limits = [row for row in tables["LIMITS_TABLE_NAME"] if phone.lstrip("+") in str(row)]
        assert all(not row["id"].startswith("erased#") for row in limits)  # a marker never names the phone


def test_twenty_accounts_claiming_one_number_at_once_one_wins(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(SMS_PER_PHONE_PER_HOUR="0", SMS_PER_PHONE_PER_DAY="0", SMS_PER_IP_PER_HOUR="0", SMS_PER_PREFIX_PER_HOUR="0")
    warm("send_verification", "verify_code", "request_phone_change", "verify_phone_change", "me", "authorizer")
    new_phone = "+66898765432"
    claims: list[tuple[str, dict[str, Any], str]] = []
    for index in range(THREADS):
        phone = f"+668123450{index:02d}"
        signed_in = sign_in(api, phone)
        status, _, _ = api.call("request_phone_change", {"new_phone": new_phone}, token=signed_in["access_token"])
        assert status == 200
        claims.append((phone, signed_in, last_code(new_phone)))

    answers = together(
        lambda index: api.call(
            "verify_phone_change",
            {"new_phone": new_phone, "code": claims[index][2]},
            token=claims[index][1]["access_token"],
        )
    )

    outcomes = Counter(outcome(a) for a in answers)
    assert outcomes == {(200, None): 1, (409, "PHONE_IN_USE"): THREADS - 1}, outcomes
    (winner,) = [index for index, (status, _, _) in enumerate(answers) if status == 200]
    rows = {row["phone"]: row for row in users()}
    assert rows[new_phone]["id"] == claims[winner][1]["user"]["id"]
    assert claims[winner][0] not in rows
    for index, (phone, signed_in, _) in enumerate(claims):
        if index != winner:  # the losers stay where they were, signed in
            assert rows[phone]["id"] == signed_in["user"]["id"]
            assert api.call("me", token=signed_in["access_token"])[0] == 200
