"""Everything the functions write while whole sessions run — logs, metrics, the key tool's
output — holds no code, password, token, key or full phone number."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

import bcrypt
import boto3
import pytest

from ops import secret as secret_cli
from phone_auth.phones import mask_phone
from tests.helpers import Api, FakeClock, SetEnv, last_code, put_user, sms_outbox
from tests.helpers.lifecycle import LifecycleTap

PHONE = "+66812345678"
IMPORTED = "+66620001111"
NEW = "+66898765432"
PASSWORDS = ["Suan-Luang-2468", "mango sticky rice 42", "durian season 2026", "wrong-password-1"]


def secrets_in_ssm() -> list[str]:
    value = boto3.client("ssm").get_parameter(Name=os.environ["JWT_SECRET_PARAMETER_NAME"], WithDecryption=True)
    text = value["Parameter"]["Value"]
    found = [text]
    if text.startswith("{"):
        found += [key["secret"] for key in json.loads(text)["keys"]]
    return found


def test_whole_sessions_log_no_secret(
    api: Api,
    clock: FakeClock,
    env: SetEnv,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from phone_auth.observability import logger

    monkeypatch.setattr(logger.registered_handler, "stream", sys.stdout)  # bound at import time
    capsys.readouterr()
    tokens: list[str] = []
    key_values = secrets_in_ssm()

    def keep(body: dict[str, Any]) -> dict[str, Any]:
        tokens.extend(
            str(body[name]) for name in ("access_token", "refresh_token", "registration_token") if name in body
        )
        return body

    # Passwordless: a code, a wrong guess, the right one, me, refresh, the session list, logout here.
    api.call("send_verification", {"phone": "081-234-5678"})
    api.call("verify_code", {"phone": PHONE, "verification_code": "000000"})
    signed_in = keep(api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1])
    api.call("me", token=signed_in["access_token"])
    refreshed = keep(api.call("refresh", {"refresh_token": signed_in["refresh_token"]})[1])
    api.call("list_sessions", token=refreshed["access_token"])
    api.call("logout", {"scope": "current"}, token=refreshed["access_token"])

    # Registration of an imported user, then password logins, five wrong ones (a lock), logout everywhere.
    put_user(IMPORTED)
    api.call("request_registration_otp", {"phone": IMPORTED})
    registration = keep(api.call("verify_registration_otp", {"phone": IMPORTED, "code": last_code(IMPORTED)})[1])
    body = {"phone": IMPORTED, "password": PASSWORDS[1], "registration_token": registration["registration_token"]}
    keep(api.call("complete_registration", body)[1])
    put_user(PHONE, password_hash=bcrypt.hashpw(PASSWORDS[0].encode(), bcrypt.gensalt(10)).decode())
    keep(api.call("login_mobile", {"phone": PHONE, "password": PASSWORDS[0]})[1])
    for _ in range(5):
        api.call("login_mobile", {"phone": PHONE, "password": PASSWORDS[3]})
    clock.advance(3600)
    logged_in = keep(api.call("login_mobile", {"phone": PHONE, "password": PASSWORDS[0]})[1])
    api.call("logout", token=logged_in["access_token"])

    # A reset, then a key rotation (the tool prints only kids), and a sign-in under the new key.
    api.call("request_password_reset_otp", {"phone": PHONE})
    reset = {"phone": PHONE, "code": last_code(PHONE), "new_password": PASSWORDS[2]}
    assert api.call("reset_password", reset)[0] == 200
    name = os.environ["JWT_SECRET_PARAMETER_NAME"]
    assert secret_cli.main(["--stage", "test", "--parameter-name", name, "--rotate"]) == 0
    key_values += secrets_in_ssm()
    env()  # a cold start: the functions read the new key set
    token = keep(api.call("login_mobile", {"phone": PHONE, "password": PASSWORDS[2]})[1])["access_token"]

    # The account moves to another number (a wrong code first), then is deleted; its events go out.
    tap = LifecycleTap()
    assert api.call("request_phone_change", {"new_phone": NEW}, token=token)[0] == 200
    api.call("verify_phone_change", {"new_phone": NEW, "code": "000000"}, token=token)
    moved = keep(api.call("verify_phone_change", {"new_phone": NEW, "code": last_code(NEW)}, token=token)[1])
    assert api.call("delete_account", token=moved["access_token"])[0] == 200
    assert len(tap.publish()) == 3  # PhoneChanged, SessionsEnded, UserDeleted

    captured = capsys.readouterr()
    written = captured.out + captured.err
    assert '"message":"signed in"' in written and '"_aws"' in written, "logs and metrics captured"
    codes = {found.group(1) for _, text in sms_outbox() if (found := re.search(r"\b(\d{6})\b", text))}
    assert len(codes) == 4  # login, registration, reset, number change
    for code in codes:
        assert not re.search(rf"(?<!\d){code}(?!\d)", written), "an SMS code was written"
    for password in PASSWORDS:
        assert password not in written, "a password was written"
    assert len(tokens) >= 8
    for token in tokens:
        assert token not in written
        assert token.split(".")[-1] not in written, "a token's signature or secret part was written"
    for value in key_values:
        assert value not in written, "a JWT key was written"
    for phone in (PHONE, IMPORTED, NEW):
        for form in (phone, phone[1:], "0" + phone[3:], phone[3:]):
            assert form not in written, f"a phone was written in full ({form})"
    assert mask_phone(PHONE) in written  # the masked form is what correlates logs
