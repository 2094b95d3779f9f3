"""The local stack: template reading, gateway behaviour, moto wiring, SMS outbox, and the real code.

Two stacks are started in-process, one after the other (class-scoped fixtures):

* ``TestGateway`` runs the real template.yaml with stub handlers for the functions it
  exercises, so routing, the authorizer contract, gateway responses, CORS and the outbox
  are tested independently of the Lambda code;
* ``TestWithLambdaCode`` runs the real handlers.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools import local_env
from devtools.local_stack import LocalStack, start
from devtools.local_stack.stack import banner
from devtools.local_stack.template import read_stack
from devtools.moto_atomic import make_dynamodb_writes_atomic
from devtools.template import TemplateError, load_template
from tests.helpers import sign_in
from tests.helpers.stack import ORIGIN, StackApi, call, fetch

ROOT = Path(__file__).resolve().parents[2]
PHONE = "+66812345678"
ALLOW_CONTEXT = {
    "user_id": "3f6c2b9e-8d4a-4c1e-9b7f-2a5d6e8c1f04",
    "phone": PHONE,
    "market": "th",
    "session_epoch": 0,
    "token_id": "9c1e4a7b2d5f48e6a3b0c7d9e2f1a6b4",
}


def assert_gateway_error(status: int, headers: dict[str, str], body: Any, expected_status: int, code: str) -> None:
    assert status == expected_status
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert "access-control-allow-origin" in headers


# ---------------------------------------------------------------------------- pure parts
def test_template_loader_understands_short_tags(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "AWSTemplateFormatVersion: '2010-09-09'\n"
        "Resources:\n"
        "  T:\n"
        "    Type: AWS::DynamoDB::Table\n"
        "    Properties:\n"
        "      TableName: !Sub '${AWS::StackName}-t'\n"
        "      Arn: !GetAtt Other.Arn\n"
        "      Pick: !If [IsProd, !Ref A, !Ref AWS::NoValue]\n"
        "      Joined: !Join ['-', [a, !Ref B]]\n"
    )
    document = load_template(template)
    props = document["Resources"]["T"]["Properties"]
    assert document["AWSTemplateFormatVersion"] == "2010-09-09"
    assert props["TableName"] == {"Fn::Sub": "${AWS::StackName}-t"}
    assert props["Arn"] == {"Fn::GetAtt": ["Other", "Arn"]}
    assert props["Pick"] == {"Fn::If": ["IsProd", {"Ref": "A"}, {"Ref": "AWS::NoValue"}]}
    assert props["Joined"] == {"Fn::Join": ["-", ["a", {"Ref": "B"}]]}


def test_template_loader_expands_loops_and_leaves_every_other_intrinsic_as_written(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]\n"
        "Parameters:\n"
        "  Stage: {Type: String, Default: dev}\n"
        "Resources:\n"
        "  Fn::ForEach::Topics:\n"
        "    - Name\n"
        "    - [Orders, Users]\n"
        "    - ${Name}Topic:\n"
        "        Type: AWS::SNS::Topic\n"
        "        Properties:\n"
        "          DisplayName: !Sub '${Name} ${Stage}'\n"
        "          Tags: [{Key: stage, Value: !Ref Stage}]\n"
        "      ${Name}TopicPolicy:\n"
        "        Type: AWS::SNS::TopicPolicy\n"
        "        Properties:\n"
        "          Topics: [{Ref: !Sub '${Name}Topic'}]\n"
    )
    resources = load_template(template)["Resources"]
    assert set(resources) == {"OrdersTopic", "UsersTopic", "OrdersTopicPolicy", "UsersTopicPolicy"}
    topic = resources["UsersTopic"]["Properties"]
    assert topic["DisplayName"] == {"Fn::Sub": "Users ${Stage}"}
    assert topic["Tags"] == [{"Key": "stage", "Value": {"Ref": "Stage"}}]  # not the parameter's default
    assert resources["UsersTopicPolicy"]["Properties"]["Topics"] == [{"Ref": "UsersTopic"}]


def test_template_loader_refuses_a_loop_it_cannot_expand(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: AWS::LanguageExtensions\nResources:\n  Fn::ForEach::Topics:\n    - Name\n    - [Orders]\n"
    )
    with pytest.raises(TemplateError, match="Fn::ForEach::Topics"):
        load_template(template)


def test_developer_env_overrides_template_parameters() -> None:
    model = read_stack(
        ROOT / "template.yaml",
        region="ap-southeast-1",
        environ={"OTP_TTL_SECONDS": "5", "USERS_TABLE_NAME": "someone-elses-table"},
    )
    assert model.environment["OTP_TTL_SECONDS"] == "5"
    assert model.parameters["OtpTtlSeconds"] == "5"
    # Resource references always point at the local tables.
    assert model.environment["USERS_TABLE_NAME"] == "phone-auth-local-UsersTable"
    assert model.environment["STAGE"] == "local"
    assert model.environment["SMS_SENDER"] == "sns"
    assert any("OtpTtlSeconds" in warning for warning in model.warnings)


def test_parameter_precedence_samconfig_then_overrides_then_env_vars() -> None:
    model = read_stack(
        ROOT / "template.yaml",
        region="ap-southeast-1",
        environ={"OTP_MAX_ATTEMPTS": "7"},
        config_env="th-dev",
        parameter_overrides={"SignupMode": "open", "OtpMaxAttempts": "5"},
    )
    assert model.environment["OTP_LOGIN_ENABLED"] == "false"  # samconfig's th-dev
    assert model.environment["JWT_SECRET_PARAMETER_NAME"] == "/phone-auth/th-dev/jwt-secret"
    assert model.environment["SIGNUP_MODE"] == "open"  # an override beats samconfig
    assert model.environment["OTP_MAX_ATTEMPTS"] == "7"  # an env var beats an override


def test_a_local_stack_of_the_production_config_env_is_not_production() -> None:
    """make run ENV=prod serves prod's settings as a local development stage, and its banner says so."""
    model = read_stack(ROOT / "template.yaml", region="ap-southeast-1", environ={}, config_env="prod")
    assert model.parameters["Environment"] == "development"
    assert (model.environment["ENVIRONMENT"], model.environment["STAGE"]) == ("development", "local")
    assert model.environment["ALLOWED_ORIGINS"] == "http://localhost:*,http://127.0.0.1:*"
    stack = SimpleNamespace(model=model, url="http://127.0.0.1:3000", moto_url="http://127.0.0.1:5000", region="x")
    text = banner(stack, [])  # type: ignore[arg-type]
    assert "  Stage   local: a local, non-production stage (ENVIRONMENT=development" in text


def test_unknown_parameters_and_config_envs_are_refused() -> None:
    with pytest.raises(TemplateError, match="OtpTtl"):
        read_stack(ROOT / "template.yaml", region="ap-southeast-1", environ={}, parameter_overrides={"OtpTtl": "5"})
    with pytest.raises(TemplateError, match="nope"):
        read_stack(ROOT / "template.yaml", region="ap-southeast-1", environ={}, config_env="nope")


@pytest.mark.parametrize(
    ("construct", "old", "new"),
    [
        ("a TOKEN authorizer", "FunctionPayloadType: REQUEST", "FunctionPayloadType: TOKEN"),
        ("identity sources other than headers", "Headers: [Authorization]", "QueryStrings: [token]"),
        ("caching (ReauthorizeEvery", "ReauthorizeEvery: !Ref AuthorizerCacheTtlSeconds", "ReauthorizeEvery: 300"),
        ("AWS::Serverless::HttpApi", "Resources:\n", "Resources:\n  OtherApi:\n    Type: AWS::Serverless::HttpApi\n"),
        ("implicit API", "RestApiId: !Ref PhoneAuthApi\n            Path: /auth/me", "Path: /auth/me"),
        ("a greedy path parameter", "Path: /auth/me", "Path: /auth/{proxy+}"),
        (
            "GlobalSecondaryIndexes",
            "BillingMode: PAY_PER_REQUEST",
            "BillingMode: PAY_PER_REQUEST\n      GlobalSecondaryIndexes: []",
        ),
        (
            "KinesisStreamSpecification",
            "BillingMode: PAY_PER_REQUEST",
            "BillingMode: PAY_PER_REQUEST\n      KinesisStreamSpecification: {}",
        ),
        (
            "a StreamSpecification other than a StreamViewType",
            "StreamViewType: NEW_AND_OLD_IMAGES",
            "StreamViewType: NEW_AND_OLD_IMAGES\n        ResourcePolicy: {}",
        ),
        ("FilterCriteria", "BatchSize: 10", "BatchSize: 10\n            FilterCriteria: {}"),
        ("a stream that is not", "Stream: !GetAtt UsersTable.StreamArn", "Stream: !GetAtt OtpTable.StreamArn"),
        (  # on a function the stack serves (one with no event it serves is left to make invoke)
            "Schedule events",
            "        UsersStream:\n",
            "        Tick:\n          Type: Schedule\n          Properties:\n            Schedule: rate(1 hour)\n"
            "        UsersStream:\n",
        ),
        (
            "a rule on another bus than the default one",
            "          Type: EventBridgeRule\n          Properties:\n",
            "          Type: EventBridgeRule\n          Properties:\n            EventBusName: imports\n",
        ),
        (
            "InputTransformer",
            "          Type: EventBridgeRule\n          Properties:\n",
            "          Type: EventBridgeRule\n          Properties:\n            InputTransformer: {}\n",
        ),
        ("ImportUsersFunction.Uploaded: its Pattern", "name: [!Ref ImportBucket]", "name: [!GetAtt ImportBucket.Arn]"),
        (
            "EventInvokeConfig DestinationConfig",
            "MaximumRetryAttempts: 2\n",
            "MaximumRetryAttempts: 2\n        DestinationConfig: {}\n",
        ),
        (
            "a NotificationConfiguration other than an EventBridgeConfiguration",
            "        EventBridgeConfiguration:\n          EventBridgeEnabled: true\n",
            "        EventBridgeConfiguration:\n          EventBridgeEnabled: true\n        QueueConfigurations: []\n",
        ),
        (
            "ImportBucket: VersioningConfiguration",
            "      LifecycleConfiguration:\n",
            "      VersioningConfiguration: {Status: Enabled}\n      LifecycleConfiguration:\n",
        ),
        (
            "env var SHARED",
            "BCRYPT_ROUNDS: !Ref BcryptRounds",
            "BCRYPT_ROUNDS: !Ref BcryptRounds\n        SHARED: !ImportValue x",
        ),
    ],
)
def test_constructs_the_template_does_not_use_are_refused_by_name(
    tmp_path: Path, construct: str, old: str, new: str
) -> None:
    text = (ROOT / "template.yaml").read_text()
    assert old in text
    (tmp_path / "template.yaml").write_text(text.replace(old, new, 1))
    with pytest.raises(TemplateError, match=re.escape(construct)):
        read_stack(tmp_path / "template.yaml", region="ap-southeast-1", environ={})


def test_the_event_builders_make_the_shape_of_the_sample_events() -> None:
    """events/*.json (for sam local invoke) and the events the local stack builds have the same keys."""
    from devtools.local_stack.gateway import IncomingRequest, authorizer_event, proxy_event

    def request(method: str, path: str, body: bytes) -> IncomingRequest:
        headers = [("Authorization", "Bearer x"), ("Content-Type", "application/json")]
        return IncomingRequest(method, path, headers, [], body, "127.0.0.1", resource=path)

    me, check_mobile = request("GET", "/auth/me", b""), request("POST", "/auth/check-mobile", b"{}")
    built = {
        "me": proxy_event(me, stage="dev", authorizer={"principalId": "p"}),
        "check_mobile": proxy_event(check_mobile, stage="dev"),
        "authorizer": authorizer_event(
            me, method_arn="arn:aws:execute-api:ap-southeast-1:1:a/dev/GET/auth/me", stage="dev"
        ),
    }
    for name, event in built.items():
        sample = json.loads((ROOT / "events" / f"{name}.json").read_text())
        assert set(event) == set(sample), name
        assert set(event["requestContext"]) == set(sample["requestContext"]), name
        assert set(event["requestContext"]["identity"]) == set(sample["requestContext"]["identity"]), name
        assert {k: v for k, v in event.items() if not isinstance(v, dict | str)} == {
            k: v for k, v in sample.items() if not isinstance(v, dict | str)
        }, name


def test_make_dynamodb_writes_atomic_is_idempotent() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    make_dynamodb_writes_atomic()
    wrapped = DynamoDBBackend.put_item
    assert make_dynamodb_writes_atomic() == ()
    assert DynamoDBBackend.put_item is wrapped


# ---------------------------------------------------------------------------- gateway (stubs)
class Recorder:
    """Stub handlers that record what the gateway hands them."""

    def __init__(self) -> None:
        self.authorizer_events: list[dict[str, Any]] = []

    def authorizer(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.authorizer_events.append(event)
        token = (event["headers"] or {}).get("Authorization", "").removeprefix("Bearer ")
        if token == "unauthorized":
            raise Exception("Unauthorized")
        if token == "crash":
            raise ValueError("authorizer bug")
        if token == "bad-context":
            return {"principalId": "x", "policyDocument": _policy("Allow", "*"), "context": {"list": [1]}}
        if token == "allow":
            return {
                "principalId": ALLOW_CONTEXT["user_id"],
                "policyDocument": _policy("Allow", event["methodArn"]),
                "context": ALLOW_CONTEXT,
            }
        return {
            "principalId": "anonymous",
            "policyDocument": _policy("Deny", event["methodArn"]),
            "context": {"error_code": "TOKEN_INVALID", "error_message": "The access token is invalid."},
        }

    @staticmethod
    def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert context.get_remaining_time_in_millis() > 0
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json", "X-Function": context.function_name},
            "body": json.dumps(event),
            "isBase64Encoded": False,
        }

    @staticmethod
    def crash(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("handler bug")

    @staticmethod
    def malformed(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 200, "body": {"not": "a string"}}

    @staticmethod
    def send_sms(event: dict[str, Any], context: Any) -> dict[str, Any]:
        phone = json.loads(event["body"])["phone"]
        boto3.client("sns").publish(PhoneNumber=phone, Message="Your phone-auth code is 654321.")
        return {"statusCode": 200, "body": json.dumps({"success": True})}


def _policy(effect: str, resource: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
    }


@pytest.fixture(scope="class")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="class")
def stub_stack(recorder: Recorder) -> Iterator[LocalStack]:
    stack = start(
        port=0,
        echo=False,
        import_sample_users=False,
        handlers={
            "AuthorizerFunction": recorder.authorizer,
            "MeFunction": recorder.echo,
            "CheckMobileFunction": recorder.echo,
            "LogoutFunction": recorder.crash,
            "VerifyCodeFunction": recorder.malformed,
            "SendVerificationFunction": recorder.send_sms,
        },
    )
    try:
        yield stack
    finally:
        stack.stop()


class TestGateway:
    def test_health(self, stub_stack: LocalStack) -> None:
        assert call(stub_stack, "GET", "/_local/health")[::2] == (200, {"ok": True})

    def test_template_tables_exist_in_moto(self, stub_stack: LocalStack) -> None:
        client = boto3.client("dynamodb", endpoint_url=stub_stack.moto_url, region_name=stub_stack.region)
        names = client.list_tables()["TableNames"]
        assert "phone-auth-local-UsersTable" in names
        assert "phone-auth-local-OtpTable" in names
        otp = client.describe_table(TableName="phone-auth-local-OtpTable")["Table"]
        assert [k["AttributeName"] for k in otp["KeySchema"]] == ["phone", "purpose"]
        ttl = client.describe_time_to_live(TableName="phone-auth-local-OtpTable")["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}

    def test_jwt_secret_is_a_secure_string(self, stub_stack: LocalStack) -> None:
        name = os.environ["JWT_SECRET_PARAMETER_NAME"]
        client = boto3.client("ssm", endpoint_url=stub_stack.moto_url, region_name=stub_stack.region)
        parameter = client.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        assert parameter["Type"] == "SecureString"
        assert len(parameter["Value"]) >= 40

    def test_environment_points_boto3_at_moto(self, stub_stack: LocalStack) -> None:
        assert os.environ["AWS_ENDPOINT_URL"] == stub_stack.moto_url
        assert os.environ["USERS_TABLE_NAME"] == "phone-auth-local-UsersTable"
        assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"

    def test_preflight_answers_cors(self, stub_stack: LocalStack) -> None:
        status, headers, body = call(stub_stack, "OPTIONS", "/auth/send-verification")
        assert status == 204
        assert body is None
        assert headers["access-control-allow-origin"] == ORIGIN
        assert "Authorization" in headers["access-control-allow-headers"]
        assert "POST" in headers["access-control-allow-methods"]
        assert headers["access-control-max-age"] == "600"

    @pytest.mark.parametrize("origin", ["http://127.0.0.1:5173", "http://localhost:8080", "http://localhost"])
    def test_every_localhost_port_is_an_allowed_origin_by_default(self, stub_stack: LocalStack, origin: str) -> None:
        for method, path in [("OPTIONS", "/api/v1/auth/me"), ("GET", "/auth/me"), ("GET", "/auth/nope")]:
            headers = call(stub_stack, method, path, headers={"Origin": origin})[1]
            assert headers["access-control-allow-origin"] == origin, (method, path)

    def test_an_origin_not_listed_gets_no_cors_header(self, stub_stack: LocalStack) -> None:
        """The local default lists only host:* patterns, so there is no exact origin to answer instead."""
        for method, path in [("OPTIONS", "/auth/me"), ("POST", "/auth/check-mobile"), ("GET", "/auth/nope")]:
            headers = call(stub_stack, method, path, {} if method == "POST" else None, {"Origin": "https://evil.test"})[
                1
            ]
            assert "access-control-allow-origin" not in headers, (method, path)

    def test_preflight_under_the_alias(self, stub_stack: LocalStack) -> None:
        assert call(stub_stack, "OPTIONS", "/api/v1/auth/me")[0] == 204

    def test_unknown_route_is_a_json_404(self, stub_stack: LocalStack) -> None:
        assert_gateway_error(*call(stub_stack, "GET", "/auth/nope"), 404, "NOT_FOUND")
        assert_gateway_error(*call(stub_stack, "POST", "/api/v2/auth/me", {}), 404, "NOT_FOUND")

    def test_wrong_method_on_a_known_path_is_a_404(self, stub_stack: LocalStack) -> None:
        assert_gateway_error(*call(stub_stack, "GET", "/auth/check-mobile"), 404, "NOT_FOUND")

    @pytest.mark.parametrize("method", ["TRACE", "CONNECT", "FOO", "PROPFIND"])
    def test_methods_api_gateway_refuses_get_its_404(self, stub_stack: LocalStack, method: str) -> None:
        for path in ("/auth/me", "/api/v1/auth/check-mobile", "/auth/nope", "/_local/health"):
            connection = http.client.HTTPConnection("127.0.0.1", stub_stack.port, timeout=10)
            try:
                connection.request(method, path, headers={"Origin": ORIGIN})
                response = connection.getresponse()
                headers = {name.lower(): value for name, value in response.getheaders()}
                body = json.loads(response.read())
            finally:
                connection.close()
            assert_gateway_error(response.status, headers, body, 404, "NOT_FOUND")

    def test_a_kept_alive_connection_is_not_slower_than_fresh_ones(self, stub_stack: LocalStack) -> None:
        """A response written in pieces waits for the client's delayed ACK (~40 ms) on a reused connection."""
        timings: dict[str, list[float]] = {"kept": [], "fresh": []}

        def timed(connection: http.client.HTTPConnection, kind: str) -> None:
            started = time.perf_counter()
            connection.request("GET", "/_local/health")
            assert json.loads(connection.getresponse().read()) == {"ok": True}
            timings[kind].append(time.perf_counter() - started)

        kept = http.client.HTTPConnection("127.0.0.1", stub_stack.port, timeout=10)
        try:
            timed(kept, "kept")
            timings["kept"].clear()  # the first request opens the connection; measure only reuse
            for _ in range(20):
                timed(kept, "kept")
                fresh = http.client.HTTPConnection("127.0.0.1", stub_stack.port, timeout=10)
                try:
                    timed(fresh, "fresh")
                finally:
                    fresh.close()
        finally:
            kept.close()
        kept_median, fresh_median = statistics.median(timings["kept"]), statistics.median(timings["fresh"])
        # With the stall a reused connection was ~40 times slower than a new one; without it, it is
        # faster. 3x leaves room for a busy machine.
        assert kept_median < 3 * fresh_median, (
            f"kept-alive {kept_median * 1000:.2f} ms, fresh {fresh_median * 1000:.2f} ms"
        )

    def test_event_is_a_rest_proxy_event(self, stub_stack: LocalStack) -> None:
        status, headers, event = call(
            stub_stack, "POST", "/auth/check-mobile?a=1&a=2", {"phone": "081-234-5678"}, {"Accept-Language": "th"}
        )
        assert status == 200
        assert headers["x-function"] == "phone-auth-local-CheckMobileFunction"
        assert event["resource"] == "/auth/check-mobile"
        assert event["path"] == "/auth/check-mobile"
        assert event["httpMethod"] == "POST"
        assert event["headers"]["Accept-Language"] == "th"
        assert event["multiValueHeaders"]["Accept-Language"] == ["th"]
        assert event["queryStringParameters"] == {"a": "2"}
        assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
        assert event["pathParameters"] is None
        assert event["stageVariables"] is None
        assert json.loads(event["body"]) == {"phone": "081-234-5678"}
        assert event["isBase64Encoded"] is False
        context = event["requestContext"]
        assert context["stage"] == stub_stack.model.stage_name
        assert context["resourcePath"] == "/auth/check-mobile"
        assert context["httpMethod"] == "POST"
        assert context["identity"]["sourceIp"] == "127.0.0.1"
        assert uuid.UUID(context["requestId"])
        assert isinstance(context["requestTimeEpoch"], int)
        assert "authorizer" not in context

    def test_api_v1_alias_reaches_the_same_function(self, stub_stack: LocalStack) -> None:
        status, headers, event = call(stub_stack, "POST", "/api/v1/auth/check-mobile", {"phone": PHONE})
        assert status == 200
        assert headers["x-function"] == "phone-auth-local-CheckMobileFunction"
        assert event["resource"] == "/auth/check-mobile"
        assert event["path"] == "/api/v1/auth/check-mobile"  # as with a custom-domain base path mapping

    def test_protected_route_without_token_never_reaches_the_authorizer(
        self, stub_stack: LocalStack, recorder: Recorder
    ) -> None:
        before = len(recorder.authorizer_events)
        assert_gateway_error(*call(stub_stack, "GET", "/auth/me"), 401, "UNAUTHORIZED")
        assert_gateway_error(*call(stub_stack, "GET", "/auth/me", headers={"Authorization": " "}), 401, "UNAUTHORIZED")
        assert len(recorder.authorizer_events) == before

    def test_allow_passes_the_context_as_strings(self, stub_stack: LocalStack, recorder: Recorder) -> None:
        status, _, event = call(stub_stack, "GET", "/api/v1/auth/me", headers={"Authorization": "Bearer allow"})
        assert status == 200
        authorizer = event["requestContext"]["authorizer"]
        assert authorizer["principalId"] == ALLOW_CONTEXT["user_id"]
        assert authorizer["user_id"] == ALLOW_CONTEXT["user_id"]
        assert authorizer["phone"] == PHONE
        assert authorizer["session_epoch"] == "0"
        auth_event = recorder.authorizer_events[-1]
        assert auth_event["type"] == "REQUEST"
        assert auth_event["methodArn"] == (
            f"arn:aws:execute-api:{stub_stack.region}:123456789012:local/{stub_stack.model.stage_name}/GET/auth/me"
        )
        assert auth_event["headers"]["Authorization"] == "Bearer allow"
        assert auth_event["resource"] == "/auth/me"

    def test_deny_becomes_access_denied_with_the_authorizer_error(self, stub_stack: LocalStack) -> None:
        status, headers, body = call(stub_stack, "GET", "/auth/me", headers={"Authorization": "Bearer expired"})
        assert_gateway_error(status, headers, body, 401, "TOKEN_INVALID")
        assert body["error"]["message"] == "The access token is invalid."

    def test_authorizer_raising_unauthorized_is_a_401(self, stub_stack: LocalStack) -> None:
        response = call(stub_stack, "GET", "/auth/me", headers={"Authorization": "Bearer unauthorized"})
        assert_gateway_error(*response, 401, "UNAUTHORIZED")

    def test_authorizer_crash_is_a_503_to_retry(self, stub_stack: LocalStack) -> None:
        """The authorizer raised (a dependency failed): AUTHORIZER_CONFIGURATION_ERROR, our 503 to retry."""
        for token in ("crash", "bad-context"):
            response = call(stub_stack, "GET", "/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert_gateway_error(*response, 503, "SERVICE_UNAVAILABLE")
            assert response[1]["retry-after"] == "1"
            assert "Retry-After" in response[1]["access-control-expose-headers"]

    def test_an_authorizer_that_raises_gets_the_configuration_error_response(self, stub_stack: LocalStack) -> None:
        """API Gateway answers an authorizer that raises (other than "Unauthorized") or returns what it
        cannot use with AUTHORIZER_CONFIGURATION_ERROR: the template's entry makes it our 503."""
        for token in ("crash", "bad-context"):
            status, headers, body = call(stub_stack, "GET", "/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert_gateway_error(status, headers, body, 503, "SERVICE_UNAVAILABLE")
            assert headers["x-amzn-errortype"] == "AuthorizerConfigurationException"
            assert headers["retry-after"] == "1"

    def test_a_host_that_is_not_loopback_is_refused_before_any_route(
        self, stub_stack: LocalStack, recorder: Recorder
    ) -> None:
        seen = len(recorder.authorizer_events)
        for method, path, headers in [
            ("GET", "/_local/info", {}),
            ("GET", "/_local/sms", {}),
            ("GET", "/auth/me", {"Authorization": "Bearer allow"}),
            ("OPTIONS", "/auth/me", {}),
        ]:
            status, _, raw = fetch(stub_stack, method, path, headers=headers | {"Host": "rebound.attacker.example"})
            assert status == 403, path
            assert "moto" not in raw.decode()
        assert len(recorder.authorizer_events) == seen  # the authorizer never ran
        assert fetch(stub_stack, "GET", "/_local/info", headers={"Host": f"localhost:{stub_stack.port}"})[0] == 200

    @pytest.mark.parametrize("path", ["/%00", "/auth/%00", "/_local/%00", "/auth/me%00", "/%ff"])
    def test_a_nul_or_undecodable_path_is_a_404(self, stub_stack: LocalStack, path: str) -> None:
        assert_gateway_error(*call(stub_stack, "GET", path), 404, "NOT_FOUND")

    def test_function_crash_is_a_502(self, stub_stack: LocalStack) -> None:
        response = call(stub_stack, "POST", "/auth/logout", headers={"Authorization": "Bearer allow"})
        assert_gateway_error(*response, 502, "INTERNAL_ERROR")

    def test_malformed_proxy_response_is_a_502(self, stub_stack: LocalStack) -> None:
        assert_gateway_error(*call(stub_stack, "POST", "/auth/verify-code", {}), 502, "INTERNAL_ERROR")

    def test_body_over_10_mib_is_rejected_unread(self, stub_stack: LocalStack) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", stub_stack.port, timeout=10)
        try:
            connection.putrequest("POST", "/auth/check-mobile")
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(10 * 1024 * 1024 + 1))
            connection.endheaders()
            response = connection.getresponse()
            body = json.loads(response.read())
        finally:
            connection.close()
        assert response.status == 413
        assert body == {
            "success": False,
            "error": {"code": "PAYLOAD_TOO_LARGE", "message": "The request body is too large."},
        }

    def test_sms_outbox_collects_what_the_functions_publish(self, stub_stack: LocalStack) -> None:
        other = "+66898765432"
        assert call(stub_stack, "POST", "/auth/send-verification", {"phone": other})[0] == 200
        assert call(stub_stack, "POST", "/auth/send-verification", {"phone": other})[0] == 200
        status, _, messages = call(stub_stack, "GET", "/_local/sms?phone=%2B66898765432")
        assert status == 200
        assert [m["to"] for m in messages] == [other, other]
        assert messages[0]["body"] == "Your phone-auth code is 654321."
        assert messages[0]["sent_at"] <= messages[1]["sent_at"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", messages[0]["sent_at"])
        assert call(stub_stack, "GET", "/_local/sms?phone=%2B66000000000")[2] == []
        assert len(call(stub_stack, "GET", "/_local/sms")[2]) >= 2

    def test_a_burst_of_parallel_requests_all_get_answers(self, stub_stack: LocalStack) -> None:
        statuses: list[int] = []
        barrier = threading.Barrier(40)

        def one() -> None:
            barrier.wait()
            statuses.append(call(stub_stack, "POST", "/auth/check-mobile", {"phone": PHONE})[0])

        threads = [threading.Thread(target=one) for _ in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * 40

    def test_conditional_writes_are_atomic_under_concurrency(self, stub_stack: LocalStack) -> None:
        client = boto3.client("dynamodb", endpoint_url=stub_stack.moto_url, region_name=stub_stack.region)
        table = stub_stack.table_names["OtpTable"]
        winners: list[int] = []
        barrier = threading.Barrier(16)

        def claim(index: int) -> None:
            barrier.wait()
            try:
                client.put_item(
                    TableName=table,
                    Item={"phone": {"S": "+66811111111"}, "purpose": {"S": "race"}, "owner": {"N": str(index)}},
                    ConditionExpression="attribute_not_exists(phone)",
                )
                winners.append(index)
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(winners) == 1


def test_stop_restores_the_environment() -> None:
    before = dict(os.environ)
    stack = start(port=0, echo=False, import_sample_users=False, handlers={"AuthorizerFunction": Recorder.echo})
    assert os.environ["AWS_ENDPOINT_URL"] == stack.moto_url
    with pytest.raises(RuntimeError, match="already running"):
        start(port=0, echo=False)
    stack.stop()
    stack.stop()  # idempotent
    assert dict(os.environ) == before
    assert not set(stack.gateway.loaded_modules) & set(sys.modules)  # the next start is a cold start


def _echo_stack_of(template_text: str, tmp_path: Path) -> tuple[LocalStack, Recorder]:
    """A local stack of an edited template: every function echoes its event, the authorizer is a
    Recorder's (returned with the stack)."""
    (tmp_path / "template.yaml").write_text(template_text)
    recorder = Recorder()
    functions = [
        lid
        for lid, r in load_template(tmp_path / "template.yaml")["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    ]
    handlers = dict.fromkeys(functions, Recorder.echo) | {"AuthorizerFunction": recorder.authorizer}
    stack = start(
        port=0, echo=False, import_sample_users=False, template_path=tmp_path / "template.yaml", handlers=handlers
    )
    return stack, recorder


def test_path_parameters_reach_the_function_and_a_literal_route_wins(tmp_path: Path) -> None:
    text = (ROOT / "template.yaml").read_text()
    for old, new in [
        ("Path: /auth/me\n", "Path: /auth/sessions/{id}\n"),
        ("Path: /auth/check-mobile\n", "Path: /auth/sessions/current\n"),
    ]:
        assert old in text
        text = text.replace(old, new)
    stack, recorder = _echo_stack_of(text, tmp_path)
    try:
        status, headers, event = call(
            stack, "GET", "/api/v1/auth/sessions/s-42", headers={"Authorization": "Bearer allow"}
        )
        assert (status, headers["x-function"]) == (200, "phone-auth-local-MeFunction")
        assert event["resource"] == "/auth/sessions/{id}"
        assert event["pathParameters"] == {"id": "s-42"}
        assert event["requestContext"]["resourcePath"] == "/auth/sessions/{id}"
        assert recorder.authorizer_events[-1]["methodArn"].endswith("/GET/auth/sessions/s-42")
        assert recorder.authorizer_events[-1]["pathParameters"] == {"id": "s-42"}
        status, headers, event = call(stack, "POST", "/auth/sessions/current", {})
        assert (status, headers["x-function"], event["pathParameters"]) == (
            200,
            "phone-auth-local-CheckMobileFunction",
            None,
        )
        # API Gateway picks the literal resource, which has no GET: it does not fall back to {id}.
        assert_gateway_error(
            *call(stack, "GET", "/auth/sessions/current", headers={"Authorization": "Bearer allow"}), 404, "NOT_FOUND"
        )
        assert_gateway_error(
            *call(stack, "GET", "/auth/sessions/a/b", headers={"Authorization": "Bearer allow"}), 404, "NOT_FOUND"
        )
        assert call(stack, "OPTIONS", "/auth/sessions/s-42")[0] == 204
    finally:
        stack.stop()


def test_the_configuration_error_response_comes_from_the_template(tmp_path: Path) -> None:
    """Without the template's AUTHORIZER_CONFIGURATION_ERROR entry, an authorizer that raises gets
    API Gateway's 500 through DEFAULT_5XX, no Retry-After: the entry is what makes it our 503."""
    text = (ROOT / "template.yaml").read_text()
    assert "        AUTHORIZER_CONFIGURATION_ERROR:\n" in text
    text = text.replace("        AUTHORIZER_CONFIGURATION_ERROR:\n", "        BAD_REQUEST_PARAMETERS:\n")
    stack, _ = _echo_stack_of(text, tmp_path)
    try:
        status, headers, body = call(stack, "GET", "/auth/me", headers={"Authorization": "Bearer crash"})
        assert_gateway_error(status, headers, body, 500, "INTERNAL_ERROR")
        assert "retry-after" not in headers
    finally:
        stack.stop()


def test_demo_users_are_imported_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devtools.local_stack import stack as stack_module
    from ops import import_users

    csv = tmp_path / "sample_users.csv"
    csv.write_text("phone,password\n+66812345678,Sunflower-Rain-2026\n")
    calls: list[tuple[Any, ...]] = []

    def import_file(path: Path, users_table_name: str, **settings: Any) -> import_users.ImportReport:
        calls.append((path, users_table_name, settings["default_region"], os.environ["AWS_ENDPOINT_URL"]))
        return import_users.ImportReport(created=1)

    monkeypatch.setattr(stack_module, "SAMPLE_USERS_CSV", csv)
    monkeypatch.setattr(import_users, "import_file", import_file)
    lines: list[str] = []
    stack = start(port=0, log=lines.append, handlers={"AuthorizerFunction": Recorder.echo})
    try:
        assert calls == [(csv, "phone-auth-local-UsersTable", "TH", stack.moto_url)]
        assert any(line.startswith("demo users: imported") and "(created=1 " in line for line in lines)
    finally:
        stack.stop()


def test_a_failing_demo_import_does_not_stop_the_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devtools.local_stack import stack as stack_module

    monkeypatch.setattr(stack_module, "SAMPLE_USERS_CSV", tmp_path / "absent.csv")
    lines: list[str] = []
    start(port=0, log=lines.append, handlers={"AuthorizerFunction": Recorder.echo}).stop()
    assert any(line.startswith("demo users: import failed (ImportFailed") for line in lines)
    assert any("Ctrl+C to stop" in line for line in lines)


# ---------------------------------------------------------------------------- the real code
@pytest.fixture(scope="class")
def real_stack() -> Iterator[LocalStack]:
    stack = start(port=0, echo=False, import_sample_users=False)
    try:
        yield stack
    finally:
        stack.stop()


class TestWithLambdaCode:
    def test_health(self, real_stack: LocalStack) -> None:
        assert call(real_stack, "GET", "/_local/health")[::2] == (200, {"ok": True})

    def test_send_verification_texts_a_code(self, real_stack: LocalStack) -> None:
        status, headers, body = call(real_stack, "POST", "/auth/send-verification", {"phone": "081-234-5678"})
        assert status == 200, body
        assert body["success"] is True
        assert headers["access-control-allow-origin"] == ORIGIN
        status, _, messages = call(real_stack, "GET", "/_local/sms?phone=%2B66812345678")
        assert status == 200
        assert len(messages) == 1
        assert messages[0]["to"] == PHONE
        assert re.search(r"\b\d{6}\b", messages[0]["body"])

    def test_a_simple_cross_site_request_is_refused_before_any_work(self, real_stack: LocalStack) -> None:
        """A page on another site can make its visitors' browsers POST text/plain without a preflight:
        such a body is refused, so neither a code goes out nor a wrong password counts."""
        evil = {"Origin": "https://evil.example", "Content-Type": "text/plain;charset=UTF-8"}
        phone = "+66812340000"
        status, headers, body = call(real_stack, "POST", "/auth/send-verification", {"phone": phone}, headers=evil)
        assert (status, body["error"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
        assert "access-control-allow-origin" not in headers  # and the page cannot read the answer
        assert real_stack.sms(phone) == []
        login = {"phone": phone, "password": "not-the-password"}
        status, _, body = call(real_stack, "POST", "/auth/login/mobile", login, headers=evil)
        assert (status, body["error"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")

    def test_me_without_token_is_401(self, real_stack: LocalStack) -> None:
        assert_gateway_error(*call(real_stack, "GET", "/auth/me"), 401, "UNAUTHORIZED")

    def test_me_with_a_garbled_token_is_401_with_the_authorizer_code(self, real_stack: LocalStack) -> None:
        status, headers, body = call(real_stack, "GET", "/auth/me", headers={"Authorization": "Bearer not-a-jwt"})
        assert status == 401
        assert body["success"] is False
        assert body["error"]["code"] not in ("", "UNAUTHORIZED")  # the authorizer's own code came through
        assert "access-control-allow-origin" in headers

    def test_api_v1_alias_reaches_the_same_function(self, real_stack: LocalStack) -> None:
        direct = call(real_stack, "POST", "/auth/check-mobile", {"phone": "+66899999999"})
        aliased = call(real_stack, "POST", "/api/v1/auth/check-mobile", {"phone": "+66899999999"})
        assert direct[0] == aliased[0] == 200
        assert direct[2] == aliased[2]

    def test_register_login_me_logout(self, real_stack: LocalStack) -> None:
        phone, local = "+66823456789", "082-345-6789"
        status, _, body = call(real_stack, "POST", "/api/v1/auth/request-registration-otp", {"phone": local})
        assert status == 200, body
        status, _, body = call(
            real_stack,
            "POST",
            "/api/v1/auth/verify-registration-otp",
            {"phone": local, "code": StackApi(real_stack).last_code(phone)},
        )
        assert status == 200, body
        password = "Sunflower-Rain-2026"
        status, _, body = call(
            real_stack,
            "POST",
            "/api/v1/auth/complete-registration",
            {"phone": local, "password": password, "registration_token": body["registration_token"]},
        )
        assert status in (200, 201), body
        status, _, body = call(real_stack, "POST", "/api/v1/auth/login/mobile", {"phone": local, "password": password})
        assert status == 200, body
        bearer = {"Authorization": f"Bearer {body['access_token']}"}
        status, _, body = call(real_stack, "GET", "/api/v1/auth/me", headers=bearer)
        assert status == 200, body
        assert json.dumps(body).count(phone) >= 1
        status, _, body = call(real_stack, "POST", "/api/v1/auth/logout", headers=bearer)
        assert status == 200, body
        status, _, body = call(real_stack, "GET", "/api/v1/auth/me", headers=bearer)
        assert status == 401, body
        assert body["success"] is False


# ---------------------------------------------------------------------------- operations
class TestOperations:
    def test_an_unreachable_dependency_in_the_authorizer_is_a_503_to_retry(
        self, real_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        token = sign_in(StackApi(real_stack), "+66811111111")["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        with socket.create_server(("127.0.0.1", 0)) as probe:
            closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", closed)
        local_env.forget_warm_state()
        try:
            status, headers, body = call(real_stack, "GET", "/auth/me", headers=bearer)
            assert_gateway_error(status, headers, body, 503, "SERVICE_UNAVAILABLE")
            assert headers["retry-after"] == "1"
        finally:
            monkeypatch.delenv("AWS_ENDPOINT_URL_SSM")
            local_env.forget_warm_state()
        assert call(real_stack, "GET", "/auth/me", headers=bearer)[0] == 200

    def test_rotating_and_retiring_keys_of_the_running_stack(
        self, real_stack: LocalStack, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from ops import secret as secret_cli

        name = real_stack.model.environment["JWT_SECRET_PARAMETER_NAME"]
        ssm = boto3.client("ssm", endpoint_url=real_stack.moto_url, region_name=real_stack.region)

        def stored() -> dict[str, Any]:
            document: dict[str, Any] = json.loads(
                ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
            )
            return document

        (first,) = stored()["keys"]  # the stack starts with a key set of one key
        before = sign_in(StackApi(real_stack), "+66822222222")["access_token"]

        assert secret_cli.main(["--local", real_stack.url, "--rotate"]) == 0
        current, kept = stored()["keys"]
        assert kept == first  # unchanged: tokens it signed verify once the functions look keys up by kid
        assert stored()["current"] == current["kid"] != first["kid"]
        # Warm functions keep the cached key set until SECRET_CACHE_SECONDS: nothing changes for them.
        assert call(real_stack, "GET", "/auth/me", headers={"Authorization": f"Bearer {before}"})[0] == 200

        local_env.forget_warm_state()  # cold functions read the new key set
        after = sign_in(StackApi(real_stack), "+66833333333")["access_token"]
        assert call(real_stack, "GET", "/auth/me", headers={"Authorization": f"Bearer {after}"})[0] == 200

        assert secret_cli.main(["--local", real_stack.url, "--retire", "--force"]) == 0
        assert stored()["keys"] == [current]
        out, err = capsys.readouterr()
        for key in (first, current):
            assert key["secret"] not in out + err


# ---------------------------------------------------------------------------- lifecycle events
def event_kinds(stack: LocalStack) -> list[tuple[str, dict[str, Any]]]:
    status, headers, events = call(stack, "GET", "/_local/events")
    assert status == 200 and headers["content-type"] == "application/json"
    found = []
    for event in events:
        assert event["source"] == "phone-auth" and event["time"] and event["region"] == stack.region
        detail = dict(event["detail"])
        assert uuid.UUID(detail.pop("event_id"))
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", detail.pop("occurred_at"))
        found.append((event["detail-type"], detail))
    return found


class TestLifecycleEvents:
    """The same path as deployed: the users table's stream -> publish_events -> the bus, shown at /_local/events."""

    def test_each_change_shows_once_newest_last_and_delete_empties_the_list(self, real_stack: LocalStack) -> None:
        assert call(real_stack, "DELETE", "/_local/events")[0] == 204
        api, phone, new_phone = StackApi(real_stack, "/api/v1"), "+66844444444", "+66855555555"
        signed_in = sign_in(api, phone)
        user_id, token = signed_in["user"]["id"], signed_in["access_token"]
        assert api.call("request_phone_change", {"new_phone": new_phone}, token=token)[0] == 200
        change = {"new_phone": new_phone, "code": api.last_code(new_phone)}
        status, moved, _ = api.call("verify_phone_change", change, token=token)
        assert status == 200, moved
        assert api.call("delete_account", token=moved["access_token"])[0] == 200

        expected = [
            ("UserCreated", {"user_id": user_id, "market": "th", "phone": phone}),
            ("PhoneChanged", {"user_id": user_id, "market": "th", "phone": new_phone, "old_phone": phone}),
            ("SessionsEnded", {"user_id": user_id, "market": "th", "phone": new_phone, "reason": "phone_change"}),
            ("UserDeleted", {"user_id": user_id, "market": "th", "phone": new_phone}),
        ]
        assert event_kinds(real_stack) == expected
        time.sleep(1.2)  # the poller's own rounds publish nothing twice
        assert event_kinds(real_stack) == expected
        assert call(real_stack, "DELETE", "/_local/events")[0] == 204
        assert event_kinds(real_stack) == []

    def test_the_stream_subscription_is_read_from_the_template(self) -> None:
        model = read_stack(ROOT / "template.yaml", region="ap-southeast-1", environ={})
        (subscription,) = model.streams
        assert (subscription.function, subscription.table) == ("PublishEventsFunction", "UsersTable")
        assert subscription.batch_size == 10 and subscription.bisect and subscription.max_retries == 5


def test_a_batch_that_keeps_failing_is_halved_retried_then_dropped_and_said() -> None:
    calls: list[int] = []

    def failing(event: dict[str, Any], context: Any) -> Any:
        calls.append(len(event["Records"]))
        raise RuntimeError("EventBridge is down")

    lines: list[str] = []
    stack = start(port=0, log=lines.append, import_sample_users=False, handlers={"publish_events": failing})
    try:
        sign_in(StackApi(stack), "+66866666666")
        assert event_kinds(stack) == []
    finally:
        stack.stop()
    retries = stack.model.streams[0].max_retries
    assert calls == [1] * (retries + 1)  # one record: nothing to halve, every retry, then dropped
    assert any("failed every retry and were dropped" in line for line in lines)
