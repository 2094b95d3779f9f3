"""What tests share: the test environment, calling handlers the way API Gateway does, the SMS
outbox, a fake clock, and reading and writing users in the one stored shape (UserRecord).

Fixtures live in conftest.py; tests import these helpers with ``from helpers import ...``.
Nothing here touches AWS at import time.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from devtools.handlers import function_module, template_functions

if TYPE_CHECKING:
    from phone_auth.store.records import UserRecord

ROOT = Path(__file__).resolve().parents[2]

TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "ap-southeast-1",
    "AWS_REGION": "ap-southeast-1",
    "POWERTOOLS_SERVICE_NAME": "phone-auth",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "STAGE": "test",
    "MARKET": "th",
    "USERS_TABLE_NAME": "phone-auth-test-users",
    "OTP_TABLE_NAME": "phone-auth-test-otps",
    "LIMITS_TABLE_NAME": "phone-auth-test-limits",
    "JWT_SECRET_PARAMETER_NAME": "/phone-auth/test/jwt-secret",
    "DEFAULT_REGION": "TH",
    "OTP_TTL_SECONDS": "300",
    "OTP_MAX_ATTEMPTS": "3",
    "OTP_RESEND_SECONDS": "60",
    "ACCESS_TOKEN_TTL_SECONDS": "900",
    "REGISTRATION_TOKEN_TTL_SECONDS": "600",
    "TOKEN_ISSUER": "phone-auth",
    "TOKEN_AUDIENCE": "phone-auth-api",
    "SMS_SENDER": "sns",
    "SMS_SENDER_ID": "PhoneAuth",
    "SIGNUP_MODE": "open",
    "OTP_LOGIN_ENABLED": "true",
    "BCRYPT_ROUNDS": "10",
}

#: Template table logical id -> the environment variable naming it.
#: ALLOWED_ORIGINS is left at its default, so the local stack's own default applies in its tests.
DEFAULT_ORIGIN = "http://localhost:5173"

TABLE_ENV = {"UsersTable": "USERS_TABLE_NAME", "OtpTable": "OTP_TABLE_NAME", "LimitsTable": "LIMITS_TABLE_NAME"}

Answer = tuple[int, dict[str, Any], dict[str, str]]


class SetEnv(Protocol):
    """The ``env`` fixture: ``env(SIGNUP_MODE="imported")`` changes settings for one test."""

    def __call__(self, **values: str) -> None: ...


# ------------------------------------------------------------------ the template
@functools.cache
def template() -> dict[str, Any]:
    from devtools.template import load_template

    return load_template(ROOT / "template.yaml")


def template_tables() -> dict[str, dict[str, Any]]:
    """Logical id -> Properties of every DynamoDB table in template.yaml."""
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template()["Resources"].items()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }


@functools.cache
def protected_functions() -> frozenset[str]:
    """Functions whose API route is behind the authorizer, as template.yaml says."""
    protected = set()
    for logical_id, code in template_functions(template()).items():
        for event in (template()["Resources"][logical_id]["Properties"].get("Events") or {}).values():
            if event.get("Type") == "Api" and (event["Properties"].get("Auth") or {}).get("Authorizer"):
                protected.add(code.name)
    return frozenset(protected)


# ------------------------------------------------------------------ time
class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


# ------------------------------------------------------------------ handlers and events
def load_handler(function: str) -> ModuleType:
    """A function's handler module (functions/<function>.py), imported as Lambda imports it."""
    return function_module(function)


@functools.cache
def function_timeouts() -> dict[str, int]:
    """Function -> its Timeout in seconds, as template.yaml sets it (Globals included)."""
    doc = template()
    default = int(doc["Globals"]["Function"]["Timeout"])
    return {
        code.name: int(doc["Resources"][logical_id]["Properties"].get("Timeout", default))
        for logical_id, code in template_functions(doc).items()
    }


class Context:
    """Lambda's context for one function: at the start, its whole Timeout remains (the longest
    Timeout of the template when no function is named)."""

    function_name = "phone-auth-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:phone-auth-test"
    memory_limit_in_mb = 256
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    log_group_name = "/aws/lambda/phone-auth-test"
    log_stream_name = "2026/11/21/[$LATEST]test"

    def __init__(self, function_dir: str | None = None) -> None:
        timeouts = function_timeouts()
        self.timeout_seconds = timeouts[function_dir] if function_dir else max(timeouts.values())

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


def load_event(function_dir: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / f"{function_dir}.json").read_text())
    return event


class Api:
    """Calls handlers the way API Gateway does, authorizer first where the template says so."""

    def call(
        self,
        function_dir: str,
        body: Any = None,
        *,
        raw_body: str | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        path_parameters: dict[str, str] | None = None,
        source_ip: str | None = None,
    ) -> Answer:
        event = load_event(function_dir)
        if source_ip is not None:
            event["requestContext"]["identity"]["sourceIp"] = source_ip
        if path_parameters is not None:
            event["pathParameters"] = path_parameters
            for name, value in path_parameters.items():
                event["path"] = event["resource"].replace("{" + name + "}", value)
        event["headers"] = {**(event.get("headers") or {}), **(headers or {})}
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
        if raw_body is not None:
            event["body"] = raw_body
        elif body is not None:
            event["body"] = json.dumps(body)
        else:
            event["body"] = None
        event["isBase64Encoded"] = False
        if function_dir in protected_functions():
            event["headers"].pop("Authorization", None)
            if token is not None:
                event["headers"]["Authorization"] = f"Bearer {token}"
            status, result, auth_context = self.authorize(event)
            if status != 200:
                return status, result, {}
            event["requestContext"]["authorizer"] = auth_context
        response = load_handler(function_dir).lambda_handler(event, Context(function_dir))
        return response["statusCode"], json.loads(response["body"]), response["headers"]

    def authorize(self, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
        auth_event = load_event("authorizer")
        auth_event["headers"] = dict(event["headers"])
        result = load_handler("authorizer").lambda_handler(auth_event, Context("authorizer"))
        statement = result["policyDocument"]["Statement"][0]
        if statement["Effect"] != "Allow":
            context = result.get("context", {})
            error = {"code": context["error_code"], "message": context["error_message"]}
            return 401, {"success": False, "error": error}, {}
        return 200, {}, {"principalId": result["principalId"], **result["context"]}


# ------------------------------------------------------------------ SMS
def sms_outbox() -> list[tuple[str, str]]:
    """Every SMS moto's SNS received in this test: (phone, text), oldest first."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_DEFAULT_REGION"]].sms_messages.values())


def last_code(phone: str) -> str:
    texts = [text for to, text in sms_outbox() if to == phone]
    assert texts, f"no SMS sent to {phone}"
    match = re.search(r"\b(\d{6})\b", texts[-1])
    assert match
    return match.group(1)


# ------------------------------------------------------------------ users
def user_id_of(phone: str) -> str:
    """The id put_user gives a phone's user: a UUID like the API's, fixed per phone."""
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"phone-auth-test:{phone}"))


def put_user(phone: str, **attributes: Any) -> UserRecord:
    """Store a user as the back office's import would (no password unless given)."""
    import boto3

    from phone_auth.store.marshalling import to_item
    from phone_auth.store.records import UserRecord

    values: dict[str, Any] = {
        "id": user_id_of(phone),
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
        "source": "import",
        **attributes,
    }
    user = UserRecord(phone=phone, **values)
    boto3.client("dynamodb").put_item(TableName=os.environ["USERS_TABLE_NAME"], Item=to_item(user.to_item()))
    return user


def stored_user(phone: str) -> UserRecord | None:
    """The user as stored (consistent read), or None."""
    import boto3

    from phone_auth.store.marshalling import from_item
    from phone_auth.store.records import UserRecord

    response = boto3.client("dynamodb").get_item(
        TableName=os.environ["USERS_TABLE_NAME"], Key={"phone": {"S": phone}}, ConsistentRead=True
    )
    item = from_item(response.get("Item"))
    return None if item is None else UserRecord.from_item(item)


def existing_user(phone: str) -> UserRecord:
    """The user as stored; the test fails if there is none."""
    user = stored_user(phone)
    assert user is not None, f"no user {phone}"
    return user


# ------------------------------------------------------------------ response shapes
def response_keys(function_dir: str) -> set[str]:
    """The top-level keys of a function's success answer, from its response model."""
    model = load_handler(function_dir).lambda_handler.response_model
    return set(model.model_fields)


def user_keys() -> set[str]:
    from phone_auth.api.models import UserView

    return set(UserView.model_fields)


#: What the passwordless-login frontend reads from a sign-in answer and from its user: these must never change.
PASSWORDLESS_CLIENT_SIGN_IN_FIELDS = {"success", "access_token", "token_type", "expires_in", "user", "is_new_user"}
PASSWORDLESS_CLIENT_USER_FIELDS = {"id", "phone", "is_active", "is_verified", "last_login", "created_at", "updated_at"}
