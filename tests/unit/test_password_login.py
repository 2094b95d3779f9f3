"""Back-office users: login with mobile number + password (POST /auth/login/mobile), and the market
a token belongs to."""

from __future__ import annotations

from typing import Any

import bcrypt
import pytest

from tests.helpers import (
    Api,
    FakeClock,
    SetEnv,
    existing_user,
    password_hash,
    password_login,
    put_user,
    stored_password_hash,
    user_id_of,
)

PHONE = "+66812345678"
UNKNOWN = "+66620001111"
PASSWORD = "Suan-Luang-2468"


# ------------------------------------------------------------------ helpers
def error(body: dict[str, Any]) -> tuple[str, str]:
    assert body["success"] is False
    return body["error"]["code"], body["error"]["message"]


# ------------------------------------------------------------------ success
def test_login_returns_a_token_and_records_the_sign_in(api: Api, clock: FakeClock) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD), profile={"first_name": "Somchai"})

    status, body, _ = password_login(api, "081-234-5678", PASSWORD)

    assert status == 200, body
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["is_new_user"] is True  # the imported user's first sign-in
    user = body["user"]
    assert (user["id"], user["phone"], user["is_active"]) == (user_id_of(PHONE), PHONE, True)
    assert user["last_login"] == "2027-01-15T08:00:00.000Z"
    assert user["is_verified"] is False  # a password proves nothing about the SIM
    assert user["profile"] == {"first_name": "Somchai"}
    stored = existing_user(PHONE)
    assert stored.is_active is True
    assert stored.last_login == stored.updated_at == "2027-01-15T08:00:00.000Z"
    status, me, _ = api.call("me", token=body["access_token"])
    assert (status, me["user"]["id"]) == (200, user_id_of(PHONE))


def test_every_login_gives_a_new_token_and_moves_last_login(api: Api, clock: FakeClock) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    _, first, _ = password_login(api, PHONE, PASSWORD)
    clock.advance(90)

    status, second, _ = password_login(api, PHONE, PASSWORD)

    assert status == 200
    assert second["access_token"] != first["access_token"]
    assert second["is_new_user"] is False
    assert second["user"]["last_login"] == "2027-01-15T08:01:30.000Z"
    assert existing_user(PHONE).last_login == "2027-01-15T08:01:30.000Z"
    assert api.call("me", token=first["access_token"])[0] == 200  # logging in again ends no session


def test_login_after_logout_reactivates_the_user(api: Api) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    _, first, _ = password_login(api, PHONE, PASSWORD)
    assert api.call("logout", token=first["access_token"])[0] == 200
    assert existing_user(PHONE).is_active is False

    status, second, _ = password_login(api, PHONE, PASSWORD)

    assert status == 200
    assert existing_user(PHONE).is_active is True
    assert api.call("me", token=second["access_token"])[0] == 200
    assert api.call("me", token=first["access_token"])[1]["error"]["code"] == "TOKEN_REVOKED"


# ------------------------------------------------------------------ refusals
def test_wrong_password_and_unknown_phone_get_the_same_answer(api: Api) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))

    english = {"Accept-Language": "en"}
    wrong = password_login(api, PHONE, "Not-the-password-1", headers=english)[:2]
    unknown = password_login(api, UNKNOWN, PASSWORD, headers=english)[:2]
    not_a_phone = password_login(api, "12345", PASSWORD, headers=english)[:2]

    assert wrong == unknown == not_a_phone
    assert wrong[0] == 401
    assert error(wrong[1]) == ("INVALID_CREDENTIALS", "The mobile number or password is incorrect.")
    assert existing_user(PHONE).last_login is None


def test_an_imported_user_without_a_password_must_register(api: Api) -> None:
    put_user(PHONE)

    status, body, _ = password_login(api, PHONE, PASSWORD)

    assert status == 403
    assert error(body)[0] == "REGISTRATION_REQUIRED"
    assert existing_user(PHONE).is_active is False


@pytest.mark.parametrize("password", ["ก" * 30, "a" * 73, PASSWORD + "x" * 60])
def test_a_password_over_72_bytes_is_invalid_credentials_not_an_error(api: Api, password: str) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))

    status, body, _ = password_login(api, PHONE, password)

    assert status == 401, body
    assert error(body)[0] == "INVALID_CREDENTIALS"


def test_a_password_whose_first_72_bytes_match_is_still_refused(api: Api) -> None:
    """bcrypt reads 72 bytes only; a longer input must not log in on its prefix."""
    seventy_two = "k" * 72
    put_user(PHONE, password_hash=password_hash(seventy_two))

    assert password_login(api, PHONE, seventy_two)[0] == 200
    status, body, _ = password_login(api, PHONE, seventy_two + "extra")

    assert (status, error(body)[0]) == (401, "INVALID_CREDENTIALS")


def test_a_corrupt_stored_hash_is_invalid_credentials_not_an_error(api: Api) -> None:
    put_user(PHONE, password_hash="$2b$04$" + "!" * 53)

    status, body, _ = password_login(api, PHONE, PASSWORD)

    assert (status, error(body)[0]) == (401, "INVALID_CREDENTIALS")


def test_missing_password_is_a_validation_error(api: Api) -> None:
    status, body, _ = api.call("login_mobile", {"phone": PHONE})

    assert (status, error(body)[0]) == (400, "VALIDATION_ERROR")


# ------------------------------------------------------------------ bcrypt cost upgrade
def test_a_hash_with_a_lower_cost_is_upgraded_on_the_next_login(api: Api, env: SetEnv) -> None:
    env(BCRYPT_ROUNDS="11")
    old_hash = password_hash(PASSWORD, rounds=10)
    put_user(PHONE, password_hash=old_hash)

    status, body, _ = password_login(api, PHONE, PASSWORD)

    assert status == 200, body
    upgraded = stored_password_hash(PHONE)
    assert upgraded.startswith("$2b$11$")
    assert upgraded != old_hash
    assert bcrypt.checkpw(PASSWORD.encode(), upgraded.encode())
    assert password_login(api, PHONE, PASSWORD)[0] == 200
    assert existing_user(PHONE).password_hash == upgraded  # upgraded once, not on every login
    assert error(password_login(api, PHONE, "Not-the-password-1")[1])[0] == "INVALID_CREDENTIALS"


def test_a_hash_with_a_higher_cost_is_left_alone(api: Api) -> None:
    stronger = password_hash(PASSWORD, rounds=11)
    put_user(PHONE, password_hash=stronger)

    assert password_login(api, PHONE, PASSWORD)[0] == 200

    assert existing_user(PHONE).password_hash == stronger


# ------------------------------------------------------------------ Thai
def test_messages_are_thai_with_accept_language_th(api: Api) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    put_user(UNKNOWN)
    thai = {"Accept-Language": "th"}

    assert error(password_login(api, PHONE, "Not-the-password-1", headers=thai)[1]) == (
        "INVALID_CREDENTIALS",
        "หมายเลขโทรศัพท์หรือรหัสผ่านไม่ถูกต้อง",
    )
    assert error(password_login(api, UNKNOWN, PASSWORD, headers=thai)[1]) == (
        "REGISTRATION_REQUIRED",
        "กรุณาลงทะเบียนก่อนเข้าสู่ระบบ",
    )
    english = password_login(api, PHONE, "Not-the-password-1", headers={"Accept-Language": "en-US,en;q=0.9"})[:2]
    assert error(english[1])[1] == "The mobile number or password is incorrect."


# ------------------------------------------------------------------ market
def test_me_shows_the_market(api: Api) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    _, body, _ = password_login(api, PHONE, PASSWORD)

    status, me, _ = api.call("me", token=body["access_token"])

    assert status == 200
    assert me["user"]["market"] == "th"
    assert body["user"]["market"] == "th"


def test_a_token_of_another_market_is_refused(api: Api, env: SetEnv) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    _, body, _ = password_login(api, PHONE, PASSWORD)  # issued with MARKET=th
    env(MARKET="us")

    status, refused, _ = api.call("me", token=body["access_token"])

    assert status == 401
    assert error(refused)[0] == "TOKEN_INVALID"
    env(MARKET="th")
    assert api.call("me", token=body["access_token"])[0] == 200
