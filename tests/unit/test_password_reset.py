"""Back-office users: password reset by SMS code (request-password-reset-otp, reset-password).

The request answers the same for phones with and without an account (no SMS for the
latter, same resend limit), and a reset ends every earlier session.
"""

from __future__ import annotations

import json
import os
from typing import Any

from tests.helpers import (
    Api,
    Context,
    FakeClock,
    existing_user,
    last_code,
    load_event,
    load_handler,
    password_hash,
    password_login,
    put_user,
    sms_outbox,
    wrong_code,
)

PHONE = "+66812345678"
UNKNOWN = "+66620001111"
OLD = "Suan-Luang-2468"
NEW = "Chao-Phraya-1357"


# ------------------------------------------------------------------ helpers
def registered(phone: str = PHONE, password: str = OLD) -> None:
    put_user(phone, password_hash=password_hash(password))


def raw_request(phone: str) -> tuple[int, str, dict[str, str]]:
    """The handler's response exactly as API Gateway would pass it on (body as bytes-to-be)."""
    event = load_event("request_password_reset_otp")
    event["body"] = json.dumps({"phone": phone})
    response = load_handler("request_password_reset_otp").lambda_handler(event, Context())
    return response["statusCode"], response["body"], response["headers"]


def request(api: Api, phone: str = PHONE) -> tuple[int, dict[str, Any], dict[str, str]]:
    return api.call("request_password_reset_otp", {"phone": phone})


def reset(api: Api, code: str, phone: str = PHONE, new_password: str = NEW) -> tuple[int, dict[str, Any]]:
    status, body, _ = api.call("reset_password", {"phone": phone, "code": code, "new_password": new_password})
    return status, body


def error_code(body: dict[str, Any]) -> str:
    assert body["success"] is False
    return str(body["error"]["code"])


# ------------------------------------------------------------------ the request
def test_known_and_unknown_phones_get_byte_identical_answers(api: Api) -> None:
    registered()

    known = raw_request("081-234-5678")
    unknown = raw_request("062-000-1111")

    assert known[0] == unknown[0] == 200
    assert known[1] == unknown[1]
    assert known[2] == unknown[2]
    assert json.loads(known[1])["success"] is True


def test_an_unknown_phone_gets_no_sms(api: Api) -> None:
    registered()

    request(api, UNKNOWN)
    request(api, PHONE)

    assert [to for to, _ in sms_outbox()] == [PHONE]


def test_an_imported_user_without_a_password_may_reset(api: Api) -> None:
    put_user(PHONE)
    request(api)

    status, body = reset(api, last_code(PHONE))

    assert status == 200, body
    assert password_login(api, PHONE, NEW)[0] == 200


def test_the_request_message_is_thai_with_accept_language_th(api: Api) -> None:
    status, body, _ = api.call("request_password_reset_otp", {"phone": UNKNOWN}, headers={"Accept-Language": "th"})

    assert status == 200
    assert body["message"] == "หากหมายเลขนี้มีบัญชีอยู่ ระบบได้ส่งรหัสสำหรับรีเซ็ตรหัสผ่านแล้ว"


# ------------------------------------------------------------------ the reset
def test_reset_sets_the_new_password_and_the_old_one_stops_working(api: Api) -> None:
    registered()
    request(api)

    status, body = reset(api, last_code(PHONE))

    assert status == 200, body
    assert body["success"] is True
    assert password_login(api, PHONE, NEW)[0] == 200
    status, body, _ = password_login(api, PHONE, OLD)
    assert (status, error_code(body)) == (401, "INVALID_CREDENTIALS")
    stored = existing_user(PHONE)
    assert stored.is_verified is True  # the code proved the SIM


def test_reset_revokes_every_earlier_token(api: Api) -> None:
    registered()
    tokens = [password_login(api, PHONE, OLD)[1]["access_token"] for _ in range(2)]
    assert all(api.call("me", token=token)[0] == 200 for token in tokens)
    request(api)

    assert reset(api, last_code(PHONE))[0] == 200

    for token in tokens:
        status, body, _ = api.call("me", token=token)
        assert (status, error_code(body)) == (401, "TOKEN_REVOKED")
    fresh = password_login(api, PHONE, NEW)[1]["access_token"]
    assert api.call("me", token=fresh)[0] == 200
    assert api.call("me", token=tokens[0])[0] == 401  # signing in again does not revive old tokens


def test_a_reset_code_works_once(api: Api) -> None:
    registered()
    request(api)
    code = last_code(PHONE)
    assert reset(api, code)[0] == 200

    status, body = reset(api, code, new_password="Third-choice-8642")

    assert (status, error_code(body)) == (400, "OTP_NOT_FOUND")
    assert password_login(api, PHONE, NEW)[0] == 200


def test_a_wrong_code_counts_attempts_until_the_code_is_dead(api: Api) -> None:
    registered()
    request(api)
    code = last_code(PHONE)

    remaining = []
    for _ in range(2):
        status, body = reset(api, wrong_code(code))
        assert (status, error_code(body)) == (400, "OTP_INVALID")
        remaining.append(body["error"]["details"]["attempts_remaining"])
    status, body = reset(api, wrong_code(code))

    assert remaining == [2, 1]
    assert (status, error_code(body)) == (429, "OTP_ATTEMPTS_EXCEEDED")
    status, body = reset(api, code)
    assert (status, error_code(body)) == (429, "OTP_ATTEMPTS_EXCEEDED")  # the right code is dead too
    assert password_login(api, PHONE, OLD)[0] == 200


def test_a_policy_error_does_not_spend_the_code(api: Api) -> None:
    registered()
    request(api)
    code = last_code(PHONE)

    status, body = reset(api, code, new_password="short")
    assert (status, error_code(body)) == (400, "PASSWORD_TOO_SHORT")
    status, body = reset(api, code, new_password="ก" * 30)
    assert (status, error_code(body)) == (400, "PASSWORD_TOO_LONG")
    status, body = reset(api, code, new_password="081-234-5678")
    assert (status, error_code(body)) == (400, "PASSWORD_IS_PHONE")

    assert reset(api, code)[0] == 200


def test_an_expired_code_is_refused(api: Api, clock: FakeClock) -> None:
    registered()
    request(api)
    clock.advance(int(os.environ["OTP_TTL_SECONDS"]))

    status, body = reset(api, last_code(PHONE))

    assert (status, error_code(body)) == (400, "OTP_EXPIRED")
    assert password_login(api, PHONE, OLD)[0] == 200


def test_a_guessed_code_for_an_unknown_phone_answers_like_a_wrong_code_for_a_known_one(api: Api) -> None:
    """Otherwise the second step tells who has an account, which the first step hides."""
    registered()
    request(api, PHONE)
    request(api, UNKNOWN)

    known = reset(api, wrong_code(last_code(PHONE)), phone=PHONE)
    unknown = reset(api, "123456", phone=UNKNOWN)

    assert known[0] == unknown[0]
    assert error_code(known[1]) == error_code(unknown[1])
    assert known[1] == unknown[1]  # message and details (attempts_remaining) too


# ------------------------------------------------------------------ resend limit
def test_the_resend_limit_applies_to_unknown_phones_too(api: Api, clock: FakeClock) -> None:
    registered()
    for phone in (PHONE, UNKNOWN):
        assert request(api, phone)[0] == 200
    clock.advance(10)

    known = raw_request(PHONE)
    unknown = raw_request(UNKNOWN)

    assert known[0] == unknown[0] == 429
    assert known[1] == unknown[1]
    assert known[2]["Retry-After"] == unknown[2]["Retry-After"] == "50"
    assert json.loads(unknown[1])["error"]["code"] == "RATE_LIMITED"
    clock.advance(50)
    assert request(api, UNKNOWN)[0] == 200
    assert request(api, PHONE)[0] == 200
    assert [to for to, _ in sms_outbox()] == [PHONE, PHONE]


def test_a_new_code_replaces_the_previous_one(api: Api, clock: FakeClock) -> None:
    registered()
    request(api)
    first = last_code(PHONE)
    clock.advance(60)
    request(api)
    second = last_code(PHONE)

    if first != second:
        status, body = reset(api, first)
        assert status == 400 and error_code(body) in {"OTP_INVALID", "OTP_NOT_FOUND"}
    assert reset(api, second)[0] == 200
