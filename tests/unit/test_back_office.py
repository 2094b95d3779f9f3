"""The back office's admin API in process: the user routes, a disabled user on every sign-in
path, the audit trail, and the races of its check-then-writes on real threads.

Admin calls arrive as API Gateway passes an AWS_IAM request (events/admin_*.json: the signing
principal in ``requestContext.identity``); the signature itself is API Gateway's to check (the
local stack's tests sign with botocore).
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections import Counter
from typing import Any

import boto3
import pytest

from phone_auth.phones import mask_phone
from tests.helpers import (
    Api,
    FakeClock,
    SetEnv,
    existing_user,
    last_code,
    load_event,
    password_hash,
    password_login,
    put_user,
    send_code,
    sign_in,
    sms_outbox,
    stored_user,
    wrong_code,
)
from tests.helpers.lifecycle import LifecycleTap
from tests.unit.test_concurrency import outcome, together, warm
from tests.unit.test_lockout import ATTACKER, OWNER, burn_codes

PHONE = "+66812345678"
AT = {"phone": "%2B66812345678"}
PASSWORD = "Suan-Luang-2468"
PRINCIPAL = load_event("admin_get_user")["requestContext"]["identity"]["userArn"]


def admin(api: Api, function: str, body: Any = None, **request: Any) -> tuple[int, dict[str, Any]]:
    status, answer, _ = api.call(function, body, **request)
    return status, answer


def error_code(answer: tuple[int, dict[str, Any]]) -> tuple[int, str | None]:
    status, body = answer
    return status, (body.get("error") or {}).get("code")


def items_of_phone(phone: str) -> dict[str, list[dict[str, Any]]]:
    """Every item the tables hold for ``phone`` (by table variable), limits by the phone in their id."""
    dynamodb = boto3.resource("dynamodb")
    found: dict[str, list[dict[str, Any]]] = {}
    for variable in ("USERS_TABLE_NAME", "OTP_TABLE_NAME", "LIMITS_TABLE_NAME"):
        items = dynamodb.Table(os.environ[variable]).scan(ConsistentRead=True)["Items"]
        found[variable] = [item for item in items if phone in json.dumps(item, default=str)]
    return found


# ------------------------------------------------------------------ create, update, read
def test_put_creates_then_updates_then_changes_nothing_through_the_importers_checks(api: Api) -> None:
    body = {"profile": {"employee_id": "E-1042"}, "password": PASSWORD}
    status, created = admin(api, "admin_put_user", body, path_parameters={"phone": "081-234-5678"})
    assert (status, created["outcome"]) == (201, "created")
    assert created["user"]["phone"] == PHONE and created["user"]["has_password"] is True
    assert "password_hash" not in json.dumps(created)
    first_hash = existing_user(PHONE).password_hash

    status, updated = admin(
        api, "admin_put_user", {"profile": {"branch": "Hat Yai"}, "password": "x" * 12}, path_parameters=AT
    )
    assert (status, updated["outcome"]) == (200, "updated")
    assert updated["user"]["profile"] == {"employee_id": "E-1042", "branch": "Hat Yai"}
    assert existing_user(PHONE).password_hash == first_hash  # a password the user has is never replaced

    status, same = admin(api, "admin_put_user", {"profile": {"branch": "Hat Yai"}}, path_parameters=AT)
    assert (status, same["outcome"]) == (200, "unchanged")
    assert existing_user(PHONE).source == "import"


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [
        ({}, "12345", (400, "INVALID_PHONE")),
        ({}, "%2B6621234567", (400, "PHONE_NOT_MOBILE")),
        ({"password_hash": "not-bcrypt"}, AT["phone"], (400, "VALIDATION_ERROR")),
        ({"password": PASSWORD, "password_hash": password_hash(PASSWORD)}, AT["phone"], (400, "VALIDATION_ERROR")),
        ({"password": "short"}, AT["phone"], (400, "VALIDATION_ERROR")),
        ({"profile": {"mobile": "0812345678"}}, AT["phone"], (400, "VALIDATION_ERROR")),
        ({"profile": {"k" * 65: "v"}}, AT["phone"], (400, "VALIDATION_ERROR")),
        ({"profile": {"branch": 7}}, AT["phone"], (400, "VALIDATION_ERROR")),
    ],
)
def test_put_refuses_what_the_importer_refuses(
    api: Api, body: dict[str, Any], path: str, expected: tuple[int, str]
) -> None:
    answer = admin(api, "admin_put_user", body, path_parameters={"phone": path})
    assert error_code(answer) == expected
    assert stored_user(PHONE) is None
    assert "short" not in json.dumps(answer[1])  # a refusal never echoes a password


def test_get_shows_the_state_and_live_sessions_but_never_a_hash(api: Api, clock: FakeClock) -> None:
    assert error_code(admin(api, "admin_get_user", path_parameters=AT)) == (404, "USER_NOT_FOUND")
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    sign_in(api)
    status, body = admin(api, "admin_get_user", path_parameters={"phone": "0812345678"})
    assert status == 200
    user = body["user"]
    assert (user["phone"], user["disabled"], user["sessions"]) == (PHONE, False, 1)
    assert user["last_login"] and user["has_password"] is True
    assert "$2" not in json.dumps(body)


def test_pages_of_users_follow_a_sealed_cursor_and_refuse_a_forged_one(api: Api) -> None:
    phones = [f"+668123400{index:02d}" for index in range(5)]
    for phone in phones:
        put_user(phone)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        status, page = admin(api, "admin_list_users", query=query)
        assert status == 200 and len(page["users"]) <= 2
        seen += [user["phone"] for user in page["users"]]
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    assert sorted(seen) == sorted(phones)

    first = admin(api, "admin_list_users", query={"limit": "1"})[1]["next_cursor"]
    payload, mac = first.split(".")
    forged = json.dumps({"phone": "+66000000000"}).encode()
    other = base64.urlsafe_b64encode(forged).decode().rstrip("=")
    for cursor in (f"{other}.{mac}", f"{payload}.{mac[:-2]}xx", "garbage", f"{payload}."):
        assert error_code(admin(api, "admin_list_users", query={"cursor": cursor})) == (400, "INVALID_CURSOR")
    for limit in ("0", "101", "ten", "-1"):
        assert error_code(admin(api, "admin_list_users", query={"limit": limit})) == (400, "VALIDATION_ERROR")


# ------------------------------------------------------------------ disabled
def test_a_disabled_user_is_refused_everywhere_but_told_so_only_after_proof(
    api: Api, clock: FakeClock, env: SetEnv
) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    signed_in = sign_in(api)
    clock.advance(61)
    api.call("send_verification", {"phone": PHONE})
    code_before = last_code(PHONE)
    tap = LifecycleTap()

    assert admin(api, "admin_disable_user", path_parameters=AT)[0] == 200
    assert admin(api, "admin_disable_user", path_parameters=AT)[0] == 200  # idempotent
    # The token and the refresh token stop at once.
    assert api.call("me", token=signed_in["access_token"])[0] == 401
    assert api.call("refresh", {"refresh_token": signed_in["refresh_token"]})[0] == 401
    # The right password, then the right code: 403, in Thai too; anything else as for anyone.
    disabled = password_login(api, PHONE, PASSWORD, headers={"Accept-Language": "th"})
    assert (disabled[0], disabled[1]["error"]["code"]) == (403, "ACCOUNT_DISABLED")
    assert disabled[1]["error"]["message"] == "บัญชีนี้ถูกระงับการใช้งาน กรุณาติดต่อฝ่ายบริการ"
    assert outcome(password_login(api, PHONE, "wrong-password-1")) == (401, "INVALID_CREDENTIALS")
    assert outcome(api.call("verify_code", {"phone": PHONE, "verification_code": code_before})) == (
        403,
        "ACCOUNT_DISABLED",
    )
    # A send answers as usual and texts nothing; the reset and registration codes too.
    clock.advance(61)
    texts = len(sms_outbox())
    assert api.call("send_verification", {"phone": PHONE})[0] == 200
    assert api.call("request_password_reset_otp", {"phone": PHONE})[0] == 200
    assert len(sms_outbox()) == texts
    env(SIGNUP_MODE="imported")
    assert outcome(api.call("request_registration_otp", {"phone": PHONE})) == (409, "ALREADY_REGISTERED")
    assert len(sms_outbox()) == texts
    user = existing_user(PHONE)
    assert user.disabled and not user.sessions and not user.is_active
    ended = [event["detail"] for event in tap.publish() if event["detail-type"] == "SessionsEnded"]
    assert [detail["reason"] for detail in ended] == ["disabled"]

    env(SIGNUP_MODE="open")
    assert admin(api, "admin_enable_user", path_parameters=AT)[0] == 200
    assert admin(api, "admin_get_user", path_parameters=AT)[1]["user"]["disabled"] is False
    assert password_login(api, PHONE, PASSWORD)[0] == 200


def test_a_disabled_users_trusted_device_keeps_its_trust_and_locks_still_come_first(
    api: Api, clock: FakeClock, env: SetEnv
) -> None:
    """Device credentials and per-network locks work for a disabled user as for anyone. Its trusted
    device is refused by no lock another network caused: a send answers as usual (a decoy in the
    device's own item, no SMS), and the right code or password says ACCOUNT_DISABLED; a wrong one
    answers as for an enabled user. A locked network is refused by its lock, even with a right code."""
    env(SMS_PER_PHONE_PER_HOUR="0", SMS_PER_PHONE_PER_DAY="0", OTP_TTL_SECONDS="900")
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    token = api.call("login_mobile", {"phone": PHONE, "password": PASSWORD}, source_ip=OWNER)[1]["device_token"]
    assert outcome(send_code(api, PHONE, function="request_password_reset_otp", source_ip=ATTACKER)) == (200, None)
    reset_code = last_code(PHONE)
    assert burn_codes(api, clock, 10, ATTACKER)[-1] == (429, "PHONE_LOCKED")  # the attacker's network locks
    clock.advance(61)
    trusted = {"phone": PHONE, "device_token": token}
    assert api.call("send_verification", trusted, source_ip=ATTACKER)[0] == 200  # past that network's lock
    device_code = last_code(PHONE)
    assert admin(api, "admin_disable_user", path_parameters=AT)[0] == 200

    wrong = api.call("verify_code", {**trusted, "verification_code": wrong_code(device_code)}, source_ip=ATTACKER)
    assert (wrong[0], wrong[1]["error"]["code"], wrong[1]["error"]["details"]) == (
        400,
        "OTP_INVALID",
        {"attempts_remaining": 2},
    )
    right = api.call("verify_code", {**trusted, "verification_code": device_code}, source_ip=ATTACKER)
    assert outcome(right) == (403, "ACCOUNT_DISABLED")
    assert outcome(api.call("login_mobile", {**trusted, "password": "wrong-password-1"})) == (
        401,
        "INVALID_CREDENTIALS",
    )
    assert outcome(api.call("login_mobile", {**trusted, "password": PASSWORD}, source_ip=ATTACKER)) == (
        403,
        "ACCOUNT_DISABLED",
    )
    clock.advance(61)
    texts = len(sms_outbox())
    assert api.call("send_verification", trusted, source_ip=ATTACKER)[0] == 200
    assert len(sms_outbox()) == texts
    slots = {item["purpose"] for item in items_of_phone(PHONE)["OTP_TABLE_NAME"]}
    assert f"login#{token.split('.')[0]}" in slots  # the decoy is the device's own item

    reset = {"phone": PHONE, "code": reset_code, "new_password": "durian season 2026"}
    assert outcome(api.call("reset_password", reset, source_ip=ATTACKER)) == (429, "PHONE_LOCKED")
    assert outcome(api.call("reset_password", reset, source_ip=OWNER)) == (403, "ACCOUNT_DISABLED")


def test_a_disabled_user_without_a_password_gets_a_decoy_registration_code(api: Api, env: SetEnv) -> None:
    env(SIGNUP_MODE="imported")
    put_user(PHONE)
    admin(api, "admin_disable_user", path_parameters=AT)
    assert api.call("request_registration_otp", {"phone": PHONE})[0] == 200
    assert sms_outbox() == []


def test_sign_out_ends_every_session_as_logout_everywhere(api: Api, clock: FakeClock) -> None:
    first = sign_in(api)
    second = sign_in(api, clock=clock)
    tap = LifecycleTap()
    assert admin(api, "admin_sign_out_user", path_parameters=AT)[0] == 200
    for tokens in (first, second):
        assert api.call("me", token=tokens["access_token"])[0] == 401
    assert existing_user(PHONE).sessions == {}
    ended = [event["detail"] for event in tap.publish() if event["detail-type"] == "SessionsEnded"]
    assert [detail["reason"] for detail in ended] == ["admin_sign_out"]
    assert sign_in(api, clock=clock)["is_new_user"] is False  # not disabled: signs in again


# ------------------------------------------------------------------ erasure
def test_erasure_leaves_nothing_for_the_phone_but_rate_limit_items(api: Api, clock: FakeClock) -> None:
    sign_in(api)
    clock.advance(61)
    api.call("request_password_reset_otp", {"phone": PHONE})
    tap = LifecycleTap()
    assert admin(api, "admin_delete_user", path_parameters=AT)[0] == 200
    assert error_code(admin(api, "admin_delete_user", path_parameters=AT)) == (404, "USER_NOT_FOUND")
    left = items_of_phone(PHONE)
    assert left["USERS_TABLE_NAME"] == [] and left["OTP_TABLE_NAME"] == []
    assert left["LIMITS_TABLE_NAME"]  # counters and locks stay until their TTL
    types = [event["detail-type"] for event in tap.publish()]
    assert "UserDeleted" in types and types.count("AdminAction") == 2


# ------------------------------------------------------------------ the audit trail
def test_every_admin_call_writes_one_audit_line_with_its_principal_and_nothing_secret(
    api: Api, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth.observability import logger

    monkeypatch.setattr(logger.registered_handler, "stream", sys.stdout)
    capsys.readouterr()
    admin(api, "admin_put_user", {"password": PASSWORD}, path_parameters=AT)
    admin(api, "admin_get_user", path_parameters={"phone": "%2B66812345679"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    audits = [line["audit"] for line in lines if line.get("message") == "admin action"]
    assert [(entry["action"], entry["status"], entry["outcome"]) for entry in audits] == [
        ("put_user", 201, "ok"),
        ("get_user", 404, "USER_NOT_FOUND"),
    ]
    assert all(entry["principal_arn"] == PRINCIPAL for entry in audits)
    assert audits[0]["phone"] == mask_phone(PHONE) and audits[0]["user_id"] == existing_user(PHONE).id
    assert audits[0]["request_id"]
    text = json.dumps(lines)
    assert PHONE not in text and PASSWORD not in text and "$2b$" not in text


def test_a_call_without_a_signed_principal_is_refused_before_anything_is_read(api: Api) -> None:
    event = load_event("admin_put_user")
    event["requestContext"]["identity"]["userArn"] = None
    event["pathParameters"] = AT
    event["body"] = json.dumps({"password": PASSWORD})
    status, body, _ = api.invoke("admin_put_user", event)
    assert (status, body["error"]["code"]) == (403, "OPERATOR_UNKNOWN")
    assert stored_user(PHONE) is None


def test_an_admin_action_event_that_eventbridge_refuses_does_not_fail_the_call(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth import event_bus
    from phone_auth.errors import ServiceUnavailable

    def refuse(events: Any) -> None:
        raise ServiceUnavailable(details={"dependency": "events"})

    monkeypatch.setattr(event_bus, "publish", refuse)
    assert admin(api, "admin_put_user", {}, path_parameters=AT)[0] == 201


# ------------------------------------------------------------------ races on real threads
def test_twenty_puts_creating_one_user_at_once_create_it_once(api: Api) -> None:
    warm("admin_put_user")
    answers = together(lambda _: admin(api, "admin_put_user", {"profile": {"branch": "Hat Yai"}}, path_parameters=AT))
    outcomes = Counter((status, body.get("outcome")) for status, body in answers)
    assert outcomes == {(201, "created"): 1, (200, "unchanged"): 19}, outcomes
    assert len({body["user"]["id"] for _, body in answers}) == 1


def test_no_session_survives_a_disable_racing_sign_ins(api: Api, clock: FakeClock) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    warm("login_mobile", "admin_disable_user")

    def work(index: int) -> tuple[int, dict[str, Any]]:
        if index == 0:
            return admin(api, "admin_disable_user", path_parameters=AT)
        status, body, _ = password_login(api, PHONE, PASSWORD, source_ip=f"198.51.100.{index}")
        return status, body

    answers = together(work, 8)
    assert answers[0][0] == 200
    user = existing_user(PHONE)
    assert user.disabled and user.sessions == {}
    for status, body in answers[1:]:
        assert status in (200, 403), body
        if status == 200:
            assert api.call("me", token=body["access_token"])[0] == 401


def test_deletes_racing_each_other_erase_once(api: Api) -> None:
    put_user(PHONE)
    warm("admin_delete_user")
    answers = together(lambda _: error_code(admin(api, "admin_delete_user", path_parameters=AT)), 10)
    assert Counter(answers) == {(200, None): 1, (404, "USER_NOT_FOUND"): 9}
