"""Rotating the JWT key set signs nobody out: access tokens carry their kid, and codes,
registration and refresh tokens are checked against every live key. Retiring a key ends
what only it could check."""

from __future__ import annotations

import os

import jwt

from ops import secret as secret_cli
from tests.helpers import Api, FakeClock, SetEnv, last_code, put_user, sign_in

PHONE = "+66812345678"


def rotate(*extra: str) -> None:
    name = os.environ["JWT_SECRET_PARAMETER_NAME"]
    assert secret_cli.main(["--stage", "test", "--parameter-name", name, *extra]) == 0


def cold_start(env: SetEnv) -> None:
    env()  # forget cached settings, clients and the key set, as a new container would


def test_what_was_issued_before_a_rotation_still_works_after_it(api: Api, clock: FakeClock, env: SetEnv) -> None:
    before = sign_in(api)
    old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
    put_user("+66620001111")
    api.call("request_registration_otp", {"phone": "+66620001111"})
    registration_code = last_code("+66620001111")
    clock.advance(61)
    api.call("send_verification", {"phone": PHONE})
    login_code = last_code(PHONE)  # a code in flight during the rotation

    rotate("--rotate")
    cold_start(env)

    after = api.call("verify_code", {"phone": PHONE, "verification_code": login_code})[1]
    assert jwt.get_unverified_header(after["access_token"])["kid"] != old_kid  # signed with the new key
    assert api.call("me", token=before["access_token"])[0] == 200  # verified with the old one
    refreshed = api.call("refresh", {"refresh_token": before["refresh_token"]})
    assert refreshed[0] == 200, refreshed[1]
    token = api.call("verify_registration_otp", {"phone": "+66620001111", "code": registration_code})
    assert token[0] == 200, token[1]


def test_retiring_the_old_key_ends_what_only_it_could_check(api: Api, clock: FakeClock, env: SetEnv) -> None:
    before = sign_in(api, "+66898765432")
    rotate("--rotate")
    cold_start(env)
    refreshed_after = sign_in(api)  # a session whose refresh token is hashed with the new key
    rotate("--retire", "--force")
    cold_start(env)

    status, body, _ = api.call("me", token=before["access_token"])
    assert (status, body["error"]["code"]) == (401, "TOKEN_INVALID")  # its kid is gone
    status, body, _ = api.call("refresh", {"refresh_token": before["refresh_token"]})
    assert (status, body["error"]["code"]) == (401, "REFRESH_TOKEN_INVALID")  # not reuse: its key retired
    assert api.call("refresh", {"refresh_token": refreshed_after["refresh_token"]})[0] == 200
