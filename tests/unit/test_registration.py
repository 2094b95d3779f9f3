"""Registration of back-office users, end to end through the handlers.

check-mobile -> request-registration-otp -> verify-registration-otp (registration token)
-> complete-registration (first password, signed in). SIGNUP_MODE=imported unless a test
says open.
"""

from __future__ import annotations

import os
from typing import Any

import bcrypt
import boto3
import pytest

from tests.helpers import (
    Api,
    FakeClock,
    SetEnv,
    existing_user,
    last_code,
    password_hash,
    put_user,
    response_keys,
    sms_outbox,
    stored_password_hash,
    stored_user,
    user_id_of,
)

PHONE = "+66812345678"
OTHER = "+66891234567"
UNKNOWN = "+66620001111"
PASSWORD = "Suan-Luang-2468"


@pytest.fixture(autouse=True)
def imported_mode(env: SetEnv) -> None:
    env(SIGNUP_MODE="imported")


# ------------------------------------------------------------------ helpers
def check(api: Api, phone: str) -> tuple[int, dict[str, Any]]:
    status, body, _ = api.call("check_mobile", {"phone": phone})
    return status, body


def request_code(api: Api, phone: str, **kwargs: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    return api.call("request_registration_otp", {"phone": phone}, **kwargs)


def verify(api: Api, phone: str, code: str) -> tuple[int, dict[str, Any]]:
    status, body, _ = api.call("verify_registration_otp", {"phone": phone, "code": code})
    return status, body


def registration_token(api: Api, phone: str = PHONE) -> str:
    status, body, _ = request_code(api, phone)
    assert status == 200, body
    status, body = verify(api, phone, last_code(phone))
    assert status == 200, body
    return str(body["registration_token"])


def complete(
    api: Api, token: str | None, phone: str = PHONE, password: str = PASSWORD, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"phone": phone, "password": password}
    if token is not None:
        body["registration_token"] = token
    status, response, _ = api.call("complete_registration", body, **kwargs)
    return status, response


def error_code(response: dict[str, Any]) -> str:
    assert response["success"] is False
    return str(response["error"]["code"])


# ------------------------------------------------------------------ check-mobile
def test_check_mobile_is_true_for_an_imported_user_without_a_password(api: Api) -> None:
    put_user(PHONE)

    status, body = check(api, "081-234-5678")

    assert status == 200
    assert body["success"] is True
    assert body["can_register"] is True


def test_check_mobile_is_false_for_a_user_who_has_a_password(api: Api) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))

    status, body = check(api, PHONE)

    assert (status, body["can_register"]) == (200, False)


def test_check_mobile_is_false_for_an_unknown_phone(api: Api) -> None:
    status, body = check(api, UNKNOWN)

    assert (status, body["can_register"]) == (200, False)


def test_check_mobile_answers_in_thai(api: Api) -> None:
    put_user(PHONE)

    _, body, _ = api.call("check_mobile", {"mobilePhone": "0812345678"}, headers={"Accept-Language": "th"})

    assert body["message"] == "เบอร์โทรศัพท์สามารถลงทะเบียนได้"


# ------------------------------------------------------------------ request-registration-otp
def test_request_code_for_an_unknown_phone_is_refused_without_sms(api: Api) -> None:
    status, body, _ = request_code(api, UNKNOWN)

    assert status == 403
    assert error_code(body) == "PHONE_NOT_ALLOWED"
    assert sms_outbox() == []


def test_request_code_for_a_registered_phone_is_a_conflict(api: Api) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))

    status, body, _ = request_code(api, PHONE)

    assert status == 409
    assert error_code(body) == "ALREADY_REGISTERED"
    assert sms_outbox() == []


def test_request_code_texts_an_imported_user(api: Api) -> None:
    put_user(PHONE)

    status, body, _ = request_code(api, "081-234-5678")

    assert status == 200, body
    assert body["expires_in"] == 300
    assert len(last_code(PHONE)) == 6


def test_request_code_again_within_the_resend_window_is_rate_limited(api: Api, clock: FakeClock) -> None:
    put_user(PHONE)
    assert request_code(api, PHONE)[0] == 200

    status, body, headers = request_code(api, PHONE)

    assert status == 429
    assert error_code(body) == "RATE_LIMITED"
    assert headers["Retry-After"] == "60"
    clock.advance(60)
    assert request_code(api, PHONE)[0] == 200


# ------------------------------------------------------------------ verify-registration-otp
def test_verify_returns_a_registration_token_and_its_lifetime(api: Api) -> None:
    put_user(PHONE)
    assert request_code(api, PHONE)[0] == 200

    status, body = verify(api, PHONE, last_code(PHONE))

    assert status == 200, body
    assert isinstance(body["registration_token"], str) and len(body["registration_token"]) >= 32
    assert body["expires_in"] == 600
    assert existing_user(PHONE).password_hash is None  # verifying sets no password


def test_verify_with_a_wrong_code_counts_the_attempt(api: Api) -> None:
    put_user(PHONE)
    request_code(api, PHONE)
    code = last_code(PHONE)

    status, body = verify(api, PHONE, f"{(int(code) + 1) % 1_000_000:06d}")

    assert status == 400
    assert error_code(body) == "OTP_INVALID"
    assert body["error"]["details"]["attempts_remaining"] == 2
    assert verify(api, PHONE, code)[0] == 200


def test_a_registration_code_works_once(api: Api) -> None:
    put_user(PHONE)
    request_code(api, PHONE)
    code = last_code(PHONE)
    assert verify(api, PHONE, code)[0] == 200

    status, body = verify(api, PHONE, code)

    assert status == 400
    assert error_code(body) == "OTP_NOT_FOUND"


# ------------------------------------------------------------------ complete-registration: the token
def test_complete_without_a_token_field_is_refused_and_sets_no_password(api: Api) -> None:
    put_user(PHONE)
    registration_token(api)

    status, body = complete(api, None)

    assert status == 400
    assert error_code(body) == "VALIDATION_ERROR"
    assert existing_user(PHONE).password_hash is None


def test_complete_without_having_verified_a_code_is_refused(api: Api) -> None:
    put_user(PHONE)

    status, body = complete(api, "a" * 43)

    assert status == 401
    assert error_code(body) == "REGISTRATION_TOKEN_INVALID"
    assert existing_user(PHONE).password_hash is None


def test_complete_with_a_wrong_token_is_refused(api: Api) -> None:
    put_user(PHONE)
    token = registration_token(api)

    status, body = complete(api, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))

    assert status == 401
    assert error_code(body) == "REGISTRATION_TOKEN_INVALID"
    assert complete(api, token)[0] == 200  # a wrong guess does not burn the real token


def test_complete_with_a_reused_token_is_refused(api: Api) -> None:
    put_user(PHONE)
    token = registration_token(api)
    assert complete(api, token)[0] == 200

    status, body = complete(api, token, password="Another-choice-99")

    assert status == 401
    assert error_code(body) == "REGISTRATION_TOKEN_INVALID"


def test_complete_with_an_expired_token_is_refused(api: Api, clock: FakeClock) -> None:
    put_user(PHONE)
    token = registration_token(api)
    clock.advance(int(os.environ["REGISTRATION_TOKEN_TTL_SECONDS"]) + 1)

    status, body = complete(api, token)

    assert status == 401
    assert error_code(body) == "REGISTRATION_TOKEN_INVALID"
    assert existing_user(PHONE).password_hash is None


def test_a_token_just_before_expiry_still_works(api: Api, clock: FakeClock) -> None:
    put_user(PHONE)
    token = registration_token(api)
    clock.advance(int(os.environ["REGISTRATION_TOKEN_TTL_SECONDS"]) - 1)

    assert complete(api, token)[0] == 200


def test_a_token_is_bound_to_its_phone(api: Api) -> None:
    put_user(PHONE)
    put_user(OTHER)
    token_a = registration_token(api, PHONE)
    token_b = registration_token(api, OTHER)

    status, body = complete(api, token_a, phone=OTHER)

    assert status == 401
    assert error_code(body) == "REGISTRATION_TOKEN_INVALID"
    assert existing_user(OTHER).password_hash is None
    assert complete(api, token_b, phone=OTHER)[0] == 200
    assert complete(api, token_a, phone=PHONE)[0] == 200


# ------------------------------------------------------------------ complete-registration: success
def test_complete_registration_signs_in_like_verify_code(api: Api, env: SetEnv) -> None:
    put_user(PHONE, profile={"first_name": "Somchai"})
    token = registration_token(api)

    status, body = complete(api, token)

    assert status == 200, body
    assert set(body) == response_keys("complete_registration")
    assert body["token_type"] == "Bearer"
    assert body["is_new_user"] is True
    user = body["user"]
    assert user["has_password"] is True
    assert (user["phone"], user["id"]) == (PHONE, user_id_of(PHONE))
    assert user["is_active"] is True and user["is_verified"] is True
    assert user["profile"] == {"first_name": "Somchai"}
    stored = existing_user(PHONE)
    assert stored.password_hash is not None
    assert bcrypt.checkpw(PASSWORD.encode(), stored.password_hash.encode())

    # The same body as passwordless login's verify-code.
    env(SIGNUP_MODE="open")
    status, sent, _ = api.call("send_verification", {"phone": UNKNOWN})
    assert status == 200, sent
    status, signed_in, _ = api.call("verify_code", {"phone": UNKNOWN, "verification_code": last_code(UNKNOWN)})
    assert status == 200, signed_in
    assert set(signed_in) == set(body)
    assert set(signed_in["user"]) == set(user)


def test_the_token_from_complete_registration_works_for_me(api: Api) -> None:
    put_user(PHONE)
    _, signed_in = complete(api, registration_token(api))

    status, body, _ = api.call("me", token=signed_in["access_token"])

    assert status == 200, body
    assert body["user"]["phone"] == PHONE
    assert body["user"]["has_password"] is True


def test_after_registering_the_password_logs_in(api: Api) -> None:
    put_user(PHONE)
    complete(api, registration_token(api))

    status, body, _ = api.call("login_mobile", {"phone": "081-234-5678", "password": PASSWORD})

    assert status == 200, body
    assert body["is_new_user"] is False


def test_a_second_registration_is_refused(api: Api) -> None:
    put_user(PHONE)
    assert complete(api, registration_token(api))[0] == 200

    assert check(api, PHONE)[1]["can_register"] is False
    status, body, _ = request_code(api, PHONE)
    assert (status, error_code(body)) == (409, "ALREADY_REGISTERED")
    assert bcrypt.checkpw(PASSWORD.encode(), stored_password_hash(PHONE).encode())


def test_complete_is_refused_when_a_password_was_set_meanwhile(api: Api) -> None:
    put_user(PHONE)
    token = registration_token(api)
    chosen_elsewhere = password_hash("Set-by-someone-else-1")
    boto3.client("dynamodb").update_item(
        TableName=os.environ["USERS_TABLE_NAME"],
        Key={"phone": {"S": PHONE}},
        UpdateExpression="SET password_hash = :h",
        ExpressionAttributeValues={":h": {"S": chosen_elsewhere}},
    )

    status, body = complete(api, token)

    assert status == 409
    assert error_code(body) == "ALREADY_REGISTERED"
    assert existing_user(PHONE).password_hash == chosen_elsewhere


# ------------------------------------------------------------------ password rules
@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Short-1", "PASSWORD_TOO_SHORT"),
        ("ก" * 30, "PASSWORD_TOO_LONG"),  # 30 Thai characters = 90 UTF-8 bytes
        ("a" * 73, "PASSWORD_TOO_LONG"),
        ("password123", "PASSWORD_TOO_COMMON"),
        ("PASSWORD123", "PASSWORD_TOO_COMMON"),
        ("0812345678", "PASSWORD_IS_PHONE"),
        ("081-234-5678", "PASSWORD_IS_PHONE"),
        ("+66812345678", "PASSWORD_IS_PHONE"),
        ("66812345678", "PASSWORD_IS_PHONE"),
        ("812345678", "PASSWORD_IS_PHONE"),
        ("+66 81 234 5678", "PASSWORD_IS_PHONE"),
    ],
)
def test_password_rules(api: Api, password: str, code: str) -> None:
    from phone_auth import passwords

    if code == "PASSWORD_TOO_COMMON":
        assert password.lower() in passwords._common_passwords()
    put_user(PHONE)
    token = registration_token(api)

    status, body = complete(api, token, password=password)

    assert status == 400, body
    assert error_code(body) == code
    assert existing_user(PHONE).password_hash is None
    assert complete(api, token)[0] == 200  # a refused password does not spend the token


def test_72_bytes_exactly_is_accepted(api: Api) -> None:
    put_user(PHONE)

    status, body = complete(api, registration_token(api), password="ก" * 24)  # 72 bytes

    assert status == 200, body
    login = api.call("login_mobile", {"phone": PHONE, "password": "ก" * 24})
    assert login[0] == 200


def test_password_errors_have_thai_messages(api: Api) -> None:
    put_user(PHONE)
    token = registration_token(api)

    _, body = complete(api, token, password="short", headers={"Accept-Language": "th"})

    assert body["error"]["message"] == "รหัสผ่านต้องมีอย่างน้อย 8 ตัวอักษร"


# ------------------------------------------------------------------ the back office's camelCase spellings
def test_camel_case_field_names_are_accepted(api: Api) -> None:
    put_user(PHONE)

    status, body, _ = api.call("check_mobile", {"mobilePhone": "0812345678"})
    assert (status, body["can_register"]) == (200, True)
    status, body, _ = api.call("request_registration_otp", {"mobilePhone": "0812345678"})
    assert status == 200, body
    status, body, _ = api.call("verify_registration_otp", {"mobilePhone": "0812345678", "otpCode": last_code(PHONE)})
    assert status == 200, body
    status, body, _ = api.call(
        "complete_registration",
        {"mobilePhone": "0812345678", "password": PASSWORD, "registrationToken": body["registration_token"]},
    )
    assert status == 200, body

    status, body, _ = api.call("request_password_reset_otp", {"mobilePhone": "0812345678"})
    assert status == 200, body
    status, body, _ = api.call(
        "reset_password", {"mobilePhone": "0812345678", "otpCode": last_code(PHONE), "newPassword": "Brand-new-1357"}
    )
    assert status == 200, body
    status, body, _ = api.call("login_mobile", {"mobilePhone": "0812345678", "password": "Brand-new-1357"})
    assert status == 200, body


# ------------------------------------------------------------------ open mode
def test_open_mode_lets_a_new_phone_register(api: Api, env: SetEnv) -> None:
    env(SIGNUP_MODE="open")
    assert stored_user(UNKNOWN) is None

    assert check(api, UNKNOWN)[1]["can_register"] is True
    status, body = complete(api, registration_token(api, UNKNOWN), phone=UNKNOWN)

    assert status == 200, body
    assert body["is_new_user"] is True
    assert body["user"]["has_password"] is True
    stored = existing_user(UNKNOWN)
    assert stored.id == body["user"]["id"]
    assert stored.is_active is True
    status, me, _ = api.call("me", token=body["access_token"])
    assert (status, me["user"]["id"]) == (200, stored.id)


def test_open_mode_still_refuses_a_registered_phone(api: Api, env: SetEnv) -> None:
    env(SIGNUP_MODE="open")
    put_user(PHONE, password_hash=password_hash(PASSWORD))

    assert check(api, PHONE)[1]["can_register"] is False
    status, body, _ = request_code(api, PHONE)
    assert (status, error_code(body)) == (409, "ALREADY_REGISTERED")
