"""Passwordless login by SMS code, end to end through the handlers.

Covers its three scenarios (first login, logout, login again), the code's life
(hash only, expiry, single use, attempts, replacement, resend window), phone formats,
the SMS sender, the feature switches and what the logs may contain.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.helpers import (
    DEFAULT_ORIGIN,
    PASSWORDLESS_CLIENT_SIGN_IN_FIELDS,
    PASSWORDLESS_CLIENT_USER_FIELDS,
    Api,
    FakeClock,
    SetEnv,
    last_code,
    response_keys,
    send_code,
    sign_in,
    sms_outbox,
    user_keys,
    verify_code,
    wrong_code,
)

PHONE = "+66812345678"
THAI = re.compile(r"[\u0e00-\u0e7f]")


# ------------------------------------------------------------------ helpers
def iso(clock: FakeClock) -> str:
    from phone_auth.clock import iso as to_iso

    return to_iso(clock())


def setting(name: str) -> int:
    return int(os.environ[name])


def users() -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(os.environ["USERS_TABLE_NAME"])
    items: list[dict[str, Any]] = table.scan(ConsistentRead=True)["Items"]
    return items


def user_row(phone: str = PHONE) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(os.environ["USERS_TABLE_NAME"])
    item: dict[str, Any] = table.get_item(Key={"phone": phone}, ConsistentRead=True)["Item"]
    return item


def code_rows() -> list[dict[str, Any]]:
    scan = boto3.client("dynamodb").scan(TableName=os.environ["OTP_TABLE_NAME"], ConsistentRead=True)
    items: list[dict[str, Any]] = scan["Items"]
    return items


def assert_error(status: int, body: dict[str, Any], expected_status: int, code: str) -> None:
    assert status == expected_status, body
    assert body["success"] is False
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"].strip()


# ------------------------------------------------------------------ scenario 1: first login
def test_send_verification_answers_with_the_documented_shape(api: Api, clock: FakeClock) -> None:
    status, body, headers = send_code(api, "081-234-5678")
    assert status == 200
    assert set(body) == response_keys("send_verification")
    assert body["success"] is True
    assert isinstance(body["message"], str) and body["message"]
    assert body["expires_in"] == setting("OTP_TTL_SECONDS")
    assert body["resend_after"] == setting("OTP_RESEND_SECONDS")
    assert headers["Access-Control-Allow-Origin"] == DEFAULT_ORIGIN
    assert [to for to, _ in sms_outbox()] == [PHONE]


def test_first_login_creates_an_active_verified_user(api: Api, clock: FakeClock) -> None:
    assert users() == []
    send_code(api)
    status, body, headers = verify_code(api, last_code(PHONE))

    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == DEFAULT_ORIGIN
    assert set(body) >= PASSWORDLESS_CLIENT_SIGN_IN_FIELDS  # what the passwordless-login frontend reads
    assert set(body) == response_keys("verify_code")
    assert body["success"] is True
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == setting("ACCESS_TOKEN_TTL_SECONDS")
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    assert body["is_new_user"] is True
    user = body["user"]
    assert set(user) >= PASSWORDLESS_CLIENT_USER_FIELDS
    assert set(user) == user_keys()
    assert user["phone"] == PHONE
    assert user["is_active"] is True
    assert user["is_verified"] is True
    assert user["last_login"] == iso(clock)
    assert user["created_at"] == user["updated_at"] == iso(clock)
    assert isinstance(user["id"], str) and user["id"]

    rows = users()
    assert len(rows) == 1
    row = rows[0]
    assert row["phone"] == PHONE and row["id"] == user["id"]
    assert row["is_active"] is True and row["is_verified"] is True
    assert row["created_at"] == row["updated_at"] == row["last_login"]


def test_me_returns_the_signed_in_user(api: Api, clock: FakeClock) -> None:
    signed_in = sign_in(api)
    status, body, headers = api.call("me", token=signed_in["access_token"])
    assert status == 200
    assert set(body) == response_keys("me")
    assert body["success"] is True
    assert headers["Access-Control-Allow-Origin"] == DEFAULT_ORIGIN
    assert body["user"] == signed_in["user"]


# ------------------------------------------------------------------ scenario 2: logout
def test_logout_marks_the_user_inactive_and_moves_updated_at(api: Api, clock: FakeClock) -> None:
    signed_in = sign_in(api)
    created = iso(clock)
    clock.advance(900)

    status, body, headers = api.call("logout", token=signed_in["access_token"])
    assert status == 200
    assert set(body) == response_keys("logout")
    assert body["success"] is True
    assert isinstance(body["message"], str) and body["message"]
    assert headers["Access-Control-Allow-Origin"] == DEFAULT_ORIGIN

    row = user_row()
    assert row["is_active"] is False
    assert row["is_verified"] is True
    assert row["id"] == signed_in["user"]["id"]
    assert row["updated_at"] == iso(clock) != created
    assert row["created_at"] == created
    assert row["last_login"] == created


# ------------------------------------------------------------------ scenario 3: login again
def test_login_after_logout_reuses_the_user_with_a_new_token(api: Api, clock: FakeClock) -> None:
    first = sign_in(api)
    first_login_at = iso(clock)
    clock.advance(60)
    assert api.call("logout", token=first["access_token"])[0] == 200
    clock.advance(120)

    second = sign_in(api)

    assert second["is_new_user"] is False
    assert second["user"]["id"] == first["user"]["id"]
    assert second["access_token"] != first["access_token"]
    assert second["user"]["is_active"] is True
    assert second["user"]["is_verified"] is True
    assert second["user"]["last_login"] == iso(clock) != first_login_at
    assert second["user"]["created_at"] == first["user"]["created_at"] == first_login_at
    assert second["user"]["updated_at"] == iso(clock)
    rows = users()
    assert len(rows) == 1
    assert rows[0]["is_active"] is True
    assert rows[0]["last_login"] == iso(clock)


def test_returning_user_without_logout_is_not_new(api: Api, clock: FakeClock) -> None:
    first = sign_in(api)
    clock.advance(30)
    second = sign_in(api)
    assert second["is_new_user"] is False
    assert second["user"]["id"] == first["user"]["id"]
    assert len(users()) == 1


def test_two_phones_get_two_users(api: Api, clock: FakeClock) -> None:
    one = sign_in(api, "0812345678", texted_to=PHONE)
    other = sign_in(api, "0898765432", texted_to="+66898765432")
    assert one["user"]["id"] != other["user"]["id"]
    assert other["is_new_user"] is True
    assert len(users()) == 2


# ------------------------------------------------------------------ the code
def test_code_is_six_digits_and_only_its_keyed_hash_is_stored(api: Api, clock: FakeClock) -> None:
    from phone_auth.codes import code_hash

    send_code(api)
    code = last_code(PHONE)
    assert re.fullmatch(r"[0-9]{6}", code)

    rows = code_rows()
    assert len(rows) == 1
    row = rows[0]
    for name, attr in row.items():
        ((kind, value),) = attr.items()
        assert value != code, name
        if kind == "S":
            assert code not in value, name
    stored = row["code_hash"]["S"]
    assert stored == code_hash(PHONE, "login", code)  # an HMAC under the derived key ...
    assert stored != hashlib.sha256(code.encode()).hexdigest()  # ... not a plain digest
    assert stored != hashlib.sha256(f"{PHONE}{code}".encode()).hexdigest()


def test_codes_of_two_sends_differ_over_time(api: Api, clock: FakeClock) -> None:
    # A constant code would be an outage of the generator; many sends make a collision of all of them impossible.
    seen = set()
    for _ in range(5):
        send_code(api)
        seen.add(last_code(PHONE))
        clock.advance(setting("OTP_RESEND_SECONDS"))
    assert len(seen) > 1


def test_code_still_works_just_before_it_expires(api: Api, clock: FakeClock) -> None:
    send_code(api)
    clock.advance(setting("OTP_TTL_SECONDS") - 1)
    status, body, _ = verify_code(api, last_code(PHONE))
    assert status == 200, body


def test_code_expires_after_otp_ttl(api: Api, clock: FakeClock) -> None:
    send_code(api)
    clock.advance(setting("OTP_TTL_SECONDS") + 1)
    status, body, _ = verify_code(api, last_code(PHONE))
    assert_error(status, body, 400, "OTP_EXPIRED")
    assert users() == []


def test_short_otp_ttl_from_the_environment_is_honoured(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(OTP_TTL_SECONDS="60")
    status, body, _ = send_code(api)
    assert status == 200
    assert body["expires_in"] == 60
    (row,) = code_rows()
    assert int(row["expires_at"]["N"]) - int(row["sent_at"]["N"]) == 60
    clock.advance(61)
    status, body, _ = verify_code(api, last_code(PHONE))
    assert_error(status, body, 400, "OTP_EXPIRED")


def test_second_use_of_a_code_is_refused(api: Api, clock: FakeClock) -> None:
    send_code(api)
    code = last_code(PHONE)
    assert verify_code(api, code)[0] == 200
    status, body, _ = verify_code(api, code)
    assert_error(status, body, 400, "OTP_NOT_FOUND")
    assert "access_token" not in body


def test_verify_without_any_code_sent_is_refused(api: Api, clock: FakeClock) -> None:
    status, body, _ = verify_code(api, "123456")
    assert_error(status, body, 400, "OTP_NOT_FOUND")
    assert users() == []


def test_wrong_guess_reports_attempts_remaining(api: Api, clock: FakeClock) -> None:
    send_code(api)
    code = last_code(PHONE)
    status, body, _ = verify_code(api, wrong_code(code))
    assert_error(status, body, 400, "OTP_INVALID")
    assert body["error"]["details"]["attempts_remaining"] == setting("OTP_MAX_ATTEMPTS") - 1
    status, body, _ = verify_code(api, wrong_code(wrong_code(code)))
    assert body["error"]["details"]["attempts_remaining"] == setting("OTP_MAX_ATTEMPTS") - 2
    assert users() == []
    # Still below the limit: the right code works.
    assert verify_code(api, code)[0] == 200


def test_right_code_is_refused_after_too_many_wrong_guesses(api: Api, clock: FakeClock) -> None:
    send_code(api)
    code = last_code(PHONE)
    max_attempts = setting("OTP_MAX_ATTEMPTS")
    answers = [verify_code(api, wrong_code(code)) for _ in range(max_attempts)]
    assert [b["error"]["code"] for _, b, _ in answers] == ["OTP_INVALID"] * (max_attempts - 1) + [
        "OTP_ATTEMPTS_EXCEEDED"
    ]
    clock.advance(5)
    status, body, headers = verify_code(api, code)
    assert_error(status, body, 429, "OTP_ATTEMPTS_EXCEEDED")
    assert int(headers["Retry-After"]) >= 1
    assert "access_token" not in body
    assert users() == []
    (row,) = code_rows()
    assert int(row["attempts"]["N"]) == max_attempts


def test_attempts_exceeded_answer_carries_retry_after(api: Api, clock: FakeClock) -> None:
    send_code(api)
    code = last_code(PHONE)
    for _ in range(setting("OTP_MAX_ATTEMPTS") - 1):
        verify_code(api, wrong_code(code))
    clock.advance(10)
    status, body, headers = verify_code(api, wrong_code(code))
    assert_error(status, body, 429, "OTP_ATTEMPTS_EXCEEDED")
    assert headers["Retry-After"] == str(setting("OTP_RESEND_SECONDS") - 10)
    assert "Retry-After" in headers["Access-Control-Expose-Headers"]  # readable by a browser app


def test_a_new_code_may_be_asked_for_once_the_dead_codes_retry_after_has_passed(api: Api, clock: FakeClock) -> None:
    send_code(api)
    code = last_code(PHONE)
    for _ in range(setting("OTP_MAX_ATTEMPTS")):
        status, body, headers = verify_code(api, wrong_code(code))
    assert body["error"]["code"] == "OTP_ATTEMPTS_EXCEEDED"
    retry_after = int(headers["Retry-After"])
    clock.advance(retry_after - 1)
    assert_error(*send_code(api)[:2], 429, "RATE_LIMITED")
    clock.advance(1)
    assert send_code(api)[0] == 200
    status, body, _ = verify_code(api, last_code(PHONE))
    assert status == 200, body


def test_a_new_code_replaces_the_previous_one(api: Api, clock: FakeClock) -> None:
    send_code(api)
    old = last_code(PHONE)
    new = old
    while new == old:  # two draws collide once in a million; draw again rather than test nothing
        clock.advance(setting("OTP_RESEND_SECONDS") + 1)
        assert send_code(api)[0] == 200
        new = last_code(PHONE)
    assert len(code_rows()) == 1
    status, body, _ = verify_code(api, old)
    assert_error(status, body, 400, "OTP_INVALID")
    status, body, _ = verify_code(api, new)
    assert status == 200, body


def test_resend_within_the_window_is_rate_limited(api: Api, clock: FakeClock) -> None:
    assert send_code(api)[0] == 200
    clock.advance(10)
    status, body, headers = send_code(api)
    assert_error(status, body, 429, "RATE_LIMITED")
    assert headers["Retry-After"] == str(setting("OTP_RESEND_SECONDS") - 10)
    assert body["error"]["details"]["retry_after"] == setting("OTP_RESEND_SECONDS") - 10
    assert headers["Access-Control-Allow-Origin"] == DEFAULT_ORIGIN
    assert len(sms_outbox()) == 1


def test_resend_is_allowed_once_retry_after_has_passed(api: Api, clock: FakeClock) -> None:
    send_code(api)
    clock.advance(10)
    _, _, headers = send_code(api)
    clock.advance(int(headers["Retry-After"]))
    status, body, _ = send_code(api)
    assert status == 200, body
    assert len(sms_outbox()) == 2
    assert verify_code(api, last_code(PHONE))[0] == 200


def test_resend_is_allowed_at_once_after_the_code_was_used(api: Api, clock: FakeClock) -> None:
    sign_in(api)
    status, body, _ = send_code(api)
    assert status == 200, body


def test_sms_and_answer_follow_accept_language(api: Api, clock: FakeClock) -> None:
    status, body, _ = send_code(api, headers={"Accept-Language": "en"})
    assert status == 200
    assert not THAI.search(body["message"])
    (_, text) = sms_outbox()[-1]
    assert not THAI.search(text)
    assert last_code(PHONE) in text

    clock.advance(setting("OTP_RESEND_SECONDS"))
    status, body, _ = send_code(api, headers={"Accept-Language": "th"})
    assert status == 200
    assert THAI.search(body["message"])
    (_, text) = sms_outbox()[-1]
    assert THAI.search(text)
    assert last_code(PHONE) in text


# ------------------------------------------------------------------ phones
SAME_NUMBER = ["081-234-5678", "+66 81 234 5678", "0812345678", "+66812345678", "0066812345678"]


def test_every_common_format_of_a_number_is_the_same_user(api: Api, clock: FakeClock) -> None:
    ids, new_flags = set(), []
    for index, typed in enumerate(SAME_NUMBER):
        status, body, _ = send_code(api, typed)
        assert status == 200, (typed, body)
        assert sms_outbox()[-1][0] == PHONE
        # Verify with a different spelling than the one the code was sent to.
        status, body, _ = verify_code(api, last_code(PHONE), SAME_NUMBER[(index + 1) % len(SAME_NUMBER)])
        assert status == 200, (typed, body)
        assert body["user"]["phone"] == PHONE
        ids.add(body["user"]["id"])
        new_flags.append(body["is_new_user"])
        clock.advance(1)
    assert len(ids) == 1
    assert new_flags == [True] + [False] * (len(SAME_NUMBER) - 1)
    rows = users()
    assert [row["phone"] for row in rows] == [PHONE]


def test_invalid_phone_is_refused(api: Api, clock: FakeClock) -> None:
    for typed in ["abc", "123", "+999123"]:
        status, body, _ = send_code(api, typed)
        assert_error(status, body, 400, "INVALID_PHONE")
        status, body, _ = verify_code(api, "123456", typed)
        assert_error(status, body, 400, "INVALID_PHONE")
    assert sms_outbox() == []


def test_thai_fixed_line_is_not_a_mobile(api: Api, clock: FakeClock) -> None:
    status, body, _ = send_code(api, "02 123 4567")
    assert_error(status, body, 400, "PHONE_NOT_MOBILE")
    assert sms_outbox() == []
    assert code_rows() == []


# ------------------------------------------------------------------ SMS sender
def test_log_sender_sends_nothing_to_sns(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(SMS_SENDER="log")
    status, body, _ = send_code(api)
    assert status == 200, body
    assert sms_outbox() == []
    assert len(code_rows()) == 1


def test_log_sender_never_logs_the_code(
    api: Api, clock: FakeClock, env: SetEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth import crypto
    from phone_auth.observability import logger

    env(SMS_SENDER="log")
    monkeypatch.setattr(logger.registered_handler, "stream", sys.stdout)
    drawn: list[str] = []
    real_new_code = crypto.new_code

    def spy() -> str:
        drawn.append(real_new_code())
        return drawn[-1]

    monkeypatch.setattr(crypto, "new_code", spy)
    capsys.readouterr()
    assert send_code(api)[0] == 200
    out = capsys.readouterr().out
    assert "suppressed" in out  # the log sender did log that it sent nothing
    (code,) = drawn
    assert not re.search(rf"(?<!\d){code}(?!\d)", out)
    assert verify_code(api, code)[0] == 200  # and it was the real code


def test_production_refuses_the_log_sender(env: SetEnv) -> None:
    from phone_auth.settings import SettingsError, load_settings

    env(ENVIRONMENT="production", SMS_SENDER="log")
    with pytest.raises(SettingsError, match="SMS_SENDER"):
        load_settings()
    env(ENVIRONMENT="production", SMS_SENDER="sns")
    assert load_settings().is_production


class FailingSns:
    def __init__(self) -> None:
        self.calls = 0

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "Publish")


def test_sns_failure_is_503_and_the_code_is_withdrawn(
    api: Api, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth import aws

    real_sns = aws.sns
    failing = FailingSns()
    monkeypatch.setattr(aws, "sns", lambda: failing)
    try:
        status, body, headers = send_code(api)
    finally:
        monkeypatch.setattr(aws, "sns", real_sns)  # before conftest's teardown clears the client caches
    assert failing.calls >= 1
    assert_error(status, body, 503, "SERVICE_UNAVAILABLE")
    assert headers["Access-Control-Allow-Origin"] == DEFAULT_ORIGIN
    assert code_rows() == []

    # An immediate retry is a new send, not a 429: the withdrawn code does not hold the window.
    status, body, _ = send_code(api)
    assert status == 200, body
    assert verify_code(api, last_code(PHONE))[0] == 200


# ------------------------------------------------------------------ switches
def test_otp_login_can_be_turned_off(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(OTP_LOGIN_ENABLED="false")
    status, body, _ = send_code(api)
    assert_error(status, body, 403, "OTP_LOGIN_DISABLED")
    status, body, _ = verify_code(api, "123456")
    assert_error(status, body, 403, "OTP_LOGIN_DISABLED")
    assert sms_outbox() == []
    assert code_rows() == []


def test_turning_otp_login_off_refuses_a_code_already_sent(api: Api, clock: FakeClock, env: SetEnv) -> None:
    send_code(api)
    code = last_code(PHONE)
    env(OTP_LOGIN_ENABLED="false")
    status, body, _ = verify_code(api, code)
    assert_error(status, body, 403, "OTP_LOGIN_DISABLED")
    assert users() == []


def test_imported_mode_answers_an_unknown_phone_alike_but_texts_nothing(
    api: Api, clock: FakeClock, env: SetEnv
) -> None:
    env(SIGNUP_MODE="imported")
    status, body, _ = send_code(api)
    assert status == 200 and set(body) == response_keys("send_verification")
    assert sms_outbox() == []
    (decoy,) = code_rows()
    assert "code_hash" not in decoy  # no code exists that could be guessed
    status, body, _ = verify_code(api, "123456")
    assert_error(status, body, 400, "OTP_INVALID")  # refused like a wrong code
    assert users() == []


def test_imported_mode_lets_a_known_unverified_phone_log_in(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(SIGNUP_MODE="imported")
    table = boto3.resource("dynamodb").Table(os.environ["USERS_TABLE_NAME"])
    table.put_item(
        Item={
            "phone": PHONE,
            "id": "imported-1",
            "created_at": "2025-01-01T00:00:00.000Z",
            "updated_at": "2025-01-01T00:00:00.000Z",
            "is_active": False,
            "is_verified": False,
            "session_epoch": Decimal(0),
        }
    )
    body = sign_in(api)
    assert body["user"]["id"] == "imported-1"
    assert body["user"]["is_verified"] is True
    assert body["user"]["is_active"] is True
    assert body["user"]["created_at"] == "2025-01-01T00:00:00.000Z"
    assert len(users()) == 1


# ------------------------------------------------------------------ logs
def test_logs_never_hold_the_code_the_token_the_secret_or_the_phone(
    api: Api, clock: FakeClock, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth.observability import logger
    from phone_auth.phones import mask_phone

    # The handler was bound to whatever stdout was at import time; point it at capsys's.
    monkeypatch.setattr(logger.registered_handler, "stream", sys.stdout)
    capsys.readouterr()

    send_code(api, "081-234-5678")
    code = last_code(PHONE)
    bad = wrong_code(code)
    verify_code(api, bad, "081-234-5678")
    status, body, _ = verify_code(api, code, "081-234-5678")
    assert status == 200
    token = body["access_token"]
    assert api.call("me", token=token)[0] == 200
    assert api.call("logout", token=token)[0] == 200
    assert api.call("me", token=token)[0] == 401
    clock.advance(1)
    send_code(api, "0812345678", headers={"Accept-Language": "th"})

    out = capsys.readouterr().out
    assert out.strip(), "the flow logged nothing: the capture is not working"
    secret = boto3.client("ssm").get_parameter(Name=os.environ["JWT_SECRET_PARAMETER_NAME"], WithDecryption=True)
    secret_value = secret["Parameter"]["Value"]

    for sms_code in {code, bad, last_code(PHONE)}:
        assert not re.search(rf"(?<!\d){sms_code}(?!\d)", out), "an SMS code was logged"
    assert token not in out
    assert token.split(".")[2] not in out
    assert secret_value not in out
    for form in (PHONE, PHONE[1:], "0812345678", "812345678", "081-234-5678"):
        assert form not in out, f"the phone was logged as {form}"
    assert mask_phone(PHONE) in out
