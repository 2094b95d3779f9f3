"""Slow and unreachable dependencies: every function answers our 503 before its Lambda Timeout.

phone_auth/aws.py bounds one call to each dependency (``CallLimits.worst_case_seconds``) and
template.yaml gives each function behind API Gateway a Timeout above a cold start plus its longest
chain of calls, below API Gateway's 29 s. Here that sum is checked against the template, and real
handlers run against a local socket server that accepts
connections and never answers (AWS_ENDPOINT_URL_<SERVICE> pointed at it for one test): the
answer is a 503 with Retry-After, in no more time than the configuration allows, and nothing
is left half-done (an SMS that did not go out leaves no usable code).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from phone_auth import aws
from phone_auth.aws import CallLimits
from phone_auth.errors import ServiceUnavailable
from phone_auth.observability import metrics
from tests.helpers import (
    ROOT,
    Api,
    Context,
    SetEnv,
    api_functions,
    function_memory,
    function_timeouts,
    last_code,
    load_event,
    load_handler,
    put_user,
    sms_outbox,
)

PHONE = "+66812345678"
#: API Gateway gives up on an integration after 29 s: every Timeout must stay below it.
API_GATEWAY_TIMEOUT = 29
MARGIN_SECONDS = 2
#: Scheduling on a shared 2-core machine; the bounds themselves hold every backoff at its maximum.
SLACK_SECONDS = 1.5
#: The slowest cold start `make bench` measured (python -m devtools.bench --cold-only, 2026-12-03, 2-core
#: Xeon, load 1.6-2.5): reset_password's import and first invocation, 696 ms of CPU on one core, rounded
#: up. Lambda gives one full vCPU at 1769 MB and CPU in proportion to memory below it, so a function
#: with less memory takes 1769 / MemorySize times as long (docs/deploy.md, "Timeouts").
COLD_START_CPU_SECONDS = 0.7
ONE_VCPU_MB = 1769

LIMITS: dict[str, CallLimits] = {"dynamodb": aws.DYNAMODB, "ssm": aws.SSM, "sns": aws.SNS, "events": aws.EVENTBRIDGE}
#: Each function's longest chain of dependency calls, and the CPU it may need besides (bcrypt).
CHAINS: dict[str, tuple[tuple[str, ...], float]] = {
    "me": (("dynamodb",), 1),
    "list_sessions": (("dynamodb",), 1),
    # read the sessions to end, end them (end one: end it, then mark the user inactive)
    "logout": (("dynamodb", "dynamodb"), 1),
    "end_session": (("dynamodb", "dynamodb"), 1),
    # the hash needs the key; rotate (on reuse, end the session)
    "refresh": (("ssm", "dynamodb", "dynamodb"), 1),
    # count the client's lookup, read the user
    "check_mobile": (("dynamodb", "dynamodb"), 1),
    "authorizer": (("ssm", "dynamodb"), 1),
    # the code's hash needs the key; spend the code; read the user (or count a wrong guess)
    "verify_code": (("ssm", "dynamodb", "dynamodb"), 1),
    "verify_registration_otp": (("ssm", "dynamodb", "dynamodb"), 1),
    # bcrypt at cost 14 on one vCPU is about a second; login may hash twice (an upgrade)
    "complete_registration": (("ssm", "dynamodb", "dynamodb"), 2),
    "login_mobile": (("dynamodb", "dynamodb", "ssm"), 2),
    "reset_password": (("ssm", "dynamodb", "dynamodb"), 2),
    # store the code, text it, withdraw it when the SMS failed
    "send_verification": (("ssm", "dynamodb", "sns", "dynamodb"), 1),
    "request_registration_otp": (("ssm", "dynamodb", "sns", "dynamodb"), 1),
    "request_password_reset_otp": (("ssm", "dynamodb", "sns", "dynamodb"), 1),
    "request_phone_change": (("ssm", "dynamodb", "sns", "dynamodb"), 1),
    # the phone's codes, then the erasure's transaction
    "delete_account": (("dynamodb", "dynamodb"), 1),
    # the code's hash needs the key; read the user; the move; the notice to the old number
    "verify_phone_change": (("ssm", "dynamodb", "dynamodb", "sns"), 1),
    # a batch of 10 stream records: the erasure markers, then at most 20 events, 10 per PutEvents
    "publish_events": (("dynamodb", "events", "events"), 1),
    # The admin API: read the user, write it, then the AdminAction event (PutEvents)
    "admin_put_user": (("dynamodb", "dynamodb", "events"), 2),
    "admin_get_user": (("dynamodb",), 1),
    # the cursor's seal needs the key; one Scan
    "admin_list_users": (("ssm", "dynamodb"), 1),
    "admin_disable_user": (("dynamodb", "dynamodb", "events"), 1),
    "admin_enable_user": (("dynamodb", "dynamodb", "events"), 1),
    "admin_sign_out_user": (("dynamodb", "dynamodb", "events"), 1),
    # read the user, the phone's codes, the erasure's transaction; its AdminAction event goes out
    # only with an EventBridge call's worst case left (event_bus.publish's ensure_time_for), else it
    # is counted as AdminEventFailures and the answer does not wait
    "admin_delete_user": (("dynamodb", "dynamodb", "dynamodb"), 1),
    # store the job (its upload URL is signed without a call), then the AdminAction event
    "admin_start_import": (("dynamodb", "events"), 1),
    # read the job (its report URL is signed without a call)
    "admin_get_import": (("dynamodb",), 1),
}


def worst_case(function_dir: str) -> float:
    chain, cpu = CHAINS[function_dir]
    return sum(LIMITS[dependency].worst_case_seconds() for dependency in chain) + cpu


def cold_start_seconds(memory_mb: int) -> int:
    """The cold start a function of ``memory_mb`` may take, in whole seconds (rounded up)."""
    return math.ceil(COLD_START_CPU_SECONDS * max(1.0, ONE_VCPU_MB / memory_mb))


# ------------------------------------------------------------------ the arithmetic
#: Functions no request waits for whose Timeout is budgeted the same way: a batch of the users table's
#: stream that runs into its Timeout is retried whole, and holds up its shard's later records meanwhile.
STREAM_FUNCTIONS = {"publish_events"}


def test_every_function_api_gateway_waits_for_has_a_chain() -> None:
    assert set(CHAINS) == api_functions() | STREAM_FUNCTIONS


@pytest.mark.parametrize("function_dir", sorted(CHAINS))
def test_each_timeout_covers_a_cold_start_and_the_worst_case_of_its_calls(function_dir: str) -> None:
    timeout = function_timeouts()[function_dir]
    budget = cold_start_seconds(function_memory()[function_dir]) + worst_case(function_dir) + MARGIN_SECONDS
    assert timeout >= budget, (function_dir, timeout, budget)
    assert timeout < API_GATEWAY_TIMEOUT


def test_the_cold_start_scales_with_the_share_of_a_vcpu() -> None:
    assert cold_start_seconds(256) == 5  # 0.7 s x 1769 / 256 = 4.8 s
    assert cold_start_seconds(1769) == 1
    assert cold_start_seconds(3538) == 1  # a second vCPU does not speed up one Python thread


def test_the_per_call_bounds_are_what_the_template_comment_says() -> None:
    assert aws.DYNAMODB.worst_case_seconds() == 5
    assert aws.SSM.worst_case_seconds() == 5
    assert aws.SNS.worst_case_seconds() == 4
    assert aws.EVENTBRIDGE.worst_case_seconds() == 5
    comment = (ROOT / "template.yaml").read_text()
    assert "2 x (0.5 s connect + 1.5 s read) + 1 s backoff = 5 s" in comment
    assert f"{COLD_START_CPU_SECONDS} s of CPU on one vCPU ({ONE_VCPU_MB} MB)" in comment


def test_the_setup_function_answers_cloudformation_before_its_timeout() -> None:
    """Not behind API Gateway: CloudFormation waits for it. A request it cannot finish is answered
    FAILED before the Timeout, so no deploy waits an hour for an answer that never comes."""
    from phone_auth.custom_resources.protocol import ANSWER_ATTEMPTS, ANSWER_TIMEOUT_SECONDS, TIMEOUT_MARGIN_SECONDS

    timeout = function_timeouts()["stack_setup"]
    assert timeout >= 2 * aws.DEPLOY.worst_case_seconds()  # a request that calls twice, at the worst
    assert TIMEOUT_MARGIN_SECONDS >= ANSWER_TIMEOUT_SECONDS  # the timer's answer has time to go out
    assert timeout > ANSWER_ATTEMPTS * ANSWER_TIMEOUT_SECONDS


def test_the_stream_batches_fit_the_chain() -> None:
    """publish_events' chain counts two PutEvents: a batch of BatchSize records makes at most two
    events each (a number change), ten per call."""
    from phone_auth.event_bus import ENTRIES_PER_CALL
    from tests.helpers import template

    stream = template()["Resources"]["PublishEventsFunction"]["Properties"]["Events"]["UsersStream"]["Properties"]
    assert -(-2 * stream["BatchSize"] // ENTRIES_PER_CALL) == CHAINS["publish_events"][0].count("events")


def test_a_call_bound_counts_every_attempt_and_the_longest_backoffs() -> None:
    assert CallLimits(1, 2, 1).worst_case_seconds() == 3
    assert CallLimits(1, 2, 3).worst_case_seconds() == 3 * 3 + 1 + 2
    assert CallLimits(1, 1, 8).worst_case_seconds() == 8 * 2 + 1 + 2 + 4 + 8 + 16 + 20 + 20


def test_the_clients_use_those_limits(env: SetEnv) -> None:
    for client, limits in ((aws.dynamodb(), aws.DYNAMODB), (aws.sns(), aws.SNS), (aws.events(), aws.EVENTBRIDGE)):
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (limits.connect_timeout, limits.read_timeout)
        assert config.retries == {"mode": "standard", "total_max_attempts": limits.max_attempts}
    ssm_config = aws.ssm_parameters().client.meta.config
    assert (ssm_config.connect_timeout, ssm_config.read_timeout) == (aws.SSM.connect_timeout, aws.SSM.read_timeout)


# ------------------------------------------------------------------ dependencies that never answer
class SilentServer:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.socket.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)

    def _accept(self) -> None:
        while not self.stopped.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                connection, _ = self.socket.accept()
                self.connections.append(connection)  # held open, never answered

    def __enter__(self) -> SilentServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        for connection in self.connections:
            connection.close()
        self.socket.close()


def closed_port_url() -> str:
    """A URL nothing listens on: connections are refused at once."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The EMF documents the handlers write, parsed."""
    documents: list[dict[str, Any]] = []
    monkeypatch.setattr(metrics, "write", lambda line: documents.append(json.loads(line)))
    return documents


def timed[T](call: Callable[[], T]) -> tuple[T, float]:
    """The call's result and how long it took (printed: ``pytest -rP`` shows the figures)."""
    started = time.monotonic()
    result = call()
    took = time.monotonic() - started
    print(f"took {took:.2f} s")
    return result, took


def assert_503(status: int, body: dict[str, Any], headers: dict[str, str], dependency: str) -> None:
    assert status == 503, body
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["error"]["details"] == {"dependency": dependency}
    assert headers["Retry-After"] == "1"


def code_rows(phone: str) -> list[dict[str, Any]]:
    import boto3

    response = boto3.client("dynamodb").query(
        TableName=os.environ["OTP_TABLE_NAME"],
        KeyConditionExpression="phone = :p",
        ExpressionAttributeValues={":p": {"S": phone}},
        ConsistentRead=True,
    )
    items: list[dict[str, Any]] = response["Items"]
    return items


def test_sms_that_never_answers_is_a_503_and_the_code_is_withdrawn(
    api: Api, env: SetEnv, silent: SilentServer, emitted: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    env(AWS_ENDPOINT_URL_SNS=silent.url)

    (status, body, headers), took = timed(lambda: api.call("send_verification", {"phone": PHONE}))

    assert_503(status, body, headers, "sms")
    assert silent.connections, "the SMS request never reached the silent server"
    assert aws.SNS.read_timeout <= took <= aws.SNS.worst_case_seconds() + SLACK_SECONDS
    assert took < function_timeouts()["send_verification"] - MARGIN_SECONDS
    assert code_rows(PHONE) == [], "the code whose SMS did not go out is still stored"
    assert any(doc.get("SmsFailures") == 1 for doc in emitted)
    assert not any("CodesSent" in doc for doc in emitted)

    # SNS answers again: the user may ask at once (no resend wait) and the new code works.
    monkeypatch.delenv("AWS_ENDPOINT_URL_SNS")
    aws.reset_clients()
    assert api.call("send_verification", {"phone": PHONE})[0] == 200
    status, body, _ = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})
    assert status == 200, body


def test_dynamodb_that_never_answers_is_a_503_and_the_code_stays_unspent(
    api: Api, env: SetEnv, silent: SilentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.call("send_verification", {"phone": PHONE})[0] == 200
    code = last_code(PHONE)
    env(AWS_ENDPOINT_URL_DYNAMODB=silent.url)

    (status, body, headers), took = timed(lambda: api.call("verify_code", {"phone": PHONE, "verification_code": code}))

    assert_503(status, body, headers, "dynamodb")
    limits = aws.DYNAMODB
    assert limits.max_attempts * limits.read_timeout <= took <= limits.worst_case_seconds() + SLACK_SECONDS
    assert took < function_timeouts()["verify_code"] - MARGIN_SECONDS
    assert len(silent.connections) == limits.max_attempts  # one retry, on a fresh connection

    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB")
    aws.reset_clients()
    status, body, _ = api.call("verify_code", {"phone": PHONE, "verification_code": code})
    assert status == 200, body


def test_ssm_that_never_answers_on_a_cold_start_is_a_503(api: Api, env: SetEnv, silent: SilentServer) -> None:
    env(AWS_ENDPOINT_URL_SSM=silent.url)

    (status, body, headers), took = timed(lambda: api.call("send_verification", {"phone": PHONE}))

    assert_503(status, body, headers, "ssm")
    limits = aws.SSM
    assert limits.max_attempts * limits.read_timeout <= took <= limits.worst_case_seconds() + SLACK_SECONDS
    assert took < function_timeouts()["send_verification"] - MARGIN_SECONDS
    assert code_rows(PHONE) == [] and sms_outbox() == []


def _authorizer_event(token: str) -> dict[str, Any]:
    event = load_event("authorizer")
    event["headers"] = {**event["headers"], "Authorization": f"Bearer {token}"}
    return event


def test_the_authorizer_raises_within_its_timeout_when_dynamodb_never_answers(
    api: Api, env: SetEnv, silent: SilentServer
) -> None:
    assert api.call("send_verification", {"phone": PHONE})[0] == 200
    token = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]["access_token"]
    env(AWS_ENDPOINT_URL_DYNAMODB=silent.url)
    handler = load_handler("authorizer").lambda_handler

    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):  # API Gateway: AUTHORIZER_CONFIGURATION_ERROR, our 503
        handler(_authorizer_event(token), Context("authorizer"))
    took = time.monotonic() - started
    print(f"took {took:.2f} s")

    assert took <= aws.SSM.worst_case_seconds() + aws.DYNAMODB.worst_case_seconds() + SLACK_SECONDS
    assert took < function_timeouts()["authorizer"] - MARGIN_SECONDS


def test_publishing_to_an_eventbridge_that_never_answers_raises_within_its_timeout(
    api: Api, env: SetEnv, silent: SilentServer
) -> None:
    """The batch fails (the stream retries it) in no more time than the bound allows."""
    from tests.helpers.lifecycle import LifecycleTap

    tap = LifecycleTap()
    assert api.call("send_verification", {"phone": PHONE})[0] == 200
    assert api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[0] == 200
    records = tap.records()
    env(AWS_ENDPOINT_URL_EVENTBRIDGE=silent.url)

    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        tap.deliver(records)
    took = time.monotonic() - started
    print(f"took {took:.2f} s")

    limits = aws.EVENTBRIDGE
    assert limits.max_attempts * limits.read_timeout <= took <= limits.worst_case_seconds() + SLACK_SECONDS
    assert took < function_timeouts()["publish_events"] - MARGIN_SECONDS
    assert len(silent.connections) == limits.max_attempts


# ------------------------------------------------------------------ SSM refusing, cache cold
def _signed_up_user() -> None:
    import bcrypt

    put_user(PHONE, password_hash=bcrypt.hashpw(b"Suan-Luang-2468", bcrypt.gensalt(10)).decode())


@pytest.mark.parametrize(
    ("function_dir", "body"),
    [
        ("send_verification", {"phone": PHONE}),
        ("verify_code", {"phone": PHONE, "verification_code": "123456"}),
        ("login_mobile", {"phone": PHONE, "password": "Suan-Luang-2468"}),
        ("request_registration_otp", {"phone": "+66812345679"}),
        ("request_password_reset_otp", {"phone": PHONE}),
    ],
)
def test_ssm_unreachable_with_a_cold_cache_is_a_503_not_a_500(
    api: Api, env: SetEnv, function_dir: str, body: dict[str, str]
) -> None:
    _signed_up_user()
    env(AWS_ENDPOINT_URL_SSM=closed_port_url())
    status, answer, headers = api.call(function_dir, body)
    assert_503(status, answer, headers, "ssm")


def test_the_authorizer_raises_rather_than_denying_when_ssm_is_unreachable(api: Api, env: SetEnv) -> None:
    """A blip must not look like a logout: the gateway turns the raise into a 503 to retry."""
    assert api.call("send_verification", {"phone": PHONE})[0] == 200
    token = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]["access_token"]
    env(AWS_ENDPOINT_URL_SSM=closed_port_url())
    with pytest.raises(ServiceUnavailable):
        load_handler("authorizer").lambda_handler(_authorizer_event(token), Context("authorizer"))


# ------------------------------------------------------------------ the invocation's deadline
class ShortContext(Context):
    """A Lambda context with little time left."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


def invoke(function_dir: str, body: dict[str, Any], seconds: float) -> tuple[int, dict[str, Any], dict[str, str]]:
    event = load_event(function_dir)
    event["body"] = json.dumps(body)
    response = load_handler(function_dir).lambda_handler(event, ShortContext(seconds))
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def test_a_call_that_could_outlast_the_invocation_is_not_made(api: Api) -> None:
    """Past the Timeout's usual chain (a lock to set, a cap to enforce), each call still checks
    that its worst case fits in the time left: a 503 rather than a Lambda timeout."""
    assert api.call("send_verification", {"phone": PHONE})[0] == 200
    code = last_code(PHONE)
    dynamodb_bound = aws.DYNAMODB.worst_case_seconds()

    status, answer, headers = invoke(
        "verify_code", {"phone": PHONE, "verification_code": code}, dynamodb_bound + aws.DEADLINE_MARGIN_SECONDS - 0.5
    )
    assert_503(status, answer, headers, "dynamodb")
    # Nothing was done: the code is still there to spend, with time enough.
    status, answer, _ = invoke("verify_code", {"phone": PHONE, "verification_code": code}, 30)
    assert status == 200, answer


def test_an_invocations_deadline_ends_with_it(api: Api) -> None:
    """The deadline is the invocation's alone: a call made after it answered (the next warm
    invocation's own setup, a test, a tool) is not held to a deadline that has passed."""
    status, answer, headers = invoke("send_verification", {"phone": PHONE}, aws.DEADLINE_MARGIN_SECONDS)
    assert_503(status, answer, headers, "dynamodb")
    aws.ensure_time_for(aws.DYNAMODB.worst_case_seconds(), "dynamodb")  # no deadline outside an invocation


def test_a_code_is_stored_only_with_time_to_text_it_and_to_withdraw_it(api: Api) -> None:
    needed = 2 * aws.DYNAMODB.worst_case_seconds() + aws.SNS.worst_case_seconds() + aws.DEADLINE_MARGIN_SECONDS
    status, answer, headers = invoke("send_verification", {"phone": PHONE}, needed - 0.5)
    assert_503(status, answer, headers, "dynamodb")
    assert sms_outbox() == []
    assert invoke("send_verification", {"phone": PHONE}, needed + 1)[0] == 200  # no code was left behind
