"""What both tiers share: the test environment, calling handlers the way API Gateway does, the
SMS outbox, a fake clock, reading and writing users in the one stored shape (UserRecord), and the
steps of the flows (send a code, verify it, sign in, log in with a password, register).

The flow helpers take any :class:`Caller`: :class:`Api` calls the handlers in this process,
``tests.helpers.stack.StackApi`` makes the same calls over HTTP to a running local stack.
Fixtures live in each tier's conftest.py. Nothing here touches AWS at import time.
"""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from devtools import local_env
from devtools.handlers import function_module, template_functions, template_routes

if TYPE_CHECKING:
    from phone_auth.store.records import UserRecord

ROOT = Path(__file__).resolve().parents[2]

#: The environment of every test: devtools.local_env's fake one, stage "test".
TEST_ENV = local_env.environment("test")
#: Template table logical id -> the environment variable naming it.
TABLE_ENV = local_env.TABLE_VARIABLES
#: ALLOWED_ORIGINS is left at its default, so the local stack's own default applies in its tests.
DEFAULT_ORIGIN = "http://localhost:5173"
#: The phone most tests sign in with.
PHONE = "+66812345678"

Answer = tuple[int, dict[str, Any], dict[str, str]]


class SetEnv(Protocol):
    """The ``env`` fixture: ``env(SIGNUP_MODE="imported")`` changes settings for one test."""

    def __call__(self, **values: str) -> None: ...


class Caller(Protocol):
    """Calls the API's functions by name (``verify_code``) and reads the codes texted: :class:`Api`
    in this process, ``tests.helpers.stack.StackApi`` over HTTP."""

    def call(
        self,
        function: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        source_ip: str | None = None,
    ) -> Answer: ...

    def last_code(self, phone: str) -> str: ...


# ------------------------------------------------------------------ the template
@functools.cache
def template() -> dict[str, Any]:
    from devtools.template import load_template

    return load_template(ROOT / "template.yaml")


def template_tables() -> dict[str, dict[str, Any]]:
    """Logical id -> Properties of every DynamoDB table in template.yaml."""
    return local_env.template_tables()


@functools.cache
def protected_functions() -> frozenset[str]:
    """Functions whose API route is behind the authorizer, as template.yaml says."""
    return frozenset(route.function for route in template_routes(template()) if route.protected)


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


def _function_property(name: str) -> dict[str, int]:
    """Function -> its integer property ``name``, as template.yaml sets it (Globals included)."""
    doc = template()
    default = int(doc["Globals"]["Function"][name])
    return {
        code.name: int(doc["Resources"][logical_id]["Properties"].get(name, default))
        for logical_id, code in template_functions(doc).items()
    }


@functools.cache
def function_timeouts() -> dict[str, int]:
    """Function -> its Timeout in seconds, as template.yaml sets it (Globals included)."""
    return _function_property("Timeout")


@functools.cache
def function_memory() -> dict[str, int]:
    """Function -> its MemorySize in MB, as template.yaml sets it (Globals included)."""
    return _function_property("MemorySize")


@functools.cache
def api_functions() -> frozenset[str]:
    """Functions API Gateway invokes and waits for: those with a route, and the API's authorizers.
    The others (the stack's custom resources, log and stream subscribers) serve no request."""
    doc = template()
    authorizers = {
        spec["FunctionArn"]["Fn::GetAtt"][0]
        for resource in doc["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Api"
        for spec in resource["Properties"]["Auth"].get("Authorizers", {}).values()
    }
    functions = template_functions(doc)
    return frozenset({route.function for route in template_routes(doc)} | {functions[lid].name for lid in authorizers})


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


def request_event(
    function: str,
    body: Any = None,
    *,
    raw_body: str | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    source_ip: str | None = None,
) -> dict[str, Any]:
    """events/<function>.json as API Gateway sends this request: ``body`` as JSON (``raw_body`` as
    it is), ``headers`` added, a bearer ``token`` in place of the file's Authorization (none without
    one), the path's and the query string's values and the client's IP (the file's when None)."""
    event = load_event(function)
    if query is not None:
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()} or None
    if source_ip is not None:
        event["requestContext"]["identity"]["sourceIp"] = source_ip
    if path_parameters is not None:
        event["pathParameters"] = path_parameters
        for name, value in path_parameters.items():
            event["path"] = event["resource"].replace("{" + name + "}", value)
    sent = {name: value for name, value in (event.get("headers") or {}).items() if name != "Authorization"}
    sent |= (headers or {}) | ({"Authorization": f"Bearer {token}"} if token is not None else {})
    event["headers"], event["multiValueHeaders"] = sent, {name: [value] for name, value in sent.items()}
    event["body"] = raw_body if raw_body is not None else None if body is None else json.dumps(body)
    event["isBase64Encoded"] = False
    return event


class Api:
    """Calls handlers the way API Gateway does, authorizer first where the template says so, from
    ``source_ip`` unless a call says otherwise (the events' own address when None)."""

    def __init__(self, source_ip: str | None = None) -> None:
        self.source_ip = source_ip

    def call(
        self,
        function: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        source_ip: str | None = None,
        **request: Any,
    ) -> Answer:
        """``request``: the other keyword arguments of :func:`request_event` (raw_body, path_parameters, query)."""
        event = request_event(
            function, body, token=token, headers=headers, source_ip=source_ip or self.source_ip, **request
        )
        if function in protected_functions():
            status, result, context = self.authorize(event)
            if status != 200:
                return status, result, {}
            event["requestContext"]["authorizer"] = context
        return self.invoke(function, event)

    def invoke(self, function: str, event: dict[str, Any]) -> Answer:
        """The handler's answer to ``event``; the authorizer's policy as 200 (Allow) or 401; the
        stream function's as 200."""
        answer = load_handler(function).lambda_handler(event, Context(function))
        if function == "authorizer":
            return 200 if answer["policyDocument"]["Statement"][0]["Effect"] == "Allow" else 401, answer, {}
        if function == "publish_events":  # a batch of the users table's stream: it answers {}, or raises
            return 200, answer, {}
        return answer["statusCode"], json.loads(answer["body"]), answer["headers"]

    def authorize(self, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
        """The authorizer on the request's headers: (200, {}, its context) or (401, the error answer, {})."""
        auth_event = load_event("authorizer")
        auth_event["headers"] = dict(event["headers"])
        result = load_handler("authorizer").lambda_handler(auth_event, Context("authorizer"))
        statement = result["policyDocument"]["Statement"][0]
        if statement["Effect"] != "Allow":
            context = result.get("context", {})
            error = {"code": context["error_code"], "message": context["error_message"]}
            return 401, {"success": False, "error": error}, {}
        return 200, {}, {"principalId": result["principalId"], **result["context"]}

    def last_code(self, phone: str) -> str:
        return last_code(phone)


# ------------------------------------------------------------------ SMS
def sms_outbox() -> list[tuple[str, str]]:
    """Every SMS moto's SNS received in this test: (phone, text), oldest first."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_DEFAULT_REGION"]].sms_messages.values())


def code_in(text: str) -> str:
    """The six-digit code an SMS carries."""
    match = re.search(r"\b(\d{6})\b", text)
    assert match, "the SMS has no code"
    return match.group(1)


def last_code(phone: str) -> str:
    texts = [text for to, text in sms_outbox() if to == phone]
    assert texts, f"no SMS sent to {phone}"
    return code_in(texts[-1])


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


def stored_password_hash(phone: str) -> str:
    """The user's stored bcrypt hash; the test fails if there is no user or no password."""
    hashed = existing_user(phone).password_hash
    assert hashed is not None, f"{phone} has no password"
    return hashed


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


# ------------------------------------------------------------------ the flows' steps, for any Caller
def send_code(api: Caller, phone: str = PHONE, *, function: str = "send_verification", **call: Any) -> Answer:
    """Ask for a sign-in code (or, through ``function``, a registration or a reset code)."""
    return api.call(function, {"phone": phone}, **call)


def verify_code(api: Caller, code: str, phone: str = PHONE, **call: Any) -> Answer:
    return api.call("verify_code", {"phone": phone, "verification_code": code}, **call)


def sign_in(
    api: Caller, phone: str = PHONE, *, texted_to: str | None = None, clock: FakeClock | None = None, **call: Any
) -> dict[str, Any]:
    """A passwordless sign-in: a code sent to ``phone``, read (the SMS to ``texted_to``, its E.164
    spelling, when ``phone`` is written otherwise) and verified; the answer's body. ``clock`` is
    first moved past the resend wait of an earlier code; ``call`` goes with the verify."""
    if clock is not None:
        clock.advance(61)
    status, body, _ = send_code(api, phone)
    assert status == 200, body
    status, body, _ = verify_code(api, api.last_code(texted_to or phone), phone, **call)
    assert status == 200, body
    return body


def password_login(api: Caller, phone: str, password: str, **call: Any) -> Answer:
    return api.call("login_mobile", {"phone": phone, "password": password}, **call)


def register(api: Caller, phone: str, password: str, *, texted_to: str | None = None) -> dict[str, Any]:
    """The back office's registration of an imported user: a registration code, the token it
    gives, the password set; the last answer's body."""
    status, body, _ = send_code(api, phone, function="request_registration_otp")
    assert status == 200, body
    code = api.last_code(texted_to or phone)
    status, body, _ = api.call("verify_registration_otp", {"phone": phone, "code": code})
    assert status == 200, body
    complete = {"phone": phone, "password": password, "registration_token": body["registration_token"]}
    status, body, _ = api.call("complete_registration", complete)
    assert status == 200, body
    return body


def wrong_code(code: str) -> str:
    """A six-digit code that is not ``code``."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


def password_hash(password: str, rounds: int = 10) -> str:
    """A bcrypt hash of ``password`` (cost 10 unless said: the lowest the settings accept)."""
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()
