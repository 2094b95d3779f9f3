"""Test set-up: fake AWS credentials and settings before any import, moto for every AWS call.

Tables are created from template.yaml's own definitions (so tests and template cannot
drift), the JWT secret is a real SSM SecureString, SMS go to moto's SNS, and time is a
fake clock the tests move instead of sleeping.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

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
    "JWT_SECRET_PARAMETER_NAME": "/phone-auth/test/jwt-secret",
    "DEFAULT_REGION": "TH",
    "ALLOWED_ORIGIN": "http://localhost:5173",
    "OTP_TTL_SECONDS": "300",
    "OTP_MAX_ATTEMPTS": "3",
    "OTP_RESEND_SECONDS": "60",
    "ACCESS_TOKEN_TTL_SECONDS": "3600",
    "REGISTRATION_TOKEN_TTL_SECONDS": "600",
    "TOKEN_ISSUER": "phone-auth",
    "TOKEN_AUDIENCE": "phone-auth-api",
    "SMS_SENDER": "sns",
    "SMS_SENDER_ID": "PhoneAuth",
    "SIGNUP_MODE": "open",
    "OTP_LOGIN_ENABLED": "true",
    "BCRYPT_ROUNDS": "4",
}
for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_name, None)
os.environ.update(TEST_ENV)

from moto import mock_aws  # noqa: E402  (after the environment is set)

from devtools.handlers import load_function_module  # noqa: E402
from devtools.moto_atomic import make_dynamodb_writes_atomic  # noqa: E402

make_dynamodb_writes_atomic()

TABLE_ENV = {"UsersTable": "USERS_TABLE_NAME", "OtpTable": "OTP_TABLE_NAME"}


@functools.cache
def template_tables() -> dict[str, dict[str, Any]]:
    from devtools.template import load_template

    resources = load_template(ROOT / "template.yaml")["Resources"]
    return {lid: r["Properties"] for lid, r in resources.items() if r["Type"] == "AWS::DynamoDB::Table"}


def reset_caches() -> None:
    """Forget everything a warm container would keep, so each test starts cold."""
    from aws_lambda_powertools.utilities import parameters

    from phone_auth import aws, keys, passwords, settings, sms

    settings.get_settings.cache_clear()
    aws.reset_clients()
    sms.get_sender.cache_clear()
    keys._cache.clear()
    passwords._common_passwords.cache_clear()
    parameters.clear_caches()


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    from phone_auth import clock as clock_module

    fake = FakeClock()
    monkeypatch.setattr(clock_module, "now", fake)
    return fake


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Change settings for one test: env(SIGNUP_MODE="imported")."""

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_caches()

    return set_env


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs against a fresh moto account holding the template's tables and a secret."""
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        reset_caches()
        import boto3

        dynamodb = boto3.client("dynamodb")
        for logical_id, props in template_tables().items():
            name = os.environ[TABLE_ENV[logical_id]]
            dynamodb.create_table(
                TableName=name,
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode="PAY_PER_REQUEST",
            )
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                )
        boto3.client("ssm").put_parameter(
            Name=os.environ["JWT_SECRET_PARAMETER_NAME"],
            Value=secrets.token_urlsafe(32),
            Type="SecureString",
        )
        yield
        reset_caches()


# ------------------------------------------------------------------ handlers and events
def load_handler(function_dir: str) -> ModuleType:
    """functions/<dir>/app.py under a unique module name (every function has an app.py)."""
    return load_function_module(function_dir)


class Context:
    function_name = "phone-auth-test"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:phone-auth-test"
    memory_limit_in_mb = 256
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    log_group_name = "/aws/lambda/phone-auth-test"
    log_stream_name = "2026/11/21/[$LATEST]test"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def load_event(function_dir: str) -> dict[str, Any]:
    return json.loads((ROOT / "events" / f"{function_dir}.json").read_text())


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
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        event = load_event(function_dir)
        event["headers"] = {**(event.get("headers") or {}), **(headers or {})}
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
        if raw_body is not None:
            event["body"] = raw_body
        elif body is not None:
            event["body"] = json.dumps(body)
        else:
            event["body"] = None
        event["isBase64Encoded"] = False
        if function_dir in ("me", "logout"):
            event["headers"].pop("Authorization", None)
            if token is not None:
                event["headers"]["Authorization"] = f"Bearer {token}"
            status, result, auth_context = self.authorize(event)
            if status != 200:
                return status, result, {}
            event["requestContext"]["authorizer"] = auth_context
        response = load_handler(function_dir).lambda_handler(event, Context())
        return response["statusCode"], json.loads(response["body"]), response["headers"]

    def authorize(self, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
        auth_event = load_event("authorizer")
        auth_event["headers"] = dict(event["headers"])
        result = load_handler("authorizer").lambda_handler(auth_event, Context())
        statement = result["policyDocument"]["Statement"][0]
        if statement["Effect"] != "Allow":
            context = result.get("context", {})
            error = {"code": context["error_code"], "message": context["error_message"]}
            return 401, {"success": False, "error": error}, {}
        return 200, {}, {"principalId": result["principalId"], **result["context"]}


@pytest.fixture
def api() -> Api:
    return Api()


def sms_outbox() -> list[tuple[str, str]]:
    """Every SMS moto's SNS received in this test: (phone, text), oldest first."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_DEFAULT_REGION"]].sms_messages.values())


def last_code(phone: str) -> str:
    import re

    texts = [text for to, text in sms_outbox() if to == phone]
    assert texts, f"no SMS sent to {phone}"
    match = re.search(r"\b(\d{6})\b", texts[-1])
    assert match
    return match.group(1)


def put_user(phone: str, **attributes: Any) -> None:
    """Write a user as the back office's import would (no password unless given)."""
    import boto3

    from phone_auth.repository import to_item

    item = {
        "phone": phone,
        "id": f"id-{phone}",
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
        "is_active": False,
        "is_verified": False,
        "session_epoch": 0,
        "source": "import",
        **attributes,
    }
    boto3.client("dynamodb").put_item(TableName=os.environ["USERS_TABLE_NAME"], Item=to_item(item))


def stored_user(phone: str) -> dict[str, Any] | None:
    """The user's item as stored (consistent read), or None."""
    import boto3

    from phone_auth.repository import from_item

    response = boto3.client("dynamodb").get_item(
        TableName=os.environ["USERS_TABLE_NAME"], Key={"phone": {"S": phone}}, ConsistentRead=True
    )
    return from_item(response.get("Item"))


def existing_user(phone: str) -> dict[str, Any]:
    """The user's stored item; the test fails if there is none."""
    item = stored_user(phone)
    assert item is not None, f"no user {phone}"
    return item
