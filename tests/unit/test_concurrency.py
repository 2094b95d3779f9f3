"""Races: many real threads released together by a Barrier, against one phone.

moto serialises each DynamoDB request like DynamoDB does (conftest makes its writes
atomic), so whatever races remain here are races of our own read-then-write sequences.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from tests.helpers import Api, FakeClock, SetEnv, last_code, load_handler, sms_outbox

PHONE = "+66812345678"
THREADS = 20


def together[T](work: Callable[[int], T], count: int = THREADS) -> list[T]:
    """Run work(0..count-1) on `count` threads that all start at the same moment."""
    barrier = threading.Barrier(count, timeout=30)

    def run(index: int) -> T:
        barrier.wait()
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def warm(*function_dirs: str) -> None:
    """Import the handlers and create the clients and keys before the threads start: a
    cold start is not what is under test, and twenty cold boto3 clients are slow."""
    from phone_auth import aws
    from phone_auth.keys import key_ring

    for function_dir in function_dirs:
        load_handler(function_dir)
    aws.dynamodb()
    aws.sns()
    key_ring()


def users() -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(os.environ["USERS_TABLE_NAME"])
    items: list[dict[str, Any]] = table.scan(ConsistentRead=True)["Items"]
    return items


def code_row(purpose: str = "login") -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(os.environ["OTP_TABLE_NAME"])
    item: dict[str, Any] = table.get_item(Key={"phone": PHONE, "purpose": purpose}, ConsistentRead=True)["Item"]
    return item


def outcome(answer: tuple[int, dict[str, Any], dict[str, str]]) -> tuple[int, str | None]:
    status, body, _ = answer
    return status, (body.get("error") or {}).get("code")


def test_a_code_used_by_twenty_requests_at_once_logs_in_exactly_once(api: Api, clock: FakeClock) -> None:
    warm("send_verification", "verify_code", "me", "authorizer")
    assert api.call("send_verification", {"phone": PHONE})[0] == 200
    code = last_code(PHONE)

    answers = together(lambda _: api.call("verify_code", {"phone": PHONE, "verification_code": code}))

    outcomes = Counter(outcome(a) for a in answers)
    assert outcomes[(200, None)] == 1, outcomes
    assert outcomes[(400, "OTP_NOT_FOUND")] == THREADS - 1, outcomes
    (winner,) = [body for status, body, _ in answers if status == 200]
    assert winner["is_new_user"] is True
    rows = users()
    assert len(rows) == 1
    assert rows[0]["id"] == winner["user"]["id"]
    assert api.call("me", token=winner["access_token"])[0] == 200


def test_twenty_first_logins_at_once_create_one_user_with_one_first_login(clock: FakeClock) -> None:
    from phone_auth import clock as clock_module
    from phone_auth.callers import ClientInfo
    from phone_auth.flows import sessions
    from phone_auth.store import users as user_store

    warm()
    proposed = [str(uuid.uuid4()) for _ in range(THREADS)]

    def first_login(index: int) -> dict[str, Any]:
        session, _ = sessions.new_session("sms_code", ClientInfo(source_ip="203.0.113.9", user_agent="test"))
        write = user_store.SignInWrite(
            PHONE,
            now_iso=clock_module.iso(clock_module.now()),
            create_user=True,
            verified=True,
            session=session,
            proposed_id=proposed[index],
        )
        sign_in = user_store.record_sign_in(write)
        assert sign_in.is_new_user == (sign_in.user.first_login_id == proposed[index])
        return {
            "id": sign_in.user.id,
            "first_login_id": sign_in.user.first_login_id,
            "created_at": sign_in.user.created_at,
        }

    items = together(first_login)

    rows = users()
    assert len(rows) == 1
    winners = [index for index, item in enumerate(items) if item["first_login_id"] == proposed[index]]
    assert len(winners) == 1
    (winner,) = winners
    assert {item["id"] for item in items} == {proposed[winner]}
    assert {item["first_login_id"] for item in items} == {proposed[winner]}
    assert {item["created_at"] for item in items} == {rows[0]["created_at"]}
    assert rows[0]["id"] == proposed[winner]
    assert int(rows[0]["session_epoch"]) == 0


def test_twenty_wrong_guesses_at_once_never_count_past_the_limit(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(OTP_MAX_ATTEMPTS="3")
    warm("send_verification", "verify_code")
    assert api.call("send_verification", {"phone": PHONE})[0] == 200
    code = last_code(PHONE)
    guesses = [f"{(int(code) + 1 + index) % 1_000_000:06d}" for index in range(THREADS)]

    answers = together(lambda index: api.call("verify_code", {"phone": PHONE, "verification_code": guesses[index]}))

    outcomes = Counter(outcome(a) for a in answers)
    assert set(outcomes) <= {(400, "OTP_INVALID"), (429, "OTP_ATTEMPTS_EXCEEDED")}, outcomes
    assert outcomes[(400, "OTP_INVALID")] <= 3, outcomes
    assert outcomes[(429, "OTP_ATTEMPTS_EXCEEDED")] >= THREADS - 3, outcomes
    assert int(code_row()["attempts"]) == 3
    # The code is dead, even the right one.
    assert outcome(api.call("verify_code", {"phone": PHONE, "verification_code": code})) == (
        429,
        "OTP_ATTEMPTS_EXCEEDED",
    )
    assert users() == []


def test_twenty_sends_at_once_text_exactly_one_code(api: Api, clock: FakeClock) -> None:
    warm("send_verification")

    answers = together(lambda _: api.call("send_verification", {"phone": PHONE}))

    outcomes = Counter(outcome(a) for a in answers)
    assert outcomes == {(200, None): 1, (429, "RATE_LIMITED"): THREADS - 1}, outcomes
    assert len(sms_outbox()) == 1
    for status, _, headers in answers:
        if status == 429:
            assert int(headers["Retry-After"]) >= 1
    # The one code sent is the one stored.
    assert api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[0] == 200


def test_twenty_logouts_at_once_with_one_token_end_the_session_once(api: Api, clock: FakeClock) -> None:
    warm("send_verification", "verify_code", "logout", "authorizer")
    api.call("send_verification", {"phone": PHONE})
    token = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]["access_token"]

    answers = together(lambda _: api.call("logout", token=token))

    outcomes = Counter(outcome(a) for a in answers)
    assert outcomes[(200, None)] >= 1, outcomes
    assert set(outcomes) <= {(200, None), (401, "TOKEN_REVOKED")}, outcomes
    (row,) = users()
    assert row["is_active"] is False
    # The conditional write bumps the epoch once, however many got past the authorizer.
    assert int(row["session_epoch"]) == 1
