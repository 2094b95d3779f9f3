"""Abuse and cost limits: each refuses with the right code and Retry-After, ends by itself,
can be switched off with 0, holds under concurrency, and treats unknown phones like known ones."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.helpers import (
    Api,
    FakeClock,
    SetEnv,
    existing_user,
    last_code,
    password_hash,
    password_login,
    put_user,
    send_code,
    sms_outbox,
    verify_code,
    wrong_code,
)

PHONE = "+66812345678"
UNKNOWN = "+66899990000"
IP = "198.51.100.7"
PASSWORD = "Suan-Luang-2468"
THREADS = 20


@pytest.fixture
def api() -> Api:
    """Every call comes from one client, IP, unless it says otherwise."""
    return Api(source_ip=IP)


def error(answer: tuple[int, dict[str, Any], dict[str, str]]) -> tuple[int, str, str | None]:
    status, body, _ = answer
    return status, body.get("error", {}).get("code", ""), (body.get("error", {}).get("details") or {}).get("limit")


# ------------------------------------------------------------------ countries
def test_a_number_of_another_country_is_refused_before_any_write_or_sms(api: Api, clock: FakeClock) -> None:
    for phone in ("+14155550123", "+61412345678", "+2348031234567"):
        assert error(send_code(api, phone))[:2] == (400, "COUNTRY_NOT_ALLOWED")
    assert sms_outbox() == []
    import boto3

    assert boto3.client("dynamodb").scan(TableName="phone-auth-test-limits")["Items"] == []


def test_allowed_countries_can_name_several_or_any(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(ALLOWED_COUNTRIES="TH,US")
    assert send_code(api, "+13128059851")[0] == 200
    assert error(send_code(api, "+61412345678"))[:2] == (400, "COUNTRY_NOT_ALLOWED")
    env(ALLOWED_COUNTRIES="*")
    assert send_code(api, "+61412345678")[0] == 200


# ------------------------------------------------------------------ SMS per phone, IP, prefix, stack
def test_a_phone_gets_at_most_five_codes_an_hour_then_a_named_429(api: Api, clock: FakeClock) -> None:
    for _ in range(5):
        assert send_code(api)[0] == 200
        clock.advance(61)
    status, body, headers = send_code(api)
    assert (status, body["error"]["code"], body["error"]["details"]["limit"]) == (
        429,
        "RATE_LIMITED",
        "sms_per_phone_per_hour",
    )
    assert int(headers["Retry-After"]) == 3600 - 5 * 61
    assert len(sms_outbox()) == 5
    clock.advance(3600 - 5 * 61)  # the next hour
    assert send_code(api)[0] == 200


def test_a_phone_gets_at_most_ten_codes_a_day(api: Api, clock: FakeClock) -> None:
    sent = 0
    for _ in range(30):
        status = send_code(api)[0]
        sent += status == 200
        clock.advance(721)  # five an hour at most
    assert sent == 10
    assert error(send_code(api))[2] == "sms_per_phone_per_day"


def test_the_limits_count_across_purposes(api: Api, clock: FakeClock) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    for function in ("send_verification", "request_password_reset_otp") * 3:
        send_code(api, function=function)
        clock.advance(61)
    assert len(sms_outbox()) == 5


def test_one_client_cannot_text_many_numbers(api: Api, clock: FakeClock) -> None:
    statuses = [send_code(api, f"+668{index:08d}1"[:12], source_ip=IP)[0] for index in range(25)]
    assert statuses.count(200) == 20
    assert error(send_code(api, "+66891112233", source_ip=IP))[2] == "sms_per_ip_per_hour"
    assert send_code(api, "+66891112233", source_ip="198.51.100.8")[0] == 200  # another client is not affected


def test_sequential_numbers_share_a_prefix_budget(api: Api, clock: FakeClock) -> None:
    numbers = [f"+66812345{index:03d}" for index in range(25)]
    answers = [send_code(api, number, source_ip=f"203.0.113.{index}") for index, number in enumerate(numbers)]
    assert [status for status, _, _ in answers].count(200) == 20
    assert error(answers[-1])[2] == "sms_per_prefix_per_hour"


def test_the_stack_budget_answers_503_with_retry_after(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(SMS_PER_STACK_PER_HOUR="3")
    for index in range(3):
        assert send_code(api, f"+6681{index}000000", source_ip=f"203.0.113.{index}")[0] == 200
    status, body, headers = send_code(api, "+66819000000", source_ip="203.0.113.99")
    assert (status, body["error"]["code"]) == (503, "SMS_BUDGET_EXHAUSTED")
    assert int(headers["Retry-After"]) == 3600


def test_zero_switches_a_limit_off(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(SMS_PER_PHONE_PER_HOUR="0", SMS_PER_PHONE_PER_DAY="0")
    for _ in range(12):
        assert send_code(api)[0] == 200
        clock.advance(61)


def test_twenty_concurrent_sends_from_one_client_stop_exactly_at_its_limit(
    api: Api, clock: FakeClock, env: SetEnv
) -> None:
    env(SMS_PER_IP_PER_HOUR="7")
    send_code(api, "+66800000999", source_ip="203.0.113.200")  # warm the handler
    barrier = threading.Barrier(THREADS)

    def attempt(index: int) -> int:
        barrier.wait()
        return send_code(api, f"+6689{index:07d}", source_ip=IP)[0]

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = Counter(pool.map(attempt, range(THREADS)))
    assert statuses == {200: 7, 429: THREADS - 7}
    assert sum(1 for to, _ in sms_outbox() if to.startswith("+6689")) == 7


# ------------------------------------------------------------------ wrong codes, the phone lock
def test_wrong_codes_across_purposes_and_resends_lock_the_phone(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(SMS_PER_PHONE_PER_HOUR="0", SMS_PER_PHONE_PER_DAY="0")
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    failures = 0
    while failures < 9:
        send_code(api)
        code = last_code(PHONE)
        for _ in range(3):
            if failures == 9:
                break
            assert error(verify_code(api, wrong_code(code)))[:2] in (
                (400, "OTP_INVALID"),
                (429, "OTP_ATTEMPTS_EXCEEDED"),
            )
            failures += 1
        clock.advance(61)
    api.call("request_password_reset_otp", {"phone": PHONE}, source_ip=IP)  # another purpose, same budget
    reset_code = last_code(PHONE)
    status, body, headers = api.call(
        "reset_password",
        {"phone": PHONE, "code": wrong_code(reset_code), "new_password": "durian season 2026"},
        source_ip=IP,
    )

    assert (status, body["error"]["code"]) == (429, "PHONE_LOCKED")
    assert int(headers["Retry-After"]) == 15 * 60
    # While locked: no code is sent and not even the right one is accepted.
    right = {"phone": PHONE, "code": reset_code, "new_password": "durian season 2026"}
    assert error(api.call("reset_password", right, source_ip=IP))[:2] == (429, "PHONE_LOCKED")
    assert error(send_code(api))[:2] == (429, "PHONE_LOCKED")
    # The lock ends by itself: codes are sent and accepted again.
    clock.advance(15 * 60)
    assert api.call("request_password_reset_otp", {"phone": PHONE}, source_ip=IP)[0] == 200
    right["code"] = last_code(PHONE)
    assert api.call("reset_password", right, source_ip=IP)[0] == 200


def test_each_further_wrong_code_doubles_the_lock(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(OTP_FAILURES_PER_PHONE="2", SMS_PER_PHONE_PER_HOUR="0", SMS_PER_PHONE_PER_DAY="0")
    send_code(api)
    assert error(verify_code(api, wrong_code(last_code(PHONE))))[1] == "OTP_INVALID"
    lengths = []
    for _ in range(4):
        status, body, headers = verify_code(api, wrong_code(last_code(PHONE)))
        assert (status, body["error"]["code"]) == (429, "PHONE_LOCKED")
        lengths.append(int(headers["Retry-After"]))
        clock.advance(lengths[-1])
        assert send_code(api)[0] == 200  # the lock has ended by itself
    assert lengths == [900, 1800, 3600, 7200]


def test_a_locked_phone_can_still_log_in_with_its_password(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(OTP_FAILURES_PER_PHONE="1")
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    send_code(api)
    assert error(verify_code(api, wrong_code(last_code(PHONE))))[1] == "PHONE_LOCKED"
    assert api.call("login_mobile", {"phone": PHONE, "password": PASSWORD}, source_ip=IP)[0] == 200


def test_one_client_cannot_check_codes_for_many_phones(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(CODE_CHECKS_PER_IP_PER_HOUR="5")
    phones = [f"+66891{index:06d}" for index in range(6)]
    for phone in phones:
        send_code(api, phone, source_ip=f"203.0.113.{len(phone)}")
    answers = [error(verify_code(api, "000000", phone)) for phone in phones]
    assert [code for _, code, _ in answers[:5]] == ["OTP_INVALID"] * 5
    assert answers[5] == (429, "RATE_LIMITED", "code_checks_per_ip_per_hour")
    right = last_code(phones[5])
    assert error(verify_code(api, right, phones[5]))[2] == "code_checks_per_ip_per_hour"  # even the right one
    assert verify_code(api, right, phones[5], source_ip="203.0.113.250")[0] == 200  # from another client it works


def test_twenty_concurrent_wrong_codes_never_pass_the_failure_budget(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(OTP_MAX_ATTEMPTS="10", OTP_FAILURES_PER_PHONE="4")
    send_code(api)
    code = last_code(PHONE)
    barrier = threading.Barrier(THREADS)

    def attempt(_: int) -> str:
        barrier.wait()
        return error(verify_code(api, wrong_code(code)))[1]

    with ThreadPoolExecutor(THREADS) as pool:
        codes = Counter(pool.map(attempt, range(THREADS)))
    # The code's attempts counter stops at 10; the phone locks once 4 failures are counted.
    assert set(codes) <= {"OTP_INVALID", "PHONE_LOCKED", "OTP_ATTEMPTS_EXCEEDED"}
    assert codes["OTP_INVALID"] <= 3
    assert error(verify_code(api, code))[1] == "PHONE_LOCKED"


# ------------------------------------------------------------------ passwords
def test_five_wrong_passwords_lock_even_the_right_one_then_the_lock_doubles(api: Api, clock: FakeClock) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    answers = [error(password_login(api, PHONE, f"wrong-password-{index}")) for index in range(5)]
    assert [code for _, code, _ in answers] == ["INVALID_CREDENTIALS"] * 4 + ["LOGIN_LOCKED"]
    status, body, headers = password_login(api, PHONE, PASSWORD)
    assert (status, body["error"]["code"], headers["Retry-After"]) == (429, "LOGIN_LOCKED", "60")
    clock.advance(60)
    assert error(password_login(api, PHONE, "wrong-again"))[1] == "LOGIN_LOCKED"  # the 6th: 2 minutes
    assert password_login(api, PHONE, PASSWORD)[2]["Retry-After"] == "120"
    clock.advance(120)
    assert password_login(api, PHONE, PASSWORD)[0] == 200


def test_a_reset_by_code_ends_the_login_lock_so_the_owner_logs_in_at_once(api: Api, clock: FakeClock) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    for index in range(5):  # from the owner's own network (another client of the same /24)
        password_login(api, PHONE, f"attacker-guess-{index}", source_ip=f"198.51.100.{index + 20}")
    assert error(password_login(api, PHONE, PASSWORD))[1] == "LOGIN_LOCKED"
    api.call("request_password_reset_otp", {"phone": PHONE}, source_ip=IP)
    reset = {"phone": PHONE, "code": last_code(PHONE), "new_password": "durian season 2026"}
    assert api.call("reset_password", reset, source_ip=IP)[0] == 200
    assert password_login(api, PHONE, "durian season 2026")[0] == 200
    # The failures were forgiven too.
    assert error(password_login(api, PHONE, "one more typo"))[1] == "INVALID_CREDENTIALS"


def test_the_login_lock_is_capped_at_an_hour(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(PASSWORD_FAILURES_PER_PHONE="1")
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    lengths = []
    for _ in range(9):
        _, _, headers = password_login(api, PHONE, "wrong-password")
        lengths.append(int(headers["Retry-After"]))
        clock.advance(lengths[-1])
    assert lengths == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]


def test_password_spraying_from_one_client_is_capped(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(PASSWORD_FAILURES_PER_IP_PER_HOUR="6")
    for index in range(6):
        assert error(password_login(api, f"+66891{index:06d}", "wrong-password"))[1] == "INVALID_CREDENTIALS"
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    assert error(password_login(api, PHONE, PASSWORD)) == (429, "RATE_LIMITED", "password_failures_per_ip_per_hour")
    assert password_login(api, PHONE, PASSWORD, source_ip="203.0.113.5")[0] == 200


# ------------------------------------------------------------------ lookups
def test_lookups_from_one_client_are_capped(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(LOOKUPS_PER_IP_PER_HOUR="3", SIGNUP_MODE="imported")
    put_user(PHONE)
    assert api.call("check_mobile", {"phone": PHONE}, source_ip=IP)[0] == 200
    assert error(api.call("request_registration_otp", {"phone": UNKNOWN}, source_ip=IP))[1] == "PHONE_NOT_ALLOWED"
    assert error(password_login(api, PHONE, PASSWORD))[1] == "REGISTRATION_REQUIRED"  # tells the phone is a user
    assert error(api.call("check_mobile", {"phone": UNKNOWN}, source_ip=IP)) == (
        429,
        "RATE_LIMITED",
        "lookups_per_ip_per_hour",
    )


# ------------------------------------------------------------------ no enumeration through limits
def sequence_for(api: Api, clock: FakeClock, phone: str) -> list[tuple[int, str]]:
    """What a client sees asking for reset codes and guessing them, then for password logins."""
    seen = []
    for _ in range(3):
        status, body, _ = api.call("request_password_reset_otp", {"phone": phone}, source_ip=IP)
        seen.append((status, body.get("error", {}).get("code", "")))
        for guess in ("111111", "222222", "333333", "444444"):
            answer = api.call(
                "reset_password", {"phone": phone, "code": guess, "new_password": "durian season 2026"}, source_ip=IP
            )
            seen.append((answer[0], answer[1]["error"]["code"]))
        clock.advance(61)
    for index in range(7):
        answer = password_login(api, phone, f"not-the-password-{index}")
        seen.append((answer[0], answer[1]["error"]["code"]))
    return seen


def test_known_and_unknown_phones_see_the_same_statuses_and_codes(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(OTP_FAILURES_PER_PHONE="7", PASSWORD_FAILURES_PER_IP_PER_HOUR="0", CODE_CHECKS_PER_IP_PER_HOUR="0")
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    known = sequence_for(api, clock, PHONE)
    clock.advance(86400)
    unknown = sequence_for(api, clock, UNKNOWN)
    assert known == unknown
    assert (429, "PHONE_LOCKED") in known and (429, "LOGIN_LOCKED") in known
    assert sum(1 for to, _ in sms_outbox() if to == UNKNOWN) == 0  # and no SMS for the unknown phone


# ------------------------------------------------------------------ cheap requests stay cheap
def test_a_reset_with_a_code_that_cannot_be_right_runs_no_bcrypt(
    api: Api, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth import passwords

    put_user(PHONE, password_hash=password_hash(PASSWORD))
    api.call("request_password_reset_otp", {"phone": PHONE}, source_ip=IP)
    hashes: list[str] = []
    real = passwords.hash_password

    def counted(*args: Any) -> str:
        hashes.append("x")
        return real(*args)

    monkeypatch.setattr(passwords, "hash_password", counted)
    body = {"phone": PHONE, "code": wrong_code(last_code(PHONE)), "new_password": "durian season 2026"}
    assert error(api.call("reset_password", body, source_ip=IP))[1] == "OTP_INVALID"
    unknown = {"phone": UNKNOWN, "code": "123456", "new_password": "durian season 2026"}
    assert error(api.call("reset_password", unknown, source_ip=IP))[1] == "OTP_NOT_FOUND"
    assert hashes == []
    body["code"] = last_code(PHONE)
    assert api.call("reset_password", body, source_ip=IP)[0] == 200
    assert hashes == ["x"]


def test_complete_registration_with_a_wrong_token_runs_no_bcrypt(
    api: Api, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth import passwords

    put_user(PHONE)
    calls: list[str] = []

    def counted(*args: Any) -> str:
        calls.append("x")
        return "never"

    monkeypatch.setattr(passwords, "hash_password", counted)
    body = {"phone": PHONE, "password": "mango sticky rice 42", "registration_token": "x" * 43}
    assert error(api.call("complete_registration", body))[1] == "REGISTRATION_TOKEN_INVALID"
    assert calls == []


def test_a_resend_never_destroys_an_issued_registration_token(api: Api, clock: FakeClock) -> None:
    put_user(PHONE)
    api.call("request_registration_otp", {"phone": PHONE}, source_ip=IP)
    token = api.call("verify_registration_otp", {"phone": PHONE, "code": last_code(PHONE)}, source_ip=IP)[1]
    clock.advance(61)
    assert api.call("request_registration_otp", {"phone": PHONE}, source_ip="203.0.113.66")[0] == 200
    body = {"phone": PHONE, "password": "mango sticky rice 42", "registration_token": token["registration_token"]}
    assert api.call("complete_registration", body)[0] == 200
    assert existing_user(PHONE).password_hash is not None


# ------------------------------------------------------------------ fixed test numbers
def test_a_fixed_test_number_gets_no_sms_and_its_fixed_code_works(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(TEST_PHONE_NUMBERS="+66800000001=424242,+66800000002=135790")
    assert send_code(api, "+66800000001")[0] == 200
    assert sms_outbox() == []
    assert error(verify_code(api, "000000", "+66800000001"))[1] == "OTP_INVALID"
    clock.advance(61)
    send_code(api, "+66800000001")
    status, body, _ = verify_code(api, "424242", "+66800000001")
    assert status == 200 and body["is_new_user"] is True


def test_production_refuses_test_numbers() -> None:
    from phone_auth.settings import SettingsError, load_settings
    from tests.helpers import TEST_ENV

    with pytest.raises(SettingsError, match="TEST_PHONE_NUMBERS"):
        load_settings({**TEST_ENV, "ENVIRONMENT": "production", "TEST_PHONE_NUMBERS": "+66800000001=123456"})


# ------------------------------------------------------------------ timing
def test_a_wrong_password_against_a_cheaper_hash_takes_as_long_as_an_unknown_phone(
    api: Api, clock: FakeClock, env: SetEnv
) -> None:
    """Paired, alternating: the answer for a known phone whose imported hash has cost 10 is
    held as long as the dummy check at the configured cost 11 takes for an unknown phone."""
    import statistics
    import time

    env(BCRYPT_ROUNDS="11", PASSWORD_FAILURES_PER_PHONE="0", PASSWORD_FAILURES_PER_IP_PER_HOUR="0")
    put_user(PHONE, password_hash=password_hash(PASSWORD, rounds=10))
    password_login(api, UNKNOWN, "warm-up")
    ratios = []
    for _ in range(9):
        started = time.perf_counter()
        password_login(api, PHONE, "wrong-password")
        known = time.perf_counter() - started
        started = time.perf_counter()
        password_login(api, UNKNOWN, "wrong-password")
        unknown = time.perf_counter() - started
        ratios.append(known / unknown)
    # Without the padding a cost-10 check takes about half as long as a cost-11 one.
    assert statistics.median(ratios) > 0.8, ratios
