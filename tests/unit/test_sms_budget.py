"""The stack's hourly SMS budget counts real SMS only, and keeps a reserve for existing users.

- A send that texts nothing (a reset code for a phone without an account, a login code for a
  phone the imported-users market does not know) never raises ``sms_per_stack_per_hour``; the
  per-phone and per-client counters still count it, so its answers stay the same.
- Past the unreserved part of the budget (SMS_BUDGET_RESERVED_PERCENT), only phones with an
  account are texted; any other phone gets the usual 200 and no SMS (``SmsWithheld``). Past the
  whole budget everyone gets the same 503, user or not.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from phone_auth.observability import metrics
from tests.helpers import Api, FakeClock, SetEnv, put_user, send_code, sms_outbox

RESET = "request_password_reset_otp"


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    written: list[str] = []
    monkeypatch.setattr(metrics, "write", written.append)
    return written


def totals(lines: list[str]) -> dict[str, float]:
    """Metric name -> its total over every line written (the lines without a third dimension)."""
    found: dict[str, float] = {}
    for line in lines:
        document = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        (dimensions,) = directive["Dimensions"]
        if len(dimensions) == 2:
            for metric in directive["Metrics"]:
                found[metric["Name"]] = found.get(metric["Name"], 0) + document[metric["Name"]]
    return found


def stack_counter() -> int:
    """The stack budget's counter for the current hour (0 when nothing raised it)."""
    items = boto3.client("dynamodb").scan(TableName="phone-auth-test-limits")["Items"]
    return sum(int(item["hits"]["N"]) for item in items if item["id"]["S"].startswith("sms_per_stack_per_hour#"))


def answer(result: tuple[int, dict[str, Any], dict[str, str]]) -> tuple[int, str]:
    status, body, _ = result
    return status, body.get("error", {}).get("code", "OK")


def distinct(index: int, prefix: str = "+6689") -> tuple[str, str]:
    """A phone of its own prefix, from an address of its own (so only the stack budget is shared)."""
    return f"{prefix}{index:04d}000", f"203.0.{index // 200}.{index % 200 + 1}"


# ------------------------------------------------------------------ decoys
def test_reset_codes_for_phones_without_an_account_never_spend_the_budget(
    api: Api, clock: FakeClock, env: SetEnv, lines: list[str]
) -> None:
    env(SMS_PER_STACK_PER_HOUR="10")
    for index in range(40):
        phone, address = distinct(index)
        assert answer(send_code(api, phone, function=RESET, source_ip=address)) == (200, "OK")
    assert sms_outbox() == []
    assert stack_counter() == 0
    user = put_user("+66812345678")
    assert answer(send_code(api, user.phone, function=RESET, source_ip="198.51.100.1")) == (200, "OK")
    assert [to for to, _ in sms_outbox()] == [user.phone]
    assert stack_counter() == 1 == totals(lines)["CodesSent"]  # the pace alarm sees what the budget counts


def test_imported_only_login_codes_for_unknown_phones_never_spend_the_budget(
    api: Api, clock: FakeClock, env: SetEnv
) -> None:
    env(SMS_PER_STACK_PER_HOUR="5", SIGNUP_MODE="imported")
    for index in range(12):
        phone, address = distinct(index)
        assert answer(send_code(api, phone, source_ip=address)) == (200, "OK")
    assert stack_counter() == 0
    user = put_user("+66812345678")
    assert answer(send_code(api, user.phone, source_ip="198.51.100.1")) == (200, "OK")
    assert [to for to, _ in sms_outbox()] == [user.phone]


def test_a_decoy_still_counts_against_the_phone_and_the_client(api: Api, clock: FakeClock) -> None:
    for index in range(20):
        assert answer(send_code(api, f"+6689{index:04d}000", function=RESET, source_ip="198.51.100.9")) == (200, "OK")
    status, body, _ = send_code(api, "+66899999000", function=RESET, source_ip="198.51.100.9")
    assert (status, body["error"]["details"]["limit"]) == (429, "sms_per_ip_per_hour")


# ------------------------------------------------------------------ the reserve
def test_past_the_unreserved_part_only_existing_users_are_texted(
    api: Api, clock: FakeClock, env: SetEnv, lines: list[str]
) -> None:
    """Budget 10, 20 % reserved: 8 SMS for anyone, the last 2 for phones with an account; past
    10 everyone gets the same 503."""
    env(SMS_PER_STACK_PER_HOUR="10", SMS_BUDGET_RESERVED_PERCENT="20")
    users = [put_user(f"+6681{index:03d}0000").phone for index in range(3)]
    for index in range(8):
        phone, address = distinct(index)
        assert answer(send_code(api, phone, source_ip=address)) == (200, "OK")
    assert len(sms_outbox()) == 8

    newcomer, address = distinct(100)
    assert answer(send_code(api, newcomer, source_ip=address)) == (200, "OK")  # the usual answer...
    assert len(sms_outbox()) == 8  # ...and no SMS
    assert totals(lines)["SmsWithheld"] == 1

    for index, phone in enumerate(users[:2]):
        assert answer(send_code(api, phone, source_ip=f"198.51.100.{index + 1}")) == (200, "OK")
    assert [to for to, _ in sms_outbox()][8:] == users[:2]
    assert stack_counter() == 10 == totals(lines)["CodesSent"]

    spent = [answer(send_code(api, phone, source_ip="198.51.100.50")) for phone in (users[2], distinct(101)[0])]
    assert spent == [(503, "SMS_BUDGET_EXHAUSTED")] * 2  # user or not: the budget tells nothing
    assert len(sms_outbox()) == 10


def test_a_withheld_code_is_answered_and_limited_like_a_real_one(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(SMS_PER_STACK_PER_HOUR="10", SMS_BUDGET_RESERVED_PERCENT="90")  # 1 SMS for anyone
    assert answer(send_code(api, distinct(0)[0], source_ip="198.51.100.1")) == (200, "OK")
    newcomer = distinct(1)[0]
    first = send_code(api, newcomer, source_ip="198.51.100.2")
    assert answer(first) == (200, "OK") and len(sms_outbox()) == 1
    again = send_code(api, newcomer, source_ip="198.51.100.2")
    assert (again[0], again[1]["error"]["details"]["limit"]) == (429, "otp_resend_seconds")
    status, body, _ = api.call("verify_code", {"phone": newcomer, "verification_code": "123456"})
    assert body["error"]["code"] == "OTP_INVALID", status


def test_no_reserve_keeps_the_whole_budget_for_anyone(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(SMS_PER_STACK_PER_HOUR="4", SMS_BUDGET_RESERVED_PERCENT="0")
    sent = [answer(send_code(api, distinct(i)[0], source_ip=distinct(i)[1])) for i in range(5)]
    assert sent == [(200, "OK")] * 4 + [(503, "SMS_BUDGET_EXHAUSTED")]
    assert len(sms_outbox()) == 4
