"""DynamoDB round trips per step, counted on the real client calls (the design's budget:
send <= 1 (+ SMS), verify <= 2, login <= 2, authorizer <= 1; a number change's verify 1 read +
1 transaction (+ the notice SMS), a deletion 1 Query + 1 transaction).

``test_every_step_makes_the_calls_of_the_table`` covers every step, the limits' refusals too,
with the counting code ``make bench`` prints its round-trip table from (tests.helpers.steps).
"""

from __future__ import annotations

import collections
from types import SimpleNamespace
from typing import Any

import bcrypt
import pytest

from phone_auth import aws
from phone_auth.store import calls
from tests.helpers import Api, SetEnv, last_code, put_user
from tests.helpers.steps import round_trip_table, run_steps

PHONE = "+66812345678"


class CountingDynamoDB:
    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: collections.Counter[str] = collections.Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.real, name)

        def counted(**kwargs: Any) -> Any:
            self.calls[name] += 1
            return method(**kwargs)

        return counted


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> CountingDynamoDB:
    client = CountingDynamoDB(aws.dynamodb())
    # Swap what the store calls through, not phone_auth.aws (the teardown resets its caches).
    monkeypatch.setattr(calls, "aws", SimpleNamespace(dynamodb=lambda: client))
    return client


def test_send_code_is_one_round_trip_in_each_signup_mode(api: Api, dynamodb: CountingDynamoDB, env: SetEnv) -> None:
    assert api.call("send_verification", {"phone": PHONE})[0] == 200
    assert dict(dynamodb.calls) == {"transact_write_items": 1}  # the code, the SMS limits, the lock
    env(SIGNUP_MODE="imported")
    put_user("+66891234567")
    dynamodb.calls.clear()
    assert api.call("send_verification", {"phone": "+66891234567"})[0] == 200
    assert dict(dynamodb.calls) == {"transact_write_items": 1}


def test_verify_code_is_two_round_trips(api: Api, dynamodb: CountingDynamoDB) -> None:
    api.call("send_verification", {"phone": PHONE})
    dynamodb.calls.clear()
    status, _, _ = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})
    assert status == 200
    assert dict(dynamodb.calls) == {"transact_write_items": 1, "get_item": 1}


def test_password_login_is_two_round_trips(api: Api, dynamodb: CountingDynamoDB) -> None:
    put_user(PHONE, password_hash=bcrypt.hashpw(b"Suan-Luang-2468", bcrypt.gensalt(10)).decode())
    status, _, _ = api.call("login_mobile", {"phone": PHONE, "password": "Suan-Luang-2468"})
    assert status == 200
    assert dict(dynamodb.calls) == {"batch_get_item": 1, "update_item": 1}  # user + lock + IP failures


def test_the_authorizer_is_one_round_trip(api: Api, dynamodb: CountingDynamoDB) -> None:
    api.call("send_verification", {"phone": PHONE})
    token = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]["access_token"]
    dynamodb.calls.clear()
    status, _, _ = api.authorize({"headers": {"Authorization": f"Bearer {token}"}})
    assert status == 200
    assert dict(dynamodb.calls) == {"get_item": 1}


def test_a_refresh_is_one_round_trip(api: Api, dynamodb: CountingDynamoDB) -> None:
    api.call("send_verification", {"phone": PHONE})
    body = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]
    dynamodb.calls.clear()
    status, _, _ = api.call("refresh", {"refresh_token": body["refresh_token"]})
    assert status == 200
    assert dict(dynamodb.calls) == {"update_item": 1}


def test_the_authorizer_stays_one_round_trip_with_sessions(api: Api, dynamodb: CountingDynamoDB) -> None:
    api.call("send_verification", {"phone": PHONE})
    body = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]
    refreshed = api.call("refresh", {"refresh_token": body["refresh_token"]})[1]
    dynamodb.calls.clear()
    status, _, _ = api.authorize({"headers": {"Authorization": f"Bearer {refreshed['access_token']}"}})
    assert status == 200
    assert dict(dynamodb.calls) == {"get_item": 1}


#: Every step: DynamoDB calls by operation, SSM reads per container (the secret, then cached),
#: SMS sent. docs/behaviour.md's round-trip table quotes this (make bench prints it).
EXPECTED_CALLS: dict[str, tuple[dict[str, int], int, int]] = {
    "send code": ({"transact_write_items": 1}, 1, 1),
    "verify code": ({"transact_write_items": 1, "get_item": 1}, 1, 0),
    "authorizer": ({"get_item": 1}, 1, 0),
    "me": ({"get_item": 1}, 0, 0),
    "refresh": ({"update_item": 1}, 1, 0),
    "list sessions": ({"get_item": 1}, 0, 0),
    "end session": ({"update_item": 1}, 0, 0),
    "logout": ({"get_item": 1, "update_item": 1}, 0, 0),
    "change number code": ({"transact_write_items": 1}, 1, 1),  # the code, its limits, the number's user
    "change number": ({"get_item": 1, "transact_write_items": 1}, 1, 1),  # the move, then the notice
    "delete account": ({"query": 1, "transact_write_items": 1}, 0, 0),  # the phone's codes, then the erasure
    "publish events": ({"batch_get_item": 1}, 0, 0),  # the erasure markers, then PutEvents
    "check mobile": ({"update_item": 1, "get_item": 1}, 0, 0),  # the lookup counter, then the user
    "registration code": ({"transact_write_items": 1}, 1, 1),
    "verify registration code": ({"transact_write_items": 1}, 1, 0),
    "complete registration": ({"get_item": 2, "transact_write_items": 1}, 1, 0),
    "password login": ({"batch_get_item": 1, "update_item": 1}, 1, 0),
    "reset code": ({"transact_write_items": 1}, 1, 1),
    "reset password": ({"batch_get_item": 1, "transact_write_items": 1}, 1, 0),
    # The limits: the refused write, the wrong guess counted, the failures of the phone from this
    # network and the phone's ceiling for untrusted clients.
    "wrong code": ({"transact_write_items": 2, "update_item": 2}, 1, 0),
    "wrong password": ({"batch_get_item": 1, "update_item": 3}, 0, 0),
    "send refused by a limit": ({"transact_write_items": 1}, 1, 0),
}


def test_every_step_makes_the_calls_of_the_table(env: SetEnv) -> None:
    env(OTP_RESEND_SECONDS="0")  # the recorded walk sends codes back to back
    table = round_trip_table(run_steps())
    found = {step: (row["dynamodb_calls"], row["ssm_reads_per_container"], row["sms"]) for step, row in table.items()}
    assert found == EXPECTED_CALLS


def test_no_sign_in_publishes_an_event_itself(
    api: Api, dynamodb: CountingDynamoDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lifecycle events come from the users table's stream: a sign-in neither waits for
    EventBridge nor calls it, and keeps its two round trips."""
    from phone_auth import event_bus

    def no_call(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a sign-in published an event itself")

    monkeypatch.setattr(event_bus, "publish", no_call)
    api.call("send_verification", {"phone": PHONE})
    dynamodb.calls.clear()
    assert api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[0] == 200
    assert dict(dynamodb.calls) == {"transact_write_items": 1, "get_item": 1}


def test_a_device_token_costs_no_round_trip(api: Api, dynamodb: CountingDynamoDB) -> None:
    """Trust is checked inside the write (send, verify) or the read (login) the step makes anyway."""
    put_user(PHONE, password_hash=bcrypt.hashpw(b"Suan-Luang-2468", bcrypt.gensalt(10)).decode())
    token = api.call("login_mobile", {"phone": PHONE, "password": "Suan-Luang-2468"})[1]["device_token"]
    dynamodb.calls.clear()
    answer = api.call("login_mobile", {"phone": PHONE, "password": "Suan-Luang-2468", "device_token": token})
    assert answer[1]["device_token"] == token
    assert dict(dynamodb.calls) == {"batch_get_item": 1, "update_item": 1}
    dynamodb.calls.clear()
    assert api.call("send_verification", {"phone": PHONE, "device_token": token})[0] == 200
    assert dict(dynamodb.calls) == {"transact_write_items": 1}
    dynamodb.calls.clear()
    verify = {"phone": PHONE, "verification_code": last_code(PHONE), "device_token": token}
    assert api.call("verify_code", verify)[1]["device_token"] == token
    assert dict(dynamodb.calls) == {"transact_write_items": 1, "get_item": 1}


def test_the_admin_routes_make_the_round_trips_their_flows_state(api: Api, dynamodb: CountingDynamoDB) -> None:
    """flows/back_office.py: a read and a write for each change, one read or one Scan to look, the
    erasure's Query and transaction after its read."""
    at = {"phone": "%2B66812345678"}
    expected: list[tuple[str, dict[str, Any] | None, dict[str, Any], dict[str, int]]] = [
        ("admin_put_user", {"profile": {"branch": "Hat Yai"}}, {}, {"get_item": 1, "put_item": 1}),
        ("admin_put_user", {"profile": {"branch": "Chiang Mai"}}, {}, {"get_item": 1, "update_item": 1}),
        ("admin_put_user", {"profile": {"branch": "Chiang Mai"}}, {}, {"get_item": 1}),
        ("admin_get_user", None, {}, {"get_item": 1}),
        ("admin_list_users", None, {"query": {"limit": "10"}}, {"scan": 1}),
        ("admin_disable_user", None, {}, {"get_item": 1, "update_item": 1}),
        ("admin_enable_user", None, {}, {"get_item": 1, "update_item": 1}),
        ("admin_sign_out_user", None, {}, {"get_item": 1, "update_item": 1}),
        ("admin_delete_user", None, {}, {"get_item": 1, "query": 1, "transact_write_items": 1}),
    ]
    for function, body, request, calls_made in expected:
        dynamodb.calls.clear()
        where: dict[str, Any] = request if function == "admin_list_users" else {"path_parameters": at}
        assert api.call(function, body, **where)[0] in (200, 201), function
        assert dict(dynamodb.calls) == calls_made, function
    # flows/imports.py: a job is one PutItem (its upload URL is signed without a call), a look one GetItem.
    dynamodb.calls.clear()
    status, started, _ = api.call("admin_start_import", {"file_name": "users.csv"})
    assert (status, dict(dynamodb.calls)) == (201, {"put_item": 1})
    dynamodb.calls.clear()
    assert api.call("admin_get_import", path_parameters={"import_id": started["import_id"]})[0] == 200
    assert dict(dynamodb.calls) == {"get_item": 1}
