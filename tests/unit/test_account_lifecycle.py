"""The account's own life: a recent sign-in (auth_time), deleting the account, moving it to another number.

Every handler is called the way API Gateway calls it (the authorizer first), on moto, with the fake
clock. Races are in test_concurrency.py; the events these changes publish in test_lifecycle_events.py.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
import jwt
import pytest

from phone_auth.callers import Caller
from phone_auth.messages import MESSAGES
from tests.helpers import (
    PASSWORDLESS_CLIENT_SIGN_IN_FIELDS,
    PHONE,
    Api,
    FakeClock,
    SetEnv,
    existing_user,
    last_code,
    load_event,
    password_hash,
    put_user,
    response_keys,
    sign_in,
    sms_outbox,
    stored_user,
    user_keys,
    wrong_code,
)

NEW = "+66898765432"
PASSWORD = "Suan-Luang-2468"


# ------------------------------------------------------------------ helpers
EN = {"Accept-Language": "en"}  # the sample events ask for Thai


def change_code(api: Api, token: str, new_phone: str = NEW) -> str:
    status, body, _ = api.call("request_phone_change", {"new_phone": new_phone}, token=token, headers=EN)
    assert status == 200, body
    return last_code(new_phone)


def error_code(answer: tuple[int, dict[str, Any], dict[str, str]]) -> tuple[int, str]:
    status, body, _ = answer
    return status, body["error"]["code"]


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def scan(table_variable: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = boto3.client("dynamodb").scan(
        TableName=os.environ[table_variable], ConsistentRead=True
    )["Items"]
    return items


def items_naming(phone: str) -> dict[str, list[dict[str, Any]]]:
    """Every item of every table that holds ``phone`` anywhere (a key, a value, an id), by table."""
    digits = phone.lstrip("+")
    return {
        variable: [item for item in scan(variable) if digits in str(item)]
        for variable in ("USERS_TABLE_NAME", "OTP_TABLE_NAME", "LIMITS_TABLE_NAME")
    }


RATE_LIMIT_ITEMS = (
    "sms_per_phone_per_hour#",
    "sms_per_phone_per_day#",
    "sms_per_prefix_per_hour#",
    "otp_lock#",
    "otp_failures_per_phone#",
    "password_lock#",
    "password_failures_per_phone#",
)


# ------------------------------------------------------------------ a recent sign-in
def test_an_access_token_carries_its_sessions_sign_in_time_and_a_refresh_keeps_it(api: Api, clock: FakeClock) -> None:
    signed_in_at = int(clock.value)
    first = sign_in(api)
    assert claims(first["access_token"])["auth_time"] == signed_in_at
    clock.advance(200)
    refreshed = api.call("refresh", {"refresh_token": first["refresh_token"]})[1]
    assert claims(refreshed["access_token"])["iat"] == signed_in_at + 200
    assert claims(refreshed["access_token"])["auth_time"] == signed_in_at  # a refresh is no sign-in
    status, _, context = api.authorize({"headers": {"Authorization": f"Bearer {refreshed['access_token']}"}})
    assert status == 200 and context["auth_time"] == str(signed_in_at)


@pytest.mark.parametrize(
    ("function_dir", "body"),
    [
        ("delete_account", None),
        ("request_phone_change", {"new_phone": NEW}),
        ("verify_phone_change", {"new_phone": NEW, "code": "123456"}),
    ],
)
def test_deleting_and_changing_the_number_need_a_sign_in_within_the_window(
    api: Api, clock: FakeClock, function_dir: str, body: dict[str, str] | None
) -> None:
    first = sign_in(api)
    clock.advance(301)
    token = api.call("refresh", {"refresh_token": first["refresh_token"]})[1]["access_token"]
    answer = api.call(function_dir, body, token=token, headers={"Accept-Language": "th"})
    assert error_code(answer) == (403, "REAUTHENTICATION_REQUIRED")
    assert answer[1]["error"]["message"] == MESSAGES["REAUTHENTICATION_REQUIRED"]["th"]
    assert existing_user(PHONE).id == first["user"]["id"]  # nothing done
    assert [to for to, _ in sms_outbox()] == [PHONE]  # no code to the new number either

    again = sign_in(api)  # signing in again (a new session) is recent
    status, answer_body, _ = api.call(function_dir, body, token=again["access_token"])
    assert (status, answer_body.get("error", {}).get("code")) != (403, "REAUTHENTICATION_REQUIRED")


def test_the_window_is_reauth_max_age_seconds_and_its_last_second_counts(
    api: Api, clock: FakeClock, env: SetEnv
) -> None:
    env(REAUTH_MAX_AGE_SECONDS="60")
    token = sign_in(api)["access_token"]
    clock.advance(61)
    assert error_code(api.call("request_phone_change", {"new_phone": NEW}, token=token)) == (
        403,
        "REAUTHENTICATION_REQUIRED",
    )
    clock.advance(-1)
    assert api.call("request_phone_change", {"new_phone": NEW}, token=token)[0] == 200


def test_a_caller_without_a_sign_in_time_has_not_signed_in_recently() -> None:
    context = {"phone": PHONE, "user_id": "u", "session_epoch": "0", "session_id": "s", "token_id": "t"}
    caller = Caller.from_authorizer(context)  # an authorizer answer cached from before the claim
    assert caller.auth_time == 0 and not caller.signed_in_within(3600, 1_800_000_000)
    assert Caller.from_authorizer({**context, "auth_time": "1799999990"}).signed_in_within(60, 1_800_000_000)


# ------------------------------------------------------------------ deleting the account
def test_delete_erases_the_account_and_every_token_of_it_is_refused_at_once(api: Api, clock: FakeClock) -> None:
    neighbour = sign_in(api, "+66811111111")
    here = sign_in(api)
    clock.advance(61)
    other = sign_in(api, headers={"User-Agent": "a phone"})
    clock.advance(61)
    # The phone's items in the codes table: a live login code, a registration code and the
    # registration token it led to, a reset code.
    api.call("send_verification", {"phone": PHONE})
    assert api.call("request_registration_otp", {"phone": PHONE})[0] == 200
    assert api.call("verify_registration_otp", {"phone": PHONE, "code": last_code(PHONE)})[0] == 200
    assert api.call("request_password_reset_otp", {"phone": PHONE})[0] == 200
    purposes = {item["purpose"]["S"] for item in items_naming(PHONE)["OTP_TABLE_NAME"]}
    assert purposes == {"login", "registration", "registration_token", "password_reset"}

    status, body, _ = api.call("delete_account", token=other["access_token"], headers=EN)

    assert (status, body) == (200, {"success": True, "message": MESSAGES["ACCOUNT_DELETED"]["en"]})
    assert stored_user(PHONE) is None
    for token in (here["access_token"], other["access_token"]):
        assert error_code(api.call("me", token=token)) == (401, "TOKEN_REVOKED")
    for refresh_token in (here["refresh_token"], other["refresh_token"]):
        assert error_code(api.call("refresh", {"refresh_token": refresh_token})) == (401, "REFRESH_TOKEN_INVALID")
    left = items_naming(PHONE)
    assert left["USERS_TABLE_NAME"] == [] and left["OTP_TABLE_NAME"] == []
    assert left["LIMITS_TABLE_NAME"], "the rate-limit items stay"
    assert all(item["id"]["S"].startswith(RATE_LIMIT_ITEMS) for item in left["LIMITS_TABLE_NAME"])
    (marker,) = [item for item in scan("LIMITS_TABLE_NAME") if item["id"]["S"].startswith("erased#")]
    assert marker["id"]["S"] == f"erased#{here['user']['id']}"
    assert set(marker) == {"id", "session_epoch", "erased_at", "expires_at"}  # no phone
    assert int(marker["expires_at"]["N"]) == int(clock.value) + 3 * 86400
    assert existing_user("+66811111111").id == neighbour["user"]["id"]  # another account is untouched
    assert api.call("me", token=neighbour["access_token"])[0] == 200


def test_a_deleted_phone_signs_up_again_as_a_new_user(api: Api, clock: FakeClock) -> None:
    first = sign_in(api)
    assert api.call("delete_account", token=first["access_token"])[0] == 200
    clock.advance(61)
    again = sign_in(api)
    assert again["is_new_user"] is True
    assert again["user"]["id"] != first["user"]["id"]
    assert error_code(api.call("me", token=first["access_token"])) == (401, "TOKEN_REVOKED")


def test_in_imported_mode_a_deleted_phone_cannot_register_until_the_back_office_imports_it_again(
    api: Api, clock: FakeClock, env: SetEnv
) -> None:
    env(SIGNUP_MODE="imported")
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    token = api.call("login_mobile", {"phone": PHONE, "password": PASSWORD})[1]["access_token"]

    status, body, _ = api.call("delete_account", token=token, headers={"Accept-Language": "th"})

    assert (status, body["message"]) == (200, MESSAGES["ACCOUNT_DELETED_IMPORTED"]["th"])
    assert "back office" in MESSAGES["ACCOUNT_DELETED_IMPORTED"]["en"]
    assert api.call("check_mobile", {"phone": PHONE})[1]["can_register"] is False
    assert error_code(api.call("request_registration_otp", {"phone": PHONE})) == (403, "PHONE_NOT_ALLOWED")
    assert error_code(api.call("login_mobile", {"phone": PHONE, "password": PASSWORD})) == (
        401,
        "INVALID_CREDENTIALS",
    )
    put_user(PHONE)  # imported again
    assert api.call("check_mobile", {"phone": PHONE})[1]["can_register"] is True


def test_deleting_an_account_keeps_its_locks(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(OTP_FAILURES_PER_PHONE="1")
    token = sign_in(api)["access_token"]
    clock.advance(61)
    api.call("send_verification", {"phone": PHONE})
    assert error_code(api.call("verify_code", {"phone": PHONE, "verification_code": wrong_code(last_code(PHONE))})) == (
        429,
        "PHONE_LOCKED",
    )
    assert api.call("delete_account", token=token)[0] == 200
    assert error_code(api.call("send_verification", {"phone": PHONE})) == (429, "PHONE_LOCKED")


def test_a_second_delete_with_the_same_token_is_refused_like_a_revoked_token(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    assert api.call("delete_account", token=token)[0] == 200
    assert error_code(api.call("delete_account", token=token)) == (401, "TOKEN_REVOKED")


def test_a_delete_after_a_logout_everywhere_is_refused_and_erases_nothing(api: Api, clock: FakeClock) -> None:
    """The flow itself (past the authorizer) refuses a token whose epoch moved on."""
    from phone_auth.errors import TokenRevoked
    from phone_auth.flows.account import delete_account

    signed_in = sign_in(api)
    token = signed_in["access_token"]
    caller = Caller(
        phone=PHONE,
        user_id=signed_in["user"]["id"],
        session_epoch=0,
        session_id=signed_in["session_id"],
        token_id="t",
        auth_time=int(clock.value),
    )
    assert api.call("logout", token=token)[0] == 200
    with pytest.raises(TokenRevoked):
        delete_account(caller)
    assert existing_user(PHONE).id == signed_in["user"]["id"]


def test_the_back_office_erases_by_phone_and_id_through_the_same_operation(api: Api, clock: FakeClock) -> None:
    from phone_auth.errors import UserNotFound
    from phone_auth.flows.account import erase_user

    signed_in = sign_in(api)
    with pytest.raises(UserNotFound):
        erase_user(PHONE, "another-id")
    assert existing_user(PHONE)
    erase_user(PHONE, signed_in["user"]["id"])  # no token: the epoch is read first
    assert stored_user(PHONE) is None
    assert items_naming(PHONE)["OTP_TABLE_NAME"] == []
    with pytest.raises(UserNotFound):
        erase_user(PHONE, signed_in["user"]["id"])


# ------------------------------------------------------------------ changing the number
def test_a_number_change_moves_the_account_with_everything_it_holds(api: Api, clock: FakeClock) -> None:
    put_user(
        PHONE,
        password_hash=password_hash(PASSWORD),
        profile={"first_name": "Suda", "employee_id": "E1001"},
    )
    # An attribute this version does not know (a device credential, say) travels too.
    device = {"M": {"public_key": {"S": "pk-1"}, "created_at": {"S": "2026-01-02T00:00:00.000Z"}}}
    boto3.client("dynamodb").update_item(
        TableName=os.environ["USERS_TABLE_NAME"],
        Key={"phone": {"S": PHONE}},
        UpdateExpression="SET #d = :d",
        ExpressionAttributeNames={"#d": "device#d1"},
        ExpressionAttributeValues={":d": device},
    )
    other = api.call("login_mobile", {"phone": PHONE, "password": PASSWORD})[1]
    here = sign_in(api)
    before = existing_user(PHONE)
    code = change_code(api, here["access_token"])
    assert "move your account" in sms_outbox()[-1][1]

    change = {"new_phone": "089-876-5432", "code": code}
    status, body, _ = api.call("verify_phone_change", change, token=here["access_token"], headers=EN)

    assert status == 200, body
    assert set(body) == response_keys("verify_phone_change")
    assert set(body) >= PASSWORDLESS_CLIENT_SIGN_IN_FIELDS
    assert set(body["user"]) == user_keys()
    assert body["is_new_user"] is False
    user = body["user"]
    assert (user["id"], user["phone"], user["created_at"]) == (before.id, NEW, before.created_at)
    assert user["has_password"] is True and user["profile"] == {"first_name": "Suda", "employee_id": "E1001"}
    assert stored_user(PHONE) is None  # the old number is free
    moved = existing_user(NEW)
    assert (moved.password_hash, moved.first_login_id) == (before.password_hash, before.first_login_id)
    assert moved.session_epoch == before.session_epoch + 1
    assert list(moved.sessions) == [body["session_id"]] and moved.sessions[body["session_id"]].method == "phone_change"
    raw = boto3.client("dynamodb").get_item(TableName=os.environ["USERS_TABLE_NAME"], Key={"phone": {"S": NEW}})
    assert raw["Item"]["device#d1"] == device
    assert raw["Item"]["previous_phone"] == {"S": PHONE}
    # Every other session ended, this device's earlier token too; the new one works.
    for token in (here["access_token"], other["access_token"]):
        assert error_code(api.call("me", token=token)) == (401, "TOKEN_REVOKED")
    for refresh_token in (here["refresh_token"], other["refresh_token"]):
        assert api.call("refresh", {"refresh_token": refresh_token})[0] == 401
    me = api.call("me", token=body["access_token"])[1]
    assert me["user"]["phone"] == NEW
    assert claims(body["access_token"])["auth_time"] == int(clock.value)
    refreshed = api.call("refresh", {"refresh_token": body["refresh_token"]})[1]
    assert refreshed["user"]["phone"] == NEW
    # The password goes with the account; the old number signs in no more.
    assert api.call("login_mobile", {"phone": NEW, "password": PASSWORD})[0] == 200
    assert error_code(api.call("login_mobile", {"phone": PHONE, "password": PASSWORD})) == (
        401,
        "INVALID_CREDENTIALS",
    )
    # The old number was told, without a code.
    to_old = [text for to, text in sms_outbox() if to == PHONE]
    assert to_old[-1] == MESSAGES["SMS_PHONE_CHANGED"]["en"]


def test_the_old_numbers_notice_is_in_the_requests_language(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    code = change_code(api, token)
    answer = api.call(
        "verify_phone_change", {"new_phone": NEW, "code": code}, token=token, headers={"Accept-Language": "th"}
    )
    assert answer[0] == 200
    assert sms_outbox()[-1] == (PHONE, MESSAGES["SMS_PHONE_CHANGED"]["th"])


def test_a_notice_that_cannot_be_sent_is_counted_and_the_change_stands(
    api: Api, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth.errors import ServiceUnavailable
    from phone_auth.flows import account
    from phone_auth.observability import metrics

    token = sign_in(api)["access_token"]
    code = change_code(api, token)

    class BrokenSender:
        def send(self, to: str, body: str) -> None:
            raise ServiceUnavailable(details={"dependency": "sms"})

    monkeypatch.setattr(account, "get_sender", lambda: BrokenSender())
    written: list[str] = []
    monkeypatch.setattr(metrics, "write", written.append)

    status, body, _ = api.call("verify_phone_change", {"new_phone": NEW, "code": code}, token=token)

    assert status == 200 and body["user"]["phone"] == NEW
    assert any('"NoticeFailures":1' in line for line in written)
    assert api.call("me", token=body["access_token"])[0] == 200


@pytest.mark.parametrize("function_dir", ["request_phone_change", "verify_phone_change"])
def test_the_accounts_own_number_is_refused(api: Api, clock: FakeClock, function_dir: str) -> None:
    token = sign_in(api)["access_token"]
    body = {"new_phone": "081-234-5678", "code": "123456"}
    assert error_code(api.call(function_dir, body, token=token)) == (400, "PHONE_UNCHANGED")


def test_a_number_with_an_account_is_refused_in_the_sends_transaction_and_costs_a_lookup(
    api: Api, clock: FakeClock, env: SetEnv
) -> None:
    env(LOOKUPS_PER_IP_PER_HOUR="2")
    put_user(NEW)
    token = sign_in(api)["access_token"]
    sent_before = len(sms_outbox())
    assert error_code(api.call("request_phone_change", {"new_phone": NEW}, token=token)) == (409, "PHONE_IN_USE")
    assert error_code(api.call("request_phone_change", {"new_phone": NEW}, token=token)) == (409, "PHONE_IN_USE")
    status, body, _ = api.call("request_phone_change", {"new_phone": NEW}, token=token)
    assert (status, body["error"]["code"], body["error"]["details"]["limit"]) == (
        429,
        "RATE_LIMITED",
        "lookups_per_ip_per_hour",
    )
    assert len(sms_outbox()) == sent_before
    assert [item["purpose"]["S"] for item in items_naming(NEW)["OTP_TABLE_NAME"]] == []


def test_the_new_number_gets_the_country_allowlist_and_every_sending_limit(
    api: Api, clock: FakeClock, env: SetEnv
) -> None:
    env(SMS_PER_PHONE_PER_HOUR="2")
    token = sign_in(api)["access_token"]
    assert error_code(api.call("request_phone_change", {"new_phone": "+61412345678"}, token=token)) == (
        400,
        "COUNTRY_NOT_ALLOWED",
    )
    assert api.call("request_phone_change", {"new_phone": NEW}, token=token)[0] == 200
    status, body, _ = api.call("request_phone_change", {"new_phone": NEW}, token=token)
    assert (status, body["error"]["details"]["limit"]) == (429, "otp_resend_seconds")
    clock.advance(61)
    assert api.call("request_phone_change", {"new_phone": NEW}, token=token)[0] == 200
    clock.advance(61)
    status, body, _ = api.call("request_phone_change", {"new_phone": NEW}, token=token)
    assert (status, body["error"]["details"]["limit"]) == (429, "sms_per_phone_per_hour")
    assert [to for to, _ in sms_outbox()].count(NEW) == 2


def test_a_locked_new_number_gets_no_code(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(OTP_FAILURES_PER_PHONE="1")
    api.call("send_verification", {"phone": NEW})
    guess = {"phone": NEW, "verification_code": wrong_code(last_code(NEW))}
    assert error_code(api.call("verify_code", guess)) == (429, "PHONE_LOCKED")
    token = sign_in(api)["access_token"]
    assert error_code(api.call("request_phone_change", {"new_phone": NEW}, token=token)) == (429, "PHONE_LOCKED")


def test_a_number_change_code_works_for_nothing_else_and_no_other_code_works_for_it(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    code = change_code(api, token)
    # Not as a login code of the new number (none was sent)...
    assert error_code(api.call("verify_code", {"phone": NEW, "verification_code": code})) == (400, "OTP_NOT_FOUND")
    # ...nor beside one.
    api.call("send_verification", {"phone": NEW})
    login_code = last_code(NEW)
    if login_code != code:
        assert error_code(api.call("verify_code", {"phone": NEW, "verification_code": code}))[1] == "OTP_INVALID"
        # A login code of the new number does not move an account to it.
        answer = api.call("verify_phone_change", {"new_phone": NEW, "code": login_code}, token=token)
        assert error_code(answer) == (400, "OTP_INVALID")
    # Another account's code for the same number is that account's only.
    clock.advance(61)
    other = sign_in(api, "+66811111111")["access_token"]
    others_code = change_code(api, other)
    if others_code != code:
        answer = api.call("verify_phone_change", {"new_phone": NEW, "code": others_code}, token=token)
        assert error_code(answer) == (400, "OTP_INVALID")
    assert api.call("verify_phone_change", {"new_phone": NEW, "code": others_code}, token=other)[0] == 200
    assert existing_user(NEW).phone == NEW and stored_user("+66811111111") is None
    assert error_code(api.call("verify_phone_change", {"new_phone": NEW, "code": code}, token=token)) == (
        409,
        "PHONE_IN_USE",
    )
    assert existing_user(PHONE)  # the loser stays where it was


def test_a_wrong_code_counts_and_the_code_dies_after_too_many(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    code = change_code(api, token)
    wrong = wrong_code(code)
    for remaining in (2, 1):
        status, body, _ = api.call("verify_phone_change", {"new_phone": NEW, "code": wrong}, token=token)
        assert (status, body["error"]["code"], body["error"]["details"]) == (
            400,
            "OTP_INVALID",
            {"attempts_remaining": remaining},
        )
    assert error_code(api.call("verify_phone_change", {"new_phone": NEW, "code": wrong}, token=token)) == (
        429,
        "OTP_ATTEMPTS_EXCEEDED",
    )
    assert error_code(api.call("verify_phone_change", {"new_phone": NEW, "code": code}, token=token)) == (
        429,
        "OTP_ATTEMPTS_EXCEEDED",
    )
    assert stored_user(NEW) is None


def test_a_number_taken_after_the_code_was_sent_is_refused_and_the_code_kept(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    code = change_code(api, token)
    put_user(NEW)
    assert error_code(api.call("verify_phone_change", {"new_phone": NEW, "code": code}, token=token)) == (
        409,
        "PHONE_IN_USE",
    )
    assert existing_user(PHONE) and existing_user(NEW).id != existing_user(PHONE).id
    (item,) = items_naming(NEW)["OTP_TABLE_NAME"]
    assert "used_at" not in item  # the cancelled transaction spent nothing
    boto3.client("dynamodb").delete_item(TableName=os.environ["USERS_TABLE_NAME"], Key={"phone": {"S": NEW}})
    assert api.call("verify_phone_change", {"new_phone": NEW, "code": code}, token=token)[0] == 200


def test_a_sign_in_between_the_read_and_the_move_is_read_again_and_its_session_ended(
    api: Api, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth.store import users

    here = sign_in(api)
    code = change_code(api, here["access_token"])
    clock.advance(61)
    api.call("send_verification", {"phone": PHONE})
    other_code = last_code(PHONE)
    real_read = users.get_stored_user
    raced: list[dict[str, Any]] = []

    def read_then_race(phone: str) -> Any:
        found = real_read(phone)
        if not raced:  # another device signs in right after the first read
            raced.append(api.call("verify_code", {"phone": PHONE, "verification_code": other_code})[1])
        return found

    monkeypatch.setattr(users, "get_stored_user", read_then_race)
    status, body, _ = api.call("verify_phone_change", {"new_phone": NEW, "code": code}, token=here["access_token"])

    assert status == 200, body
    assert list(existing_user(NEW).sessions) == [body["session_id"]]
    assert error_code(api.call("me", token=raced[0]["access_token"])) == (401, "TOKEN_REVOKED")


def test_the_sample_event_bodies_name_the_fields_of_the_models() -> None:
    import json

    assert set(json.loads(load_event("request_phone_change")["body"])) == {"new_phone"}
    assert set(json.loads(load_event("verify_phone_change")["body"])) == {"new_phone", "code"}
