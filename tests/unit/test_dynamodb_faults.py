"""DynamoDB refusing or failing: conflicts are retried, failures are 503 with nothing half-done."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from phone_auth import aws
from phone_auth.errors import ServiceUnavailable
from phone_auth.store import accounts, calls
from tests.helpers import (
    Api,
    Context,
    FakeClock,
    SetEnv,
    last_code,
    load_handler,
    password_hash,
    password_login,
    put_user,
    request_event,
    sms_outbox,
    stored_user,
)

PHONE = "+66812345678"
UNKNOWN = "+66620001111"
PASSWORD = "Suan-Luang-2468"


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


# ------------------------------------------------------------------ unprocessed keys
class Unprocessed:
    """A botocore hook on the store's client: BatchGetItem leaves the keys ``withheld`` picks
    unprocessed (as DynamoDB does when it throttles a batch) for the first ``times`` calls, or
    always. The other keys are read as usual."""

    def __init__(self, withheld: Callable[[dict[str, Any]], bool], times: int | None = None) -> None:
        self.withheld, self.times, self.calls = withheld, times, 0
        self.client = aws.dynamodb()
        self.client.meta.events.register("provide-client-params.dynamodb.BatchGetItem", self._note_request)
        self.client.meta.events.register("after-call.dynamodb.BatchGetItem", self._withhold)

    def _note_request(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["requested"] = params["RequestItems"]

    def _withhold(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        self.calls += 1
        if self.times is not None and self.calls > self.times:
            return
        unprocessed: dict[str, Any] = {}
        for table, request in context["requested"].items():
            withheld = [key for key in request["Keys"] if self.withheld(key)]
            if not withheld:
                continue
            unprocessed[table] = {**request, "Keys": withheld}
            attributes = [set(key) for key in withheld]
            parsed["Responses"][table] = [
                item
                for item in parsed["Responses"].get(table, [])
                if not any({name: item[name] for name in names} in withheld for names in attributes)
            ]
        parsed["UnprocessedKeys"] = unprocessed

    def stop(self) -> None:
        self.client.meta.events.unregister("provide-client-params.dynamodb.BatchGetItem", self._note_request)
        self.client.meta.events.unregister("after-call.dynamodb.BatchGetItem", self._withhold)


@pytest.fixture
def unprocessed() -> Iterator[Callable[..., Unprocessed]]:
    hooks: list[Unprocessed] = []

    def start(withheld: Callable[[dict[str, Any]], bool], times: int | None = None) -> Unprocessed:
        hooks.append(Unprocessed(withheld, times))
        return hooks[-1]

    yield start
    for hook in hooks:
        hook.stop()


def limits_item(prefix: str) -> Callable[[dict[str, Any]], bool]:
    return lambda key: "id" in key and key["id"]["S"].startswith(prefix)


def user_item(key: dict[str, Any]) -> bool:
    return set(key) == {"phone"}


def bcrypt_checks(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The stored hashes login checked a password against (bcrypt work done)."""
    from phone_auth import passwords

    checked: list[str | None] = []
    verify = passwords.verify_password

    def spy(password: str, stored_hash: str | None, rounds: int) -> bool:
        checked.append(stored_hash)
        return verify(password, stored_hash, rounds)

    monkeypatch.setattr(passwords, "verify_password", spy)
    return checked


def assert_unavailable(answer: tuple[int, dict[str, Any], dict[str, str]]) -> None:
    status, body, headers = answer
    code = body.get("error", {}).get("code")
    assert (status, code, headers.get("Retry-After")) == (503, "SERVICE_UNAVAILABLE", "1"), body


def test_a_password_lock_left_unprocessed_is_a_503_not_an_open_lock(
    api: Api, clock: FakeClock, unprocessed: Callable[..., Unprocessed], monkeypatch: pytest.MonkeyPatch
) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    for index in range(5):
        password_login(api, PHONE, f"wrong-password-{index}")
    assert password_login(api, PHONE, PASSWORD)[1]["error"]["code"] == "LOGIN_LOCKED"
    hook = unprocessed(limits_item("password_lock#"))
    checked = bcrypt_checks(monkeypatch)

    assert_unavailable(password_login(api, PHONE, PASSWORD))
    assert checked == []  # no bcrypt work for a phone whose lock could not be read
    assert hook.calls == 5  # the first read and four retries
    hook.stop()
    assert password_login(api, PHONE, PASSWORD)[1]["error"]["code"] == "LOGIN_LOCKED"


def test_a_spent_client_budget_left_unprocessed_is_a_503_not_a_fresh_budget(
    api: Api, env: SetEnv, unprocessed: Callable[..., Unprocessed], monkeypatch: pytest.MonkeyPatch
) -> None:
    env(PASSWORD_FAILURES_PER_IP_PER_HOUR="2")
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    for index in range(2):
        password_login(api, UNKNOWN, f"wrong-password-{index}")
    assert password_login(api, PHONE, PASSWORD)[0] == 429
    unprocessed(limits_item("password_failures_per_ip"))
    checked = bcrypt_checks(monkeypatch)

    assert_unavailable(password_login(api, PHONE, PASSWORD))
    assert checked == []


def test_a_user_left_unprocessed_is_a_503_not_an_unknown_phone(
    api: Api, unprocessed: Callable[..., Unprocessed], monkeypatch: pytest.MonkeyPatch
) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    unprocessed(user_item)
    checked = bcrypt_checks(monkeypatch)

    assert_unavailable(password_login(api, PHONE, PASSWORD))
    assert checked == []
    assert limit_items() == []  # no failure counted against the owner or the client


def test_a_reset_whose_user_is_left_unprocessed_is_a_503_and_the_code_stays_usable(
    api: Api, unprocessed: Callable[..., Unprocessed]
) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    assert api.call("request_password_reset_otp", {"phone": PHONE})[0] == 200
    reset = {"phone": PHONE, "code": last_code(PHONE), "new_password": "durian season 2026"}
    hook = unprocessed(user_item)
    counted = limit_items()

    assert_unavailable(api.call("reset_password", reset))
    assert limit_items() == counted  # not counted as a wrong code
    hook.stop()
    assert api.call("reset_password", reset)[0] == 200


def test_keys_left_unprocessed_for_a_while_are_read_after_backoff_with_jitter(
    api: Api, unprocessed: Callable[..., Unprocessed], monkeypatch: pytest.MonkeyPatch
) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    slept: list[float] = []
    monkeypatch.setattr("phone_auth.store.calls.time.sleep", slept.append)
    hook = unprocessed(lambda key: True, times=3)

    status, body, _ = password_login(api, PHONE, PASSWORD)

    assert status == 200, body
    assert hook.calls == 4
    assert len(slept) == 3
    # Full jitter: each wait is anywhere from 0 to a ceiling that doubles.
    for retry, seconds in enumerate(slept):
        assert 0 <= seconds <= calls.UNPROCESSED_BASE_SECONDS * 2**retry


def test_retries_of_unprocessed_keys_stop_before_the_invocations_deadline(
    unprocessed: Callable[..., Unprocessed], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each retry needs room for its wait and a whole call (5 s at worst) before the deadline: with
    9 s left (8 s less the margin) and calls that take 2 s, the second retry has none, and the
    answer is the 503 at once."""
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    now = [1000.0]
    monkeypatch.setattr(aws, "time", SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setattr("phone_auth.store.calls.time.sleep", lambda seconds: now.__setitem__(0, now[0] + seconds))
    hook = unprocessed(user_item)
    hook.client.meta.events.register("after-call.dynamodb.BatchGetItem", lambda **_: now.__setitem__(0, now[0] + 2))
    context = Context("login_mobile")
    context.timeout_seconds = 9
    event = request_event("login_mobile", {"phone": PHONE, "password": PASSWORD})

    answer = load_handler("login_mobile").lambda_handler(event, context)

    assert (answer["statusCode"], json.loads(answer["body"])["error"]["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert hook.calls == 2
    assert now[0] - 1000.0 < 9 - aws.DEADLINE_MARGIN_SECONDS


def test_erasure_markers_left_unprocessed_are_a_503_for_the_stream_to_retry(
    api: Api, unprocessed: Callable[..., Unprocessed]
) -> None:
    hook = unprocessed(limits_item(""))
    with pytest.raises(ServiceUnavailable):
        accounts.erasures({"user-1", "user-2"})
    assert hook.calls == 5


def limit_items() -> list[str]:
    """The ids of every item in the limits table (counters, locks)."""
    from phone_auth.store import limits

    items = aws.dynamodb().scan(TableName=limits.table())["Items"]
    return sorted(item["id"]["S"] for item in items)
