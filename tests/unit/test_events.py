"""events/*.json: the sample events `sam local invoke -e` uses.

Each must be a well-formed API Gateway event for its function's route (as the template
declares it), and invoking the handler with it, after seeding what it needs, must give a
documented answer. Placeholders such as REPLACE_WITH_ACCESS_TOKEN are replaced the way a
developer would, with a real token obtained through the handlers.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    ROOT,
    Api,
    Context,
    FakeClock,
    api_functions,
    last_code,
    load_event,
    load_handler,
    protected_functions,
    register,
    response_keys,
    sign_in,
    sms_outbox,
    template,
    user_keys,
)

EVENTS = ROOT / "events"
FUNCTIONS = ROOT / "functions"


# ------------------------------------------------------------------ helpers
def function_dirs() -> set[str]:
    """The functions' handler modules (functions/<name>.py), by name."""
    return {p.stem for p in FUNCTIONS.glob("*.py")}


def event_files() -> list[Path]:
    return sorted(EVENTS.glob("*.json"))


def routes() -> dict[str, tuple[str, str, bool]]:
    """function -> (path, method, behind the authorizer), from template.yaml."""
    from devtools.handlers import template_routes

    return {
        route.function: (route.path, route.method.upper(), route.protected) for route in template_routes(template())
    }


def invoke(function_dir: str, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = load_handler(function_dir).lambda_handler(event, Context())
    assert isinstance(response["statusCode"], int)
    assert isinstance(response["body"], str)
    assert response.get("isBase64Encoded", False) is False
    assert response["headers"]["Content-Type"].startswith("application/json")
    assert response["headers"]["Access-Control-Allow-Origin"]
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def body_of(function_dir: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(load_event(function_dir)["body"])
    return body


def e164(raw: str) -> str:
    from phone_auth.phones import normalize_phone
    from phone_auth.settings import get_settings

    return normalize_phone(raw, get_settings().default_region)


def seed_code(phone: str, purpose: Any, code: str, *, scope: str | None = None) -> None:
    """Store a code as send_code would, so the event's own sample code is the right one."""
    from phone_auth import clock, codes
    from phone_auth.settings import get_settings
    from phone_auth.store import codes as code_store
    from phone_auth.store.limits import Guards
    from phone_auth.store.records import NewCode

    now = int(clock.now())
    record = NewCode(
        phone=phone,
        purpose=codes.stored_purpose(purpose, scope),
        code_id=uuid.uuid4().hex,
        code_hash=codes.code_hash(phone, purpose, code, scope=scope),
        sent_at=now,
        expires_at=now + get_settings().code_ttl_seconds,
    )
    code_store.issue_code(record, recipient=code_store.Recipient.ANYONE, resend_cutoff=now, guards=Guards())


def with_body(function_dir: str, **changes: Any) -> dict[str, Any]:
    event = load_event(function_dir)
    event["body"] = json.dumps({**json.loads(event["body"]), **changes})
    return event


def assert_shape(function_dir: str, answer: tuple[int, dict[str, Any], dict[str, str]]) -> dict[str, Any]:
    status, body, _ = answer
    assert status == 200, (function_dir, body)
    assert set(body) == response_keys(function_dir), (function_dir, sorted(body))
    assert body["success"] is True
    if "user" in body:
        assert set(body["user"]) == user_keys()
    if "access_token" in body:
        assert body["token_type"] == "Bearer"
    return body


# ------------------------------------------------------------------ the files themselves
def test_there_is_exactly_one_event_per_function() -> None:
    stems = [p.stem for p in event_files()]
    assert len(stems) == len(set(stems))
    assert set(stems) == function_dirs()


def test_every_event_file_is_valid_json_object() -> None:
    assert event_files()
    for path in event_files():
        event = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(event, dict), path.name


def test_http_events_match_their_route_in_the_template() -> None:
    table = routes()
    assert set(table) == api_functions() - {"authorizer"}
    for function_dir, (path, method, guarded) in table.items():
        event = load_event(function_dir)
        assert event["resource"] == path, function_dir
        assert re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", path), event["path"]), function_dir
        for name in re.findall(r"\{(\w+)\}", path):
            assert event["pathParameters"][name] in event["path"], function_dir
        assert event["httpMethod"] == method, function_dir
        context = event["requestContext"]
        assert context["resourcePath"] == path and context["httpMethod"] == method, function_dir
        assert context["requestId"] and context["stage"], function_dir
        assert context["identity"]["sourceIp"], function_dir
        assert event.get("isBase64Encoded") is False, function_dir
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        for name, values in (event.get("multiValueHeaders") or {}).items():
            assert values == [event["headers"][name]], (function_dir, name)
        assert headers.get("authorization", "").startswith("Bearer ") is guarded, function_dir
        if method == "POST" and event["body"] is not None:
            assert isinstance(json.loads(event["body"]), dict), function_dir
            assert headers["content-type"].startswith("application/json"), function_dir
        if method == "GET":
            assert event["body"] is None, function_dir


def test_authorizer_event_is_a_request_authorizer_event_for_a_guarded_route() -> None:
    event = load_event("authorizer")
    assert event["type"] == "REQUEST"
    arn = event["methodArn"]
    assert arn.startswith("arn:aws:execute-api:")
    guarded = [f"/{method}{path}" for path, method, is_guarded in routes().values() if is_guarded]
    assert any(arn.endswith(route) for route in guarded), arn
    assert {k.lower() for k in event["headers"]} >= {"authorization"}


def test_the_other_events_are_their_sources_requests() -> None:
    """The functions API Gateway does not call get CloudFormation's, CloudWatch Logs' and the users
    table stream's events (publish_events': test_publish_events_event_is_a_dynamodb_stream_batch...)."""
    import base64
    import gzip

    assert function_dirs() - api_functions() == {"stack_setup", "sms_delivery_status", "publish_events", "import_users"}
    request = load_event("stack_setup")
    assert request["RequestType"] in ("Create", "Update", "Delete")
    assert {"ResponseURL", "StackId", "RequestId", "LogicalResourceId", "ResourceProperties"} <= set(request)
    resource = template_resources()[request["LogicalResourceId"]]
    assert resource["Type"] == request["ResourceType"]
    assert set(request["ResourceProperties"]) == set(resource["Properties"])
    logs = json.loads(gzip.decompress(base64.b64decode(load_event("sms_delivery_status")["awslogs"]["data"])))
    assert logs["messageType"] == "DATA_MESSAGE"
    assert logs["logGroup"].endswith("/DirectPublishToPhoneNumber/Failure") and logs["logEvents"]


def test_import_users_event_is_an_upload_its_rule_matches(clock: FakeClock) -> None:
    """S3's "Object Created" as EventBridge delivers it, matching the function's rule; with the
    job it names started and its file uploaded (the ETag put in, as a developer would), the
    handler imports the file."""
    import os

    import boto3

    event = load_event("import_users")
    pattern = template_resources()["ImportUsersFunction"]["Properties"]["Events"]["Uploaded"]["Properties"]["Pattern"]
    assert event["source"] in pattern["source"] and event["detail-type"] in pattern["detail-type"]
    key = event["detail"]["object"]["key"]
    assert any(key.startswith(rule["prefix"]) for rule in pattern["detail"]["object"]["key"])

    api = Api()
    import_id = key.removeprefix("uploads/").removesuffix(".csv")
    status, started, _ = api.call("admin_start_import", {"file_name": "users.csv"})
    assert status == 201
    from phone_auth.store import import_jobs  # the sample's id, as if POST /admin/imports had given it

    job = import_jobs.get(started["import_id"])
    assert job is not None
    job.import_id, job.upload_key = import_id, key
    import_jobs.create(job)
    bucket = os.environ["IMPORT_BUCKET_NAME"]
    put = boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b"phone,employee_id\r\n0812345678,E1\r\n")
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"]["etag"] = put["ETag"].strip('"')
    load_handler("import_users").lambda_handler(event, Context("import_users"))
    status, answer, _ = api.call("admin_get_import", path_parameters={"import_id": import_id})
    assert (status, answer["import"]["status"], answer["import"]["counts"]["created"]) == (200, "done", 1)


def template_resources() -> dict[str, Any]:
    from devtools.template import load_template

    resources: dict[str, Any] = load_template(ROOT / "template.yaml")["Resources"]
    return resources


# ------------------------------------------------------------------ invoking each handler with its event
def test_send_verification_event(clock: FakeClock) -> None:
    body = assert_shape("send_verification", invoke("send_verification", load_event("send_verification")))
    assert body["expires_in"] > 0
    assert [to for to, _ in sms_outbox()] == [e164(body_of("send_verification")["phone"])]


def test_verify_code_event(clock: FakeClock) -> None:
    sample = body_of("verify_code")
    seed_code(e164(sample["phone"]), "login", sample["verification_code"])
    body = assert_shape("verify_code", invoke("verify_code", load_event("verify_code")))
    assert body["is_new_user"] is True
    assert body["user"]["phone"] == e164(sample["phone"])


@pytest.mark.parametrize("function_dir", sorted(protected_functions()))
def test_guarded_events_with_a_fresh_token(api: Api, clock: FakeClock, function_dir: str) -> None:
    signed_in = sign_in(api, "+66812345678")
    # api.call sends events/<dir>.json through the authorizer first, as API Gateway does.
    path_parameters = load_event(function_dir).get("pathParameters")
    if path_parameters:  # the event's sample session id stands for one of the caller's sessions
        path_parameters = {name: signed_in["session_id"] for name in path_parameters}
    if function_dir == "verify_phone_change":  # the event's sample code is the one texted
        sample = body_of(function_dir)
        seed_code(e164(sample["new_phone"]), "phone_change", sample["code"], scope=signed_in["user"]["id"])
    sample_body = body_of(function_dir) if load_event(function_dir)["body"] else None
    answer = api.call(function_dir, sample_body, token=signed_in["access_token"], path_parameters=path_parameters)
    body = assert_shape(function_dir, answer)
    if function_dir == "me":
        assert body["user"]["id"] == signed_in["user"]["id"]
    if function_dir == "list_sessions":
        assert [session["id"] for session in body["sessions"]] == [signed_in["session_id"]]
    if function_dir == "verify_phone_change":
        assert body["user"]["id"] == signed_in["user"]["id"]
        assert body["user"]["phone"] == e164(body_of(function_dir)["new_phone"])


def test_refresh_event(api: Api, clock: FakeClock) -> None:
    signed_in = sign_in(api, "+66812345678")
    event = load_event("refresh")
    assert "REPLACE_WITH_REFRESH_TOKEN" in event["body"]
    event["body"] = event["body"].replace("REPLACE_WITH_REFRESH_TOKEN", signed_in["refresh_token"])
    body = assert_shape("refresh", invoke("refresh", event))
    assert body["session_id"] == signed_in["session_id"]
    assert body["refresh_token"] != signed_in["refresh_token"]


def test_refresh_event_as_shipped_is_refused_not_an_error() -> None:
    status, body, _ = invoke("refresh", load_event("refresh"))
    assert (status, body["error"]["code"]) == (401, "REFRESH_TOKEN_INVALID")


@pytest.mark.parametrize("function_dir", sorted(protected_functions()))
def test_guarded_events_with_their_placeholder_token_are_refused_not_errors(api: Api, function_dir: str) -> None:
    event = load_event(function_dir)
    placeholder = next(v for k, v in event["headers"].items() if k.lower() == "authorization")
    status, body, _ = api.call(function_dir, headers={"authorization": placeholder})
    assert status == 401
    assert body["error"]["code"] == "TOKEN_INVALID"


def test_check_mobile_event(clock: FakeClock) -> None:
    body = assert_shape("check_mobile", invoke("check_mobile", load_event("check_mobile")))
    assert body["can_register"] is True


def test_request_registration_otp_event(clock: FakeClock) -> None:
    assert_shape("request_registration_otp", invoke("request_registration_otp", load_event("request_registration_otp")))
    assert [to for to, _ in sms_outbox()] == [e164(body_of("request_registration_otp")["phone"])]


def test_verify_registration_otp_event(clock: FakeClock) -> None:
    sample = body_of("verify_registration_otp")
    seed_code(e164(sample["phone"]), "registration", sample["code"])
    body = assert_shape(
        "verify_registration_otp", invoke("verify_registration_otp", load_event("verify_registration_otp"))
    )
    assert body["registration_token"] and body["expires_in"] > 0


def test_complete_registration_event(clock: FakeClock) -> None:
    sample = body_of("complete_registration")
    phone = sample["phone"]
    invoke("request_registration_otp", with_body("request_registration_otp", phone=phone))
    _, verified, _ = invoke(
        "verify_registration_otp", with_body("verify_registration_otp", phone=phone, code=last_code(e164(phone)))
    )
    event = load_event("complete_registration")
    assert "REPLACE_WITH_REGISTRATION_TOKEN" in event["body"]
    event["body"] = event["body"].replace("REPLACE_WITH_REGISTRATION_TOKEN", verified["registration_token"])
    body = assert_shape("complete_registration", invoke("complete_registration", event))
    assert body["user"]["has_password"] is True
    assert body["user"]["phone"] == e164(phone)


def test_login_mobile_event(api: Api, clock: FakeClock) -> None:
    sample = body_of("login_mobile")
    registered = register(api, sample["phone"], sample["password"], texted_to=e164(sample["phone"]))
    clock.advance(1)
    body = assert_shape("login_mobile", invoke("login_mobile", load_event("login_mobile")))
    assert body["user"]["id"] == registered["user"]["id"]
    assert body["is_new_user"] is False


def test_request_password_reset_otp_event(clock: FakeClock) -> None:
    assert_shape(
        "request_password_reset_otp", invoke("request_password_reset_otp", load_event("request_password_reset_otp"))
    )


def test_reset_password_event(api: Api, clock: FakeClock) -> None:
    sample = body_of("reset_password")
    register(api, sample["phone"], "Original-Password-" + uuid.uuid4().hex[:6], texted_to=e164(sample["phone"]))
    seed_code(e164(sample["phone"]), "password_reset", sample["code"])
    assert_shape("reset_password", invoke("reset_password", load_event("reset_password")))


def test_authorizer_event_with_a_fresh_token_allows(api: Api, clock: FakeClock) -> None:
    signed_in = sign_in(api, "+66812345678")
    event = load_event("authorizer")
    for name in list(event["headers"]):
        if name.lower() == "authorization":
            event["headers"][name] = f"Bearer {signed_in['access_token']}"
    result = load_handler("authorizer").lambda_handler(event, Context())
    assert result["principalId"] == signed_in["user"]["id"]
    assert result["policyDocument"]["Version"] == "2012-10-17"
    (statement,) = result["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    assert set(result["context"]) == {
        "user_id",
        "phone",
        "market",
        "session_epoch",
        "session_id",
        "token_id",
        "auth_time",
    }


def test_authorizer_event_as_shipped_returns_a_deny_policy() -> None:
    result = load_handler("authorizer").lambda_handler(load_event("authorizer"), Context())
    (statement,) = result["policyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert result["context"]["error_code"] == "TOKEN_INVALID"
    assert result["context"]["error_message"]


def test_publish_events_event_is_a_dynamodb_stream_batch_of_the_users_table() -> None:
    from tests.helpers.lifecycle import LifecycleTap

    event = load_event("publish_events")
    records = event["Records"]
    assert set(event) == {"Records"} and records
    for record in records:
        assert record["eventSource"] == "aws:dynamodb" and record["eventName"] in ("INSERT", "MODIFY", "REMOVE")
        assert re.fullmatch(r"arn:aws:dynamodb:[a-z0-9-]+:\d{12}:table/[^/]+/stream/.+", record["eventSourceARN"])
        assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert record["dynamodb"]["Keys"] == {"phone": (record["dynamodb"].get("NewImage") or {})["phone"]}
    tap = LifecycleTap()
    assert load_handler("publish_events").lambda_handler(event, Context("publish_events")) == {}
    assert [published["detail-type"] for published in tap.published()] == ["UserCreated", "SessionsEnded"]
