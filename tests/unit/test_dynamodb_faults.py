"""DynamoDB refusing or failing: conflicts are retried, failures are 503 with nothing half-done."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from phone_auth import aws
from phone_auth.store import calls
from tests.helpers import Api, last_code, sms_outbox, stored_user

PHONE = "+66812345678"


class FlakyDynamoDB:
    """Delegates to the real (moto) client, but fails the first `failures` calls of `operation`."""

    def __init__(self, real: Any, operation: str, failures: int, error: Any) -> None:
        self.real, self.operation, self.failures, self.error = real, operation, failures, error
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.real, name)
        if name != self.operation:
            return method

        def flaky(**kwargs: Any) -> Any:
            self.calls += 1
            if self.calls <= self.failures:
                raise ClientError(self.error, name)
            return method(**kwargs)

        return flaky


CONFLICT = {
    "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
    "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
}
OUTAGE = {"Error": {"Code": "InternalServerError", "Message": "boom"}}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("phone_auth.store.calls.time.sleep", lambda _seconds: None)


def flaky(monkeypatch: pytest.MonkeyPatch, operation: str, failures: int, error: dict[str, Any]) -> FlakyDynamoDB:
    client = FlakyDynamoDB(aws.dynamodb(), operation, failures, error)
    # Swap the module the store calls through, not phone_auth.aws itself (whose cached
    # functions the test teardown resets).
    monkeypatch.setattr(calls, "aws", SimpleNamespace(dynamodb=lambda: client))
    return client


def send_and_read_code(api: Api) -> str:
    status, _, _ = api.call("send_verification", {"phone": PHONE})
    assert status == 200
    return last_code(PHONE)


def test_a_transaction_conflict_is_retried_and_the_login_succeeds(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    code = send_and_read_code(api)
    client = flaky(monkeypatch, "transact_write_items", failures=2, error=CONFLICT)
    status, body, _ = api.call("verify_code", {"phone": PHONE, "verification_code": code})
    assert status == 200 and body["is_new_user"] is True
    assert client.calls == 3


def test_a_lasting_conflict_is_a_503_and_the_code_is_still_usable(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    code = send_and_read_code(api)
    flaky(monkeypatch, "transact_write_items", failures=99, error=CONFLICT)
    status, body, _ = api.call("verify_code", {"phone": PHONE, "verification_code": code})
    assert (status, body["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert stored_user(PHONE) is None  # nothing half-done: no user, code not spent
    monkeypatch.setattr(calls, "aws", aws)
    status, body, _ = api.call("verify_code", {"phone": PHONE, "verification_code": code})
    assert status == 200


def test_a_dynamodb_outage_on_send_is_a_503_and_no_sms_goes_out(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:

    flaky(monkeypatch, "transact_write_items", failures=99, error=OUTAGE)
    status, body, _ = api.call("send_verification", {"phone": PHONE})
    assert (status, body["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert sms_outbox() == []
