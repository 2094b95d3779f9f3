"""DynamoDB round trips per step, counted on the real client calls (the design's budget:
send <= 1 (+ SMS), verify <= 2, login <= 2, authorizer <= 1)."""

from __future__ import annotations

import collections
from types import SimpleNamespace
from typing import Any

import bcrypt
import pytest
from helpers import Api, SetEnv, last_code, put_user

from phone_auth import aws
from phone_auth.store import calls

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
    assert dict(dynamodb.calls) == {"put_item": 1}
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
    assert dict(dynamodb.calls) == {"get_item": 1, "update_item": 1}


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
