"""Every step of the API run once on moto, each AWS call it makes recorded.

``run_steps()`` walks the flows a client walks (send a code, verify it, me, refresh, sessions,
logout; check, register, password login, reset) plus the limits' refusals (a wrong code, a
wrong password, a send past the SMS limit), and returns one :class:`StepRecord` per step: the
Lambda event it was given and every call to DynamoDB, SSM and SNS it made, with its parameters
and the raw HTTP answer. Each step starts as a new container would (no cached client, secret
or key), so its SSM reads are per container.

One recording, three uses: ``tests/test_round_trips.py`` asserts the round trips and ``make
bench`` prints them (:func:`round_trip_table`); the benchmark's HTTP stub replays the answers;
warm overhead compares each handler with the same calls made on bare boto3 clients.

Calls are seen through botocore's events on the one session ``phone_auth.aws`` creates, so the
code under test is not touched. The caller provides moto (``moto_environment()`` does, the
tests' fixtures do) with ``OTP_RESEND_SECONDS=0`` and the default SMS-per-phone limit (5).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"

#: The environment of the recorded run (and of every benchmark process that replays it).
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "ap-southeast-1",
    "AWS_REGION": "ap-southeast-1",
    "POWERTOOLS_SERVICE_NAME": "phone-auth",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "STAGE": "bench",
    "STACK_NAME": "phone-auth-bench",
    "MARKET": "th",
    "USERS_TABLE_NAME": "phone-auth-bench-users",
    "OTP_TABLE_NAME": "phone-auth-bench-otps",
    "LIMITS_TABLE_NAME": "phone-auth-bench-limits",
    "JWT_SECRET_PARAMETER_NAME": "/phone-auth/bench/jwt-secret",
    "DEFAULT_REGION": "TH",
    "OTP_RESEND_SECONDS": "0",
    "ACCESS_TOKEN_TTL_SECONDS": "86400",
    "OTP_TTL_SECONDS": "1800",
    "REGISTRATION_TOKEN_TTL_SECONDS": "3600",
    "SMS_SENDER": "sns",
    "BCRYPT_ROUNDS": "10",
}

#: Steps whose success answer costs a bcrypt hash or check (their bcrypt time is reported apart).
BCRYPT_STEPS = frozenset({"complete registration", "password login", "reset password"})


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


def lambda_context() -> Any:
    """A fresh Lambda context, as the local stack makes one, with the template's longest Timeout:
    room for a send's whole chain of calls."""
    from devtools.local_stack.gateway import LambdaContext

    arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:phone-auth-bench"
    return LambdaContext("phone-auth-bench", arn, 256, 28)


def event(
    function: str, body: Any = None, *, token: str | None = None, source_ip: str = "203.0.113.25"
) -> dict[str, Any]:
    """``events/<function>.json`` with this body, bearer token and source IP."""
    result: dict[str, Any] = json.loads((EVENTS / f"{function}.json").read_text())
    result["requestContext"]["identity"]["sourceIp"] = source_ip
    headers = {k: v for k, v in (result.get("headers") or {}).items() if k.lower() != "authorization"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    result["headers"] = headers
    result["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    result["body"] = None if body is None else json.dumps(body)
    result["isBase64Encoded"] = False
    return result


def _forget_container() -> None:
    """What a new container does not have: settings, clients, the secret, derived keys."""
    from phone_auth import keys, passwords, settings, sms

    settings.get_settings.cache_clear()
    sms.get_sender.cache_clear()
    keys._cache.clear()
    passwords._common_passwords.cache_clear()


class _Flows:
    def __init__(self) -> None:
        self.recorder = Recorder()
        self.records: list[StepRecord] = []

    def handler(self, function: str) -> Callable[[dict[str, Any], Any], Any]:
        from devtools.handlers import function_module

        return function_module(function).lambda_handler  # type: ignore[no-any-return]

    def authorize(self, token: str) -> dict[str, Any]:
        """The authorizer's context for ``token`` (not recorded: the authorizer is a step of its own)."""
        self.recorder.paused = True
        try:
            policy = self.handler("authorizer")(event("authorizer", token=token), lambda_context())
        finally:
            self.recorder.paused = False
        assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow", policy
        return {"principalId": policy["principalId"], **policy["context"]}

    def step(
        self, name: str, function: str, request: dict[str, Any], *, expect: int = 200, token: str | None = None
    ) -> dict[str, Any]:
        """Run one step as a new container, recorded; return its answer's JSON body."""
        if token is not None:
            context = self.authorize(token)
            request = copy.deepcopy(request)
            request["requestContext"]["authorizer"] = context
        _forget_container()
        self.recorder.attach()
        start = len(self.recorder.calls)
        answer = self.handler(function)(copy.deepcopy(request), lambda_context())
        calls = self.recorder.calls[start:]
        if function == "authorizer":
            allowed = answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
            status, body = (200 if allowed else 401), answer
        else:
            status, body = answer["statusCode"], json.loads(answer["body"])
        if status != expect:
            raise AssertionError(f"{name}: {function} answered {status}, not {expect}: {body}")
        self.records.append(StepRecord(name, function, request, status, calls))
        return dict(body)


def _last_code(phone: str) -> str:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    sent = sns_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_DEFAULT_REGION"]].sms_messages.values()
    texts = [text for to, text in sent if to == phone]
    match = re.search(r"\b(\d{6})\b", texts[-1]) if texts else None
    if match is None:
        raise AssertionError(f"no code was texted to {phone}")
    return match.group(1)


def _import_user(phone: str) -> None:
    """A back-office user without a password (as ops.import_users stores one)."""
    import boto3

    from phone_auth.store.marshalling import to_item
    from phone_auth.store.records import UserRecord

    stamp = "2026-01-01T00:00:00.000Z"
    user = UserRecord(phone=phone, id=f"id-{phone}", created_at=stamp, updated_at=stamp, source="import")
    boto3.client("dynamodb").put_item(TableName=os.environ["USERS_TABLE_NAME"], Item=to_item(user.to_item()))


def run_steps() -> list[StepRecord]:
    """Every step once, in the order a client takes them (see the module docstring)."""
    flows = _Flows()
    step = flows.step
    phone, imported, pumped = "+66812345678", "+66899990001", "+66811112222"

    # Passwordless: send, verify (twice: two sessions), the authorizer, me, refresh, sessions, logout.
    step("send code", "send_verification", event("send_verification", {"phone": phone}))
    verify = event("verify_code", {"phone": phone, "verification_code": _last_code(phone)})
    first = step("verify code", "verify_code", verify)
    step("send code (again)", "send_verification", event("send_verification", {"phone": phone}))
    signed_in = step(
        "verify code (again)",
        "verify_code",
        event("verify_code", {"phone": phone, "verification_code": _last_code(phone)}),
    )
    token = signed_in["access_token"]
    step("authorizer", "authorizer", event("authorizer", token=token))
    step("me", "me", event("me"), token=token)
    refreshed = step("refresh", "refresh", event("refresh", {"refresh_token": signed_in["refresh_token"]}))
    token = refreshed["access_token"]
    step("list sessions", "list_sessions", event("list_sessions"), token=token)
    other = event("end_session")
    other["pathParameters"] = {"id": first["session_id"]}
    other["path"] = other["resource"].replace("{id}", first["session_id"])
    step("end session", "end_session", other, token=token)
    step("logout", "logout", event("logout", {}), token=token)

    # Back office: check, registration code, verify it, set the password, log in, reset.
    _import_user(imported)
    step("check mobile", "check_mobile", event("check_mobile", {"phone": imported}))
    step("registration code", "request_registration_otp", event("request_registration_otp", {"phone": imported}))
    registration = step(
        "verify registration code",
        "verify_registration_otp",
        event("verify_registration_otp", {"phone": imported, "code": _last_code(imported)}),
    )
    password = "mango sticky rice 42"
    complete = {"phone": imported, "password": password, "registration_token": registration["registration_token"]}
    step("complete registration", "complete_registration", event("complete_registration", complete))
    step("password login", "login_mobile", event("login_mobile", {"phone": imported, "password": password}))
    step("reset code", "request_password_reset_otp", event("request_password_reset_otp", {"phone": imported}))
    reset = {"phone": imported, "code": _last_code(imported), "new_password": "durian season 2026"}
    step("reset password", "reset_password", event("reset_password", reset))

    # The limits: a wrong code, a wrong password, a send past the phone's hourly SMS limit.
    step("send code (for a wrong guess)", "send_verification", event("send_verification", {"phone": phone}))
    wrong = "000000" if _last_code(phone) != "000000" else "111111"
    step("wrong code", "verify_code", event("verify_code", {"phone": phone, "verification_code": wrong}), expect=400)
    bad_login = event("login_mobile", {"phone": imported, "password": "not the password"})
    step("wrong password", "login_mobile", bad_login, expect=401)
    for index in range(5):
        step(f"send code ({index + 1} of 5)", "send_verification", event("send_verification", {"phone": pumped}))
    sixth = event("send_verification", {"phone": pumped}, source_ip="198.51.100.7")
    step("send refused by a limit", "send_verification", sixth, expect=429)
    return flows.records


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


@contextlib.contextmanager
def moto_environment() -> Iterator[None]:
    """moto in this process with ENVIRONMENT set, the template's tables and a JWT key set."""
    from moto import mock_aws

    from devtools.local_stack.template import local_name
    from devtools.moto_atomic import make_dynamodb_writes_atomic
    from devtools.template import load_template
    from ops.secret import new_key_set

    make_dynamodb_writes_atomic()
    names = {"UsersTable": "USERS_TABLE_NAME", "OtpTable": "OTP_TABLE_NAME", "LimitsTable": "LIMITS_TABLE_NAME"}
    saved = dict(os.environ)
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL") or name == "AWS_PROFILE"]:
        del os.environ[name]
    os.environ.update(ENVIRONMENT)
    try:
        with mock_aws():
            import boto3

            dynamodb = boto3.client("dynamodb")
            for logical_id, resource in load_template(ROOT / "template.yaml")["Resources"].items():
                if resource["Type"] != "AWS::DynamoDB::Table":
                    continue
                props = resource["Properties"]
                table = os.environ.get(names.get(logical_id, ""), local_name(logical_id))
                keys = {key: props[key] for key in ("KeySchema", "AttributeDefinitions")}
                dynamodb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST", **keys)
            boto3.client("ssm").put_parameter(
                Name=os.environ["JWT_SECRET_PARAMETER_NAME"], Type="SecureString", Value=new_key_set().to_json()
            )
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        _forget_container()
        from phone_auth import aws

        aws.reset_clients()
