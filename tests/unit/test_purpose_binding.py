"""A one-time code is bound to its purpose and a registration token to its phone.

Login, registration and password-reset codes live side by side for one phone; none can be
spent by another flow, and a refused cross-use leaves the right code usable for its own
flow afterwards.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from tests.helpers import Api, SetEnv, last_code, put_user

PHONE = "+66812345678"
OTHER = "+66891234567"
PASSWORD = "Suan-Luang-2468"
NEW = "Chao-Phraya-1357"
OTP_ERRORS = {"OTP_INVALID", "OTP_NOT_FOUND", "OTP_EXPIRED", "OTP_ATTEMPTS_EXCEEDED"}


@pytest.fixture(autouse=True)
def imported_mode(env: SetEnv) -> None:
    env(SIGNUP_MODE="imported")


def has_password(phone: str) -> bool:
    item = boto3.client("dynamodb").get_item(TableName=os.environ["USERS_TABLE_NAME"], Key={"phone": {"S": phone}})
    return "password_hash" in item["Item"]


# ------------------------------------------------------------------ the three flows
def send_login(api: Api, phone: str = PHONE) -> str:
    status, body, _ = api.call("send_verification", {"phone": phone})
    assert status == 200, body
    return last_code(phone)


def send_registration(api: Api, phone: str = PHONE) -> str:
    status, body, _ = api.call("request_registration_otp", {"phone": phone})
    assert status == 200, body
    return last_code(phone)


def send_reset(api: Api, phone: str = PHONE) -> str:
    status, body, _ = api.call("request_password_reset_otp", {"phone": phone})
    assert status == 200, body
    return last_code(phone)


def use_login(api: Api, code: str, phone: str = PHONE) -> tuple[int, dict[str, Any]]:
    status, body, _ = api.call("verify_code", {"phone": phone, "verification_code": code})
    return status, body


def use_registration(api: Api, code: str, phone: str = PHONE) -> tuple[int, dict[str, Any]]:
    status, body, _ = api.call("verify_registration_otp", {"phone": phone, "code": code})
    return status, body


def use_reset(api: Api, code: str, phone: str = PHONE) -> tuple[int, dict[str, Any]]:
    status, body, _ = api.call("reset_password", {"phone": phone, "code": code, "new_password": NEW})
    return status, body


def complete(api: Api, token: str, phone: str = PHONE) -> tuple[int, dict[str, Any]]:
    status, body, _ = api.call(
        "complete_registration", {"phone": phone, "password": PASSWORD, "registration_token": token}
    )
    return status, body


def assert_code_refusal(response: tuple[int, dict[str, Any]]) -> None:
    status, body = response
    assert status in (400, 429), body
    assert body["success"] is False
    assert body["error"]["code"] in OTP_ERRORS


# ------------------------------------------------------------------ one code at a time
def test_a_login_code_cannot_verify_a_registration_or_reset_a_password(api: Api) -> None:
    put_user(PHONE)
    code = send_login(api)

    assert_code_refusal(use_registration(api, code))
    assert_code_refusal(use_reset(api, code))

    assert not has_password(PHONE)
    status, body = use_login(api, code)
    assert status == 200, body


def test_a_registration_code_cannot_log_in_or_reset_a_password(api: Api) -> None:
    put_user(PHONE)
    code = send_registration(api)

    assert_code_refusal(use_login(api, code))
    assert_code_refusal(use_reset(api, code))

    assert not has_password(PHONE)
    status, body = use_registration(api, code)
    assert status == 200, body
    assert complete(api, body["registration_token"])[0] == 200


def test_a_reset_code_cannot_log_in_or_register(api: Api) -> None:
    put_user(PHONE)
    code = send_reset(api)

    assert_code_refusal(use_login(api, code))
    assert_code_refusal(use_registration(api, code))

    assert not has_password(PHONE)
    status, body = use_reset(api, code)
    assert status == 200, body
    assert has_password(PHONE)


# ------------------------------------------------------------------ all three outstanding at once
def test_codes_of_every_purpose_side_by_side_only_work_for_their_own_flow(api: Api) -> None:
    put_user(PHONE)
    login_code = send_login(api)
    registration_code = send_registration(api)
    reset_code = send_reset(api)
    codes = {login_code, registration_code, reset_code}
    if len(codes) < 3:
        pytest.fail("two purposes drew the same random code (p < 1e-5); rerun")

    # Each flow refuses the other two purposes' codes (two wrong guesses of three allowed).
    assert_code_refusal(use_registration(api, login_code))
    assert_code_refusal(use_registration(api, reset_code))
    assert_code_refusal(use_reset(api, login_code))
    assert_code_refusal(use_reset(api, registration_code))
    assert_code_refusal(use_login(api, registration_code))
    assert_code_refusal(use_login(api, reset_code))
    assert not has_password(PHONE)

    # ... and each code still does its own job.
    status, signed_in = use_login(api, login_code)
    assert status == 200, signed_in
    status, verified = use_registration(api, registration_code)
    assert status == 200, verified
    status, registered = complete(api, verified["registration_token"])
    assert status == 200, registered
    status, body = use_reset(api, reset_code)
    assert status == 200, body
    status, body, _ = api.call("login_mobile", {"phone": PHONE, "password": NEW})
    assert status == 200, body


def test_a_cross_purpose_guess_counts_against_the_target_flow_only(api: Api) -> None:
    put_user(PHONE)
    login_code = send_login(api)
    registration_code = send_registration(api)
    if login_code == registration_code:
        pytest.fail("two purposes drew the same random code (p = 1e-6); rerun")

    status, body = use_registration(api, login_code)

    assert (status, body["error"]["code"]) == (400, "OTP_INVALID")
    assert body["error"]["details"]["attempts_remaining"] == 2
    status, body = use_login(api, login_code)
    assert status == 200, body


# ------------------------------------------------------------------ registration tokens
def test_a_registration_token_of_phone_a_cannot_complete_phone_b(api: Api) -> None:
    put_user(PHONE)
    put_user(OTHER)
    status, body = use_registration(api, send_registration(api, PHONE), PHONE)
    assert status == 200, body
    token_a = body["registration_token"]
    status, body = use_registration(api, send_registration(api, OTHER), OTHER)
    assert status == 200, body

    status, refused = complete(api, token_a, phone=OTHER)

    assert (status, refused["error"]["code"]) == (401, "REGISTRATION_TOKEN_INVALID")
    assert not has_password(OTHER)
    assert complete(api, token_a, phone=PHONE)[0] == 200
    assert complete(api, body["registration_token"], phone=OTHER)[0] == 200


def test_a_registration_token_is_not_an_access_token_and_vice_versa(api: Api) -> None:
    put_user(PHONE)
    status, body = use_registration(api, send_registration(api))
    token = body["registration_token"]

    status, refused, _ = api.call("me", token=token)
    assert (status, refused["error"]["code"]) == (401, "TOKEN_INVALID")

    status, signed_in = complete(api, token)
    assert status == 200
    put_user(OTHER)
    send_registration(api, OTHER)
    status, body = complete(api, signed_in["access_token"], phone=OTHER)
    # An access token is longer than any registration token: refused before it is even looked up.
    assert (status, body["error"]["code"]) in {(401, "REGISTRATION_TOKEN_INVALID"), (400, "VALIDATION_ERROR")}
    assert not has_password(OTHER)
