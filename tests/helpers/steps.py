"""Every step of the API run once on moto, each AWS call it makes recorded.

``run_steps()`` walks the flows a client walks (send a code, verify it, me, refresh, sessions,
logout; a number change and the account's deletion, and the lifecycle events they publish; check,
register, password login, reset) plus the limits' refusals (a wrong code, a wrong password, a send
past the SMS limit), and returns one :class:`StepRecord` per step: the
Lambda event it was given and every call to DynamoDB, SSM and SNS it made, with its parameters
and the raw HTTP answer. Each step starts as a new container would (no cached client, secret
or key), so its SSM reads are per container.

One recording, three uses: ``tests/unit/test_round_trips.py`` asserts the round trips and ``make
bench`` prints them (:func:`round_trip_table`); the benchmark's HTTP stub replays the answers;
warm overhead compares each handler with the same calls made on bare boto3 clients.

Steps are called as every unit test calls them (``tests.helpers.Api``), and calls are seen
through botocore's events on the one session ``phone_auth.aws`` creates, so the code under test
is not touched. The caller provides moto (``devtools.local_env.mocked_aws``; the unit tier's
fixture) with ``OTP_RESEND_SECONDS=0`` and the default SMS-per-phone limit (5).
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from devtools import local_env
from tests.helpers import Api, last_code, protected_functions, put_user, request_event, wrong_code


@dataclass
class Call:
    """One AWS call: ``operation`` is the boto3 method name (``get_item``)."""

    service: str  # dynamodb | ssm | sns
    operation: str
    params: dict[str, Any]
    api: str = ""  # the API's own name (GetItem), as the request says it
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class StepRecord:
    """One step: the function, the event it was given, its answer's status and its calls."""

    name: str
    function: str
    event: dict[str, Any]
    status: int
    calls: list[Call]

    def counts(self) -> dict[str, int]:
        """Calls by ``service:operation``, e.g. ``{"dynamodb:get_item": 1, "ssm:get_parameter": 1}``."""
        return dict(Counter(f"{call.service}:{call.operation}" for call in self.calls))

    def dynamodb(self) -> dict[str, int]:
        """DynamoDB calls by operation (the round trips)."""
        return dict(Counter(call.operation for call in self.calls if call.service == "dynamodb"))


class Recorder:
    """Records every call made through ``phone_auth.aws``'s session (re-attach after each reset)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.paused = False

    def attach(self) -> None:
        from phone_auth import aws

        aws.reset_clients()
        events = aws._session().events  # clients created from now on inherit these handlers
        events.register("before-parameter-build", self._parameters)
        events.register("response-received", self._response)

    def _parameters(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self.paused:
            return
        from botocore import xform_name

        service = model.service_model.endpoint_prefix
        self.calls.append(Call(service, xform_name(model.name), copy.deepcopy(params), api=model.name))

    def _response(self, response_dict: dict[str, Any] | None, **_: Any) -> None:
        if self.paused or not self.calls or response_dict is None:
            return
        call = self.calls[-1]
        call.status = int(response_dict["status_code"])
        call.headers = {str(k): str(v) for k, v in response_dict["headers"].items()}
        body = response_dict["body"]
        call.body = body if isinstance(body, bytes) else bytes(body)


class _Recording:
    def __init__(self) -> None:
        self.api, self.recorder = Api(), Recorder()
        self.records: list[StepRecord] = []

    def step(
        self,
        name: str,
        function: str,
        body: Any = None,
        *,
        expect: int = 200,
        token: str | None = None,
        event: dict[str, Any] | None = None,
        **request: Any,
    ) -> dict[str, Any]:
        """Run one step as a new container, recorded; return its answer's JSON body (the policy
        for the authorizer). The authorizer in front of a protected step runs unrecorded. ``event``:
        an event of its own (a stream's batch) instead of the function's request."""
        event = event if event is not None else request_event(function, body, token=token, **request)
        if function in protected_functions():
            self.recorder.paused = True
            try:
                allowed, _, context = self.api.authorize(event)
            finally:
                self.recorder.paused = False
            assert allowed == 200, context
            event["requestContext"]["authorizer"] = context
        local_env.forget_warm_state()
        self.recorder.attach()
        start = len(self.recorder.calls)
        status, answer, _ = self.api.invoke(function, copy.deepcopy(event))
        if status != expect:
            raise AssertionError(f"{name}: {function} answered {status}, not {expect}: {answer}")
        self.records.append(StepRecord(name, function, event, status, self.recorder.calls[start:]))
        return answer


def _stream_batch(phone: str) -> dict[str, Any]:
    """The users table's stream records of ``phone``'s account (from its first sign-in on), as
    Lambda delivers a batch of them to publish_events."""
    import os

    import boto3

    from devtools.local_stack.streams import lambda_record, stream_event

    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=os.environ["USERS_TABLE_NAME"])["Table"]["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
    keys = [record["dynamodb"]["Keys"]["phone"]["S"] for record in records]
    mine = records[keys.index(phone) :]
    region = os.environ["AWS_DEFAULT_REGION"]
    return stream_event([lambda_record(record, stream_arn=arn, region=region) for record in mine])


def run_steps() -> list[StepRecord]:
    """Every step once, in the order a client takes them (see the module docstring)."""
    recording = _Recording()
    step = recording.step
    phone, imported, pumped = "+66812345678", "+66899990001", "+66811112222"

    # Passwordless: send, verify (twice: two sessions), the authorizer, me, refresh, sessions, logout.
    step("send code", "send_verification", {"phone": phone})
    first = step("verify code", "verify_code", {"phone": phone, "verification_code": last_code(phone)})
    step("send code (again)", "send_verification", {"phone": phone})
    signed_in = step("verify code (again)", "verify_code", {"phone": phone, "verification_code": last_code(phone)})
    token = signed_in["access_token"]
    step("authorizer", "authorizer", token=token)
    step("me", "me", token=token)
    token = step("refresh", "refresh", {"refresh_token": signed_in["refresh_token"]})["access_token"]
    step("list sessions", "list_sessions", token=token)
    step("end session", "end_session", token=token, path_parameters={"id": first["session_id"]})
    step("logout", "logout", {}, token=token)

    # The account's own life, signed in a moment ago: a number change, then the deletion; then the
    # stream's batch of those changes, as publish_events gets it.
    mover, moved_to = "+66813334444", "+66813335555"
    step("send code (to move)", "send_verification", {"phone": mover})
    token = step("verify code (to move)", "verify_code", {"phone": mover, "verification_code": last_code(mover)})[
        "access_token"
    ]
    step("change number code", "request_phone_change", {"new_phone": moved_to}, token=token)
    change = {"new_phone": moved_to, "code": last_code(moved_to)}
    token = step("change number", "verify_phone_change", change, token=token)["access_token"]
    step("delete account", "delete_account", token=token)
    step("publish events", "publish_events", event=_stream_batch(mover))

    # Back office: check, registration code, verify it, set the password, log in, reset.
    put_user(imported)
    step("check mobile", "check_mobile", {"phone": imported})
    step("registration code", "request_registration_otp", {"phone": imported})
    code = last_code(imported)
    registration = step("verify registration code", "verify_registration_otp", {"phone": imported, "code": code})
    password = "mango sticky rice 42"
    complete = {"phone": imported, "password": password, "registration_token": registration["registration_token"]}
    step("complete registration", "complete_registration", complete)
    step("password login", "login_mobile", {"phone": imported, "password": password})
    step("reset code", "request_password_reset_otp", {"phone": imported})
    reset = {"phone": imported, "code": last_code(imported), "new_password": "durian season 2026"}
    step("reset password", "reset_password", reset)

    # The limits: a wrong code, a wrong password, a send past the phone's hourly SMS limit.
    step("send code (for a wrong guess)", "send_verification", {"phone": phone})
    wrong = {"phone": phone, "verification_code": wrong_code(last_code(phone))}
    step("wrong code", "verify_code", wrong, expect=400)
    step("wrong password", "login_mobile", {"phone": imported, "password": "not the password"}, expect=401)
    for index in range(5):
        step(f"send code ({index + 1} of 5)", "send_verification", {"phone": pumped})
    step("send refused by a limit", "send_verification", {"phone": pumped}, expect=429, source_ip="198.51.100.7")
    return recording.records


#: The steps shown in the round-trip table, in order (the others only set them up).
TABLE_STEPS = (
    "send code",
    "verify code",
    "authorizer",
    "me",
    "refresh",
    "list sessions",
    "end session",
    "logout",
    "change number code",
    "change number",
    "delete account",
    "publish events",
    "check mobile",
    "registration code",
    "verify registration code",
    "complete registration",
    "password login",
    "reset code",
    "reset password",
    "wrong code",
    "wrong password",
    "send refused by a limit",
)


def round_trip_table(records: list[StepRecord]) -> dict[str, dict[str, Any]]:
    """Step -> its DynamoDB round trips (total and by operation), SSM reads per container, SMS."""
    by_name = {record.name: record for record in records}
    table = {}
    for name in TABLE_STEPS:
        record = by_name[name]
        counts = record.counts()
        table[name] = {
            "function": record.function,
            "dynamodb": sum(record.dynamodb().values()),
            "dynamodb_calls": record.dynamodb(),
            "ssm_reads_per_container": counts.get("ssm:get_parameter", 0),
            "sms": counts.get("sns:publish", 0),
        }
    return table
