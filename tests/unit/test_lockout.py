"""Locks one client cannot aim at a phone's owner.

- A client without a device token (untrusted) counts its wrong codes and wrong passwords per
  phone *and network* (IPv4 /24, IPv6 /64): past the usual thresholds that network is locked,
  no other. A phone-wide ceiling bounds all untrusted clients together (codes: 30 wrong a day;
  passwords: 100 a day); past it every untrusted client gets the lock answer until the day ends.
- A device that signed in gets a device token; presented later, its failures count against
  that device alone and no lock caused by another client refuses it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import (
    Answer,
    Api,
    FakeClock,
    SetEnv,
    existing_user,
    last_code,
    password_hash,
    password_login,
    put_user,
    register,
    send_code,
    verify_code,
    wrong_code,
)

PHONE = "+66812345678"
PASSWORD = "Suan-Luang-2468"
ATTACKER = "127.0.1.5"
OWNER = "127.0.2.9"


def error(answer: tuple[int, dict[str, Any], dict[str, str]]) -> tuple[int, str]:
    status, body, _ = answer
    return status, body.get("error", {}).get("code", "OK")


def burn_codes(api: Api, clock: FakeClock, wrong: int, source_ip: str, phone: str = PHONE) -> list[tuple[int, str]]:
    """``wrong`` wrong codes against ``phone``'s real codes from ``source_ip``, asking for new codes as they die."""
    answers: list[tuple[int, str]] = []
    while len(answers) < wrong:
        clock.advance(61)
        if error(send_code(api, phone, source_ip=source_ip))[0] != 200:
            answers.append(error(verify_code(api, "000000", phone, source_ip=source_ip)))
            continue
        code = last_code(phone)
        for _ in range(3):
            if len(answers) < wrong:
                answers.append(error(verify_code(api, wrong_code(code), phone, source_ip=source_ip)))
    return answers


@pytest.fixture
def owner() -> str:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    return PHONE


# ------------------------------------------------------------------ one network locks only itself
def test_one_client_cannot_lock_the_owner_out_of_every_way_in(
    api: Api, clock: FakeClock, env: SetEnv, owner: str
) -> None:
    """The measured attack: 10 wrong codes and 5 wrong passwords from one client locked the owner
    out of password login, code login and reset alike."""
    env(SMS_PER_PHONE_PER_HOUR="0", SMS_PER_PHONE_PER_DAY="0")
    assert burn_codes(api, clock, 10, ATTACKER)[-1] == (429, "PHONE_LOCKED")
    guesses = [error(password_login(api, owner, f"guess-{index}", source_ip=ATTACKER)) for index in range(5)]
    assert guesses[-1] == (429, "LOGIN_LOCKED")
    # The attacker's network is locked...
    assert error(password_login(api, owner, PASSWORD, source_ip="127.0.1.77")) == (429, "LOGIN_LOCKED")
    assert error(send_code(api, owner, source_ip="127.0.1.78")) == (429, "PHONE_LOCKED")
    # ...the owner's is not: every way in stays open.
    assert error(password_login(api, owner, PASSWORD, source_ip=OWNER)) == (200, "OK")
    clock.advance(61)
    assert error(send_code(api, owner, source_ip=OWNER)) == (200, "OK")
    assert error(verify_code(api, last_code(owner), owner, source_ip=OWNER)) == (200, "OK")
    assert error(send_code(api, owner, function="request_password_reset_otp", source_ip=OWNER)) == (200, "OK")
    reset = {"phone": owner, "code": last_code(owner), "new_password": "durian season 2026"}
    assert error(api.call("reset_password", reset, source_ip=OWNER)) == (200, "OK")


def test_an_ipv6_client_is_one_network_per_64(api: Api, clock: FakeClock, env: SetEnv, owner: str) -> None:
    for index in range(5):
        password_login(api, owner, f"guess-{index}", source_ip=f"2001:db8:7:1::{index + 1:x}")
    assert error(password_login(api, owner, PASSWORD, source_ip="2001:db8:7:1::99")) == (429, "LOGIN_LOCKED")
    assert error(password_login(api, owner, PASSWORD, source_ip="2001:db8:7:2::1")) == (200, "OK")


# ------------------------------------------------------------------ the phone-wide ceilings
def test_thirty_wrong_codes_a_day_close_codes_to_every_untrusted_client(
    api: Api, clock: FakeClock, env: SetEnv, owner: str
) -> None:
    env(SMS_PER_PHONE_PER_HOUR="0", SMS_PER_PHONE_PER_DAY="0")
    answers = []
    for network in range(3):  # 10 wrong codes each: each network locks itself, together the phone
        answers += burn_codes(api, clock, 10, f"127.0.{10 + network}.1")
    assert answers.count((429, "PHONE_LOCKED")) == 3
    clock.advance(61)
    assert error(send_code(api, owner, source_ip=OWNER)) == (429, "PHONE_LOCKED")
    status, _, headers = send_code(api, owner, source_ip="127.0.99.1")
    assert status == 429 and int(headers["Retry-After"]) > 15 * 60  # until the day's window ends
    assert error(password_login(api, owner, PASSWORD, source_ip=OWNER)) == (200, "OK")  # passwords stay open


def test_the_password_ceiling_closes_password_login_to_untrusted_clients(
    api: Api, clock: FakeClock, env: SetEnv, owner: str
) -> None:
    env(PASSWORD_FAILURES_CEILING_PER_PHONE="10")
    for network in range(2):
        for index in range(5):
            password_login(api, owner, f"guess-{index}", source_ip=f"127.0.{20 + network}.1")
    assert error(password_login(api, owner, PASSWORD, source_ip=OWNER)) == (429, "LOGIN_LOCKED")
    clock.advance(61)
    assert error(send_code(api, owner, source_ip=OWNER)) == (200, "OK")  # the code route stays open
    assert error(verify_code(api, last_code(owner), owner, source_ip=OWNER)) == (200, "OK")


# ------------------------------------------------------------------ device tokens
DEVICE_TOKEN = r"[0-9a-f]{16}\.[A-Za-z0-9_-]{43}"


def login(api: Api, password: str = PASSWORD, source_ip: str = OWNER, token: str | None = None) -> Answer:
    body = {"phone": PHONE, "password": password} | ({"device_token": token} if token else {})
    return api.call("login_mobile", body, source_ip=source_ip)


def code_login(api: Api, clock: FakeClock, token: str | None, source_ip: str = OWNER) -> Answer:
    clock.advance(61)
    extra = {"device_token": token} if token else {}
    status, body, _ = api.call("send_verification", {"phone": PHONE, **extra}, source_ip=source_ip)
    assert status == 200, body
    verify = {"phone": PHONE, "verification_code": last_code(PHONE), **extra}
    return api.call("verify_code", verify, source_ip=source_ip)


def test_every_sign_in_returns_a_device_token_and_a_valid_one_comes_back(
    api: Api, clock: FakeClock, owner: str
) -> None:
    status, body, _ = login(api)
    assert status == 200 and re.fullmatch(DEVICE_TOKEN, body["device_token"])
    token = body["device_token"]
    assert login(api, token=token)[1]["device_token"] == token
    assert code_login(api, clock, token)[1]["device_token"] == token
    assert api.call("logout", None, token=login(api, token=token)[1]["access_token"])[0] == 200
    assert login(api, token=token)[1]["device_token"] == token  # logout keeps the device credential
    # Malformed, forged or another user's: ignored, a new credential, never an error.
    put_user("+66898765432", password_hash=password_hash(PASSWORD))
    theirs = api.call("login_mobile", {"phone": "+66898765432", "password": PASSWORD})[1]["device_token"]
    forged = f"{token.split('.')[0]}.{'A' * 43}"
    for presented in ("not a token", forged, theirs, "0" * 16 + "." + "B" * 43):
        status, body, _ = login(api, token=presented)
        assert status == 200 and body["device_token"] not in (presented, token, theirs)
    stored = existing_user(PHONE).devices
    assert token.split(".")[1] not in str(stored)  # only keyed hashes are stored


def test_registration_returns_a_device_token(api: Api, clock: FakeClock) -> None:
    body = register(api, "+66891112222", "Sunflower-Rain-2026")
    assert re.fullmatch(DEVICE_TOKEN, body["device_token"])


def test_a_trusted_device_is_refused_by_no_lock_other_clients_caused(
    api: Api, clock: FakeClock, env: SetEnv, owner: str
) -> None:
    """Every untrusted way in closed by many networks (code ceiling, password ceiling, the phone's
    hourly SMS): the owner's device still signs in, by password, by code and through a reset,
    even from an attacker's network."""
    token = login(api)[1]["device_token"]
    env(PASSWORD_FAILURES_CEILING_PER_PHONE="10")
    for network in range(3):
        burn_codes(api, clock, 10, f"127.0.{30 + network}.1")
    for network in range(2):
        for index in range(5):
            login(api, f"guess-{index}", source_ip=f"127.0.{40 + network}.1")
    assert error(login(api)) == (429, "LOGIN_LOCKED")
    assert error(send_code(api, owner, source_ip=OWNER)) in ((429, "PHONE_LOCKED"), (429, "RATE_LIMITED"))

    assert error(login(api, source_ip="127.0.40.1", token=token)) == (200, "OK")
    assert error(code_login(api, clock, token, source_ip="127.0.30.1")) == (200, "OK")
    clock.advance(61)
    sent = api.call("request_password_reset_otp", {"phone": owner, "device_token": token}, source_ip=OWNER)
    assert error(sent) == (200, "OK")
    reset = {"phone": owner, "code": last_code(owner), "new_password": "durian season 2026", "device_token": token}
    assert error(api.call("reset_password", reset, source_ip=OWNER)) == (200, "OK")
    assert error(login(api, "durian season 2026", token=token)) == (200, "OK")


def test_a_trusted_devices_own_failures_lock_only_that_device(api: Api, clock: FakeClock, owner: str) -> None:
    token = login(api)[1]["device_token"]
    answers = [error(login(api, f"typo-{index}", token=token)) for index in range(5)]
    assert answers[-1] == (429, "LOGIN_LOCKED")
    assert error(login(api, token=token)) == (429, "LOGIN_LOCKED")
    assert error(login(api)) == (200, "OK")  # not the network's, not the phone's


def test_another_client_can_neither_replace_nor_burn_a_trusted_devices_code(
    api: Api, clock: FakeClock, owner: str
) -> None:
    token = login(api)[1]["device_token"]
    clock.advance(61)
    assert api.call("send_verification", {"phone": owner, "device_token": token})[0] == 200
    mine = last_code(owner)
    clock.advance(61)
    assert error(send_code(api, owner, source_ip=ATTACKER)) == (200, "OK")  # its own code, another item
    for _ in range(3):
        verify_code(api, wrong_code(mine), owner, source_ip=ATTACKER)
    verify = {"phone": owner, "verification_code": mine, "device_token": token}
    assert error(api.call("verify_code", verify)) == (200, "OK")


def test_device_credentials_expire_when_idle_and_past_the_cap(
    api: Api, clock: FakeClock, env: SetEnv, owner: str
) -> None:
    env(MAX_DEVICES_PER_USER="2")
    tokens = []
    for _ in range(3):
        clock.advance(1)
        tokens.append(login(api)[1]["device_token"])
    first, second, third = tokens
    assert {token.split(".")[0] for token in (second, third)} == set(existing_user(owner).devices)
    clock.advance(1)
    assert login(api, token=first)[1]["device_token"] != first  # the least recently used was forgotten
    clock.advance(1)
    assert login(api, token=third)[1]["device_token"] == third
    clock.advance(181 * 86400)
    assert login(api, token=third)[1]["device_token"] != third  # idle past DEVICE_TOKEN_IDLE_DAYS
