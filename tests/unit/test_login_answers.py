"""Password login's caps answer before any work, and alike for known and unknown phones.

- The per-client password cap (PASSWORD_FAILURES_PER_IP_PER_HOUR) refuses an invalid phone too,
  before any bcrypt: past it, "12345" cost a full bcrypt check per request.
- Past the client's lookups (LOOKUPS_PER_IP_PER_HOUR), every login answer that would tell whether
  a phone is a user is the same 429 for known and unknown phones; the lookup counter is read in
  login's one BatchGetItem.
"""

from __future__ import annotations

from typing import Any

import pytest

from phone_auth import passwords
from tests.helpers import Api, FakeClock, SetEnv, password_hash, password_login, put_user

IP = "198.51.100.7"
PASSWORD = "Suan-Luang-2468"


def error(answer: tuple[int, dict[str, Any], dict[str, str]]) -> tuple[int, str, str | None]:
    status, body, _ = answer
    details = body.get("error", {}).get("details") or {}
    return status, body.get("error", {}).get("code", "OK"), details.get("limit")


@pytest.fixture
def bcrypt_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    checks: list[int] = []
    real = passwords.verify_password

    def counted(*args: Any, **kwargs: Any) -> bool:
        checks.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(passwords, "verify_password", counted)
    return checks


# ------------------------------------------------------------------ caps before work
def test_past_the_client_password_cap_an_invalid_phone_runs_no_bcrypt(
    api: Api, clock: FakeClock, env: SetEnv, bcrypt_checks: list[int]
) -> None:
    env(PASSWORD_FAILURES_PER_IP_PER_HOUR="3")
    for _ in range(3):
        assert error(password_login(api, "12345", "wrong", source_ip=IP))[1] == "INVALID_CREDENTIALS"
    assert len(bcrypt_checks) == 3
    for phone in ("12345", "+66891234567"):
        assert error(password_login(api, phone, "wrong", source_ip=IP)) == (
            429,
            "RATE_LIMITED",
            "password_failures_per_ip_per_hour",
        )
    assert len(bcrypt_checks) == 3  # refused before any bcrypt, valid phone or not


def test_invalid_phones_count_against_the_client_password_cap(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(PASSWORD_FAILURES_PER_IP_PER_HOUR="2")
    password_login(api, "12345", "wrong", source_ip=IP)
    password_login(api, "+66891234567", "wrong", source_ip=IP)
    assert error(password_login(api, "12345", "wrong", source_ip=IP))[0] == 429
    assert error(password_login(api, "12345", "wrong", source_ip="203.0.113.9"))[1] == "INVALID_CREDENTIALS"


# ------------------------------------------------------------------ the lookup cap
def test_past_the_lookup_cap_login_answers_alike_for_known_and_unknown_phones(
    api: Api, clock: FakeClock, env: SetEnv
) -> None:
    env(LOOKUPS_PER_IP_PER_HOUR="3")
    put_user("+66811112222")  # a user without a password yet
    put_user("+66812345678", password_hash=password_hash(PASSWORD))
    for index in range(3):
        assert api.call("check_mobile", {"phone": f"+6689000{index:04d}"}, source_ip=IP)[0] == 200
    answers = {
        phone: error(password_login(api, phone, "not-the-password", source_ip=IP))
        for phone in ("+66811112222", "+66899990000", "+66812345678")
    }
    assert set(answers.values()) == {(429, "RATE_LIMITED", "lookups_per_ip_per_hour")}, answers
    assert error(password_login(api, "+66812345678", PASSWORD, source_ip=IP))[:2] == (200, "OK")  # the owner
