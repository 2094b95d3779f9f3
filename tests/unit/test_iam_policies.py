"""Each function's IAM permissions are exactly what its code calls, in each samconfig environment.

The flows below run every function through its success and refusal paths (the lifecycle events'
publisher on the users table's real stream records), and the stack's custom resources through a
first deploy and a deletion, while a recorder notes every AWS request the code makes as IAM sees it:
the action, the resource's ARN and the keys a condition reads (a DynamoDB transaction as its per-
item actions; iam:PassRole for a role handed to a service). The template is translated with the
environment's parameters (devtools.validate: SAM's translator, as sam validate runs it), and IAM's
evaluation is applied to each function's role: a policy of the role must allow the request, no
statement may deny it, and the role's permissions boundary must allow it as well.

Both ways:

- every request the code makes is allowed (a missing grant shows up only as AccessDenied in AWS);
- every grant of a function's own policies is used by a request of that function, except the
  justified extras listed below: a grant no code path calls is attack surface for nothing.

Lambda writing the function's log is a request too; SAM's AWSLambdaBasicExecutionRole also grants
logs:CreateLogGroup, which the boundary must take away (every log group is in the template). So are
the requests a stream's event source mapping makes with the function's role: reading the stream,
and sending a batch that failed every retry to its failure destination.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import bcrypt
import pytest

from devtools import samconfig
from devtools.validate import ACCOUNT_ID, deployed_resources, translate
from phone_auth import aws, codes
from phone_auth.custom_resources import protocol
from phone_auth.errors import ServiceUnavailable
from tests.helpers import (
    ROOT,
    TABLE_ENV,
    TEST_ENV,
    Api,
    Context,
    FakeClock,
    SetEnv,
    last_code,
    load_event,
    load_handler,
    put_user,
    wrong_code,
)
from tests.helpers.lifecycle import LifecycleTap

PHONE = "+66812345678"
IMPORTED = "+66891234567"
#: The environments whose grants differ (passwordless login on, and off); the other two are checked
#: to grant what the first does (test_prod_and_us_dev_grant_what_default_does).
ENVIRONMENTS = ["default", "th-dev"]
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
#: What SAM attaches to every function's role, as AWS publishes it.
AWS_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    # SAM attaches it to a function with a DynamoDB stream event: Lambda reads the stream with the role.
    "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole": [
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ],
            "Resource": "*",
        }
    ],
}
#: Grants no recorded request uses, each on purpose: (function, or * for any; action).
JUSTIFIED_EXTRAS = {
    # SSM decrypts a SecureString by calling KMS itself. Under the AWS-managed key (what the stack
    # writes) no grant is needed; under a customer-managed key a team may choose, this one is. No
    # request of ours is a KMS call, so nothing here can show it used.
    ("*", "kms:Decrypt"),
}
# Every function's boundary allows the import bucket's objects (ImportFiles); only the import
# functions' own statements grant them.


# ------------------------------------------------------------------ what the code asks for
@dataclass(frozen=True)
class Request:
    """One authorization IAM makes: an action on a resource, with the context keys conditions read."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


@dataclass
class Recorder:
    """Every AWS call, by the function (handler module) making it: (service, operation, parameters)."""

    current: str = "?"
    calls: dict[str, list[tuple[str, str, dict[str, Any]]]] = field(default_factory=lambda: defaultdict(list))

    def hook(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[self.current].append((model.service_model.service_name, model.name, dict(params)))

    def ran(self, function: str) -> None:
        self.calls.setdefault(function, [])


@dataclass(frozen=True)
class Arns:
    """Resource ARNs in one environment: its region, SAM's offline account id, its stack."""

    env: samconfig.Environment

    @property
    def prefix(self) -> str:
        return f"{self.env.region}:{ACCOUNT_ID}"

    def of(self, logical_id: str, kind: str, attribute: str = "Arn") -> str:
        """The ARN ``Fn::GetAtt <logical_id>.<attribute>`` gives (a stand-in name for what CloudFormation
        names): a resource's ``Arn``, or a table's ``StreamArn``."""
        if kind == "AWS::DynamoDB::Table":
            table = f"arn:aws:dynamodb:{self.prefix}:table/{logical_id}"
            return table if attribute == "Arn" else f"{table}/stream/2026-12-03T00:00:00.000"
        assert attribute == "Arn", (logical_id, attribute)
        if kind == "AWS::IAM::Role":
            return f"arn:aws:iam::{ACCOUNT_ID}:role/{logical_id}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{self.prefix}:{logical_id}"
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{logical_id.lower()}"
        raise AssertionError(f"no ARN stand-in for {logical_id} ({kind})")

    def key_set(self, name: str) -> str:
        """The key set's parameter: the tests' name and the environment's are the same parameter."""
        if name == TEST_ENV["JWT_SECRET_PARAMETER_NAME"]:
            name = self.env.parameter("JwtSecretParameterName", "")
        return f"arn:aws:ssm:{self.prefix}:parameter{name}"

    def function_log_group(self, logical_id: str) -> str:
        return f"arn:aws:logs:{self.prefix}:log-group:/aws/lambda/{self.env.stack_name}-{logical_id}-1A2B3C4D5E"

    def sms_log_group(self, failures: bool) -> str:
        return f"sns/{self.env.region}/{ACCOUNT_ID}/DirectPublishToPhoneNumber" + ("/Failure" if failures else "")


def requests(arns: Arns, service: str, operation: str, params: dict[str, Any]) -> list[Request]:
    """What IAM authorizes for one call."""
    tables = {TEST_ENV[variable]: logical_id for logical_id, variable in TABLE_ENV.items()}

    def table(name: str) -> str:
        return arns.of(tables[name], "AWS::DynamoDB::Table")

    if service == "dynamodb":
        if operation == "TransactWriteItems":
            found = []
            for item in params["TransactItems"]:
                ((kind, body),) = item.items()
                found.append(Request(f"dynamodb:{TRANSACT_ACTIONS[kind]}", table(body["TableName"])))
            return found
        if operation == "BatchGetItem":
            return [Request("dynamodb:BatchGetItem", table(name)) for name in params["RequestItems"]]
        return [Request(f"dynamodb:{operation}", table(params["TableName"]))]
    if service == "ssm":
        found = [Request(f"ssm:{operation}", arns.key_set(params["Name"]))]
        if operation == "PutParameter" and params.get("Tags"):
            found.append(Request("ssm:AddTagsToResource", arns.key_set(params["Name"])))
        return found
    if service == "sns":
        if operation == "Publish":
            return [Request("sns:Publish", params.get("PhoneNumber") or params["TopicArn"])]
        found = [Request(f"sns:{operation}", "*")]
        role = params["attributes"].get("DeliveryStatusIAMRole") if operation == "SetSMSAttributes" else None
        if role:
            found.append(Request("iam:PassRole", role, (("iam:PassedToService", "sns.amazonaws.com"),)))
        return found
    if service == "apigateway":
        account = f"arn:aws:apigateway:{arns.env.region}::/account"
        if operation == "GetAccount":
            return [Request("apigateway:GET", account)]
        assert operation == "UpdateAccount", operation
        (patch,) = params["patchOperations"]
        passed = Request("iam:PassRole", patch["value"], (("iam:PassedToService", "apigateway.amazonaws.com"),))
        return [Request("apigateway:PATCH", account), passed]
    if service == "logs":
        return [Request(f"logs:{operation}", f"arn:aws:logs:{arns.prefix}:log-group:{params['logGroupName']}")]
    if service == "s3":
        # A pre-signed URL is recorded when it is signed: S3 authorizes the role that signed it when
        # the URL is used. HeadObject is authorized as GetObject.
        assert params["Bucket"] == TEST_ENV["IMPORT_BUCKET_NAME"], params["Bucket"]
        action = {"HeadObject": "GetObject"}.get(operation, operation)
        return [Request(f"s3:{action}", f"{arns.of('ImportBucket', 'AWS::S3::Bucket')}/{params['Key']}")]
    if service == "events":
        assert operation == "PutEvents", operation
        buses = sorted({entry.get("EventBusName", "default") for entry in params["Entries"]})
        return [Request("events:PutEvents", f"arn:aws:events:{arns.prefix}:event-bus/{bus}") for bus in buses]
    raise AssertionError(f"a call this test does not model: {service}.{operation}")


# ------------------------------------------------------------------ what the template grants
@dataclass
class Permissions:
    """One function's role: its own statements, AWS's managed ones SAM attaches, its boundary."""

    own: list[dict[str, Any]]
    aws_managed: list[dict[str, Any]]
    boundary: list[dict[str, Any]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resolved(node: Any, arns: Arns, resources: dict[str, Any]) -> Any:
    """A policy's statements with each ``Fn::GetAtt X.Arn`` as an ARN (SAM CLI resolved the rest)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"}:
            logical_id, attribute = node["Fn::GetAtt"]
            return arns.of(logical_id, resources[logical_id]["Type"], attribute)
        assert not any(key.startswith("Fn::") or key == "Ref" for key in node), f"unresolved {node}"
        return {key: resolved(value, arns, resources) for key, value in node.items()}
    if isinstance(node, list):
        return [resolved(item, arns, resources) for item in node]
    if isinstance(node, str) and "${" in node:  # a !Sub naming an attribute, left as written
        return re.sub(r"\$\{(\w+)\.(\w+)\}", lambda m: arns.of(m[1], resources[m[1]]["Type"], m[2]), node)
    return node


def permissions(env_name: str) -> dict[str, Permissions]:
    """Function (handler module) -> its role's permissions, for the functions ``env_name`` deploys."""
    translated = translate(env_name)
    resources = deployed_resources(translated)
    arns = Arns(samconfig.environment(env_name))
    found = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        name = resource["Properties"]["Handler"].rpartition(".")[0]
        role = resources[resource["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
        own, managed = [], []
        for policy in role.get("Policies", []):
            own += policy["PolicyDocument"]["Statement"]
        for arn in role.get("ManagedPolicyArns", []):
            if isinstance(arn, dict):
                own += resources[arn["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
            else:
                managed += AWS_MANAGED_POLICIES[arn]
        boundary = resources[role["PermissionsBoundary"]["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
        found[name] = Permissions(
            own=resolved(own, arns, resources),
            aws_managed=managed,
            boundary=resolved(boundary, arns, resources),
        )
    return found


def logical_ids(env_name: str) -> dict[str, str]:
    """Function (handler module) -> logical id, for the functions ``env_name`` deploys."""
    resources = deployed_resources(translate(env_name))
    return {
        r["Properties"]["Handler"].rpartition(".")[0]: lid
        for lid, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function"
    }


# ------------------------------------------------------------------ IAM's evaluation
def statement_applies(statement: dict[str, Any], request: Request) -> bool:
    actions = [action.lower() for action in as_list(statement["Action"])]
    if not any(fnmatch.fnmatchcase(request.action.lower(), action) for action in actions):
        return False
    if not any(fnmatch.fnmatchcase(request.resource, resource) for resource in as_list(statement["Resource"])):
        return False
    context = dict(request.context)
    for operator, tests in statement.get("Condition", {}).items():
        assert operator == "StringEquals", f"a condition this test does not model: {operator}"
        if any(context.get(key) not in as_list(expected) for key, expected in tests.items()):
            return False
    return True


def allowed(permissions: Permissions, request: Request) -> bool:
    """IAM's answer for a role with a permissions boundary: an explicit Deny anywhere wins; else the
    role's policies and the boundary must both allow."""
    statements = permissions.own + permissions.aws_managed + permissions.boundary
    if any(s["Effect"] == "Deny" and statement_applies(s, request) for s in statements):
        return False
    granted = any(
        s["Effect"] == "Allow" and statement_applies(s, request) for s in permissions.own + permissions.aws_managed
    )
    return granted and any(s["Effect"] == "Allow" and statement_applies(s, request) for s in permissions.boundary)


def own_grants(permissions: Permissions) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, resource pattern, statement) for every Allow of the function's own policies."""
    return [
        (action, resource, statement)
        for statement in permissions.own
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


def log_requests(arns: Arns, logical_id: str) -> list[Request]:
    """What Lambda asks in the function's name to write its log (to the group the template made)."""
    stream = arns.function_log_group(logical_id) + ":log-stream:2026/12/03/[$LATEST]0123456789abcdef"
    return [Request("logs:CreateLogStream", stream), Request("logs:PutLogEvents", stream)]


def stream_requests(env_name: str, arns: Arns, logical_id: str) -> list[Request]:
    """What Lambda asks with the function's role for each stream event source mapping of it: the
    stream's description, shard iterators and records, the streams of the account, and the failure
    destination's SendMessage for a batch that failed every retry."""
    resources = deployed_resources(translate(env_name))
    found = []
    for mapping in resources.values():
        properties = mapping["Properties"]
        if mapping["Type"] != "AWS::Lambda::EventSourceMapping" or properties["FunctionName"] != {"Ref": logical_id}:
            continue
        stream = resolved(properties["EventSourceArn"], arns, resources)
        found += [Request(f"dynamodb:{name}", stream) for name in ("DescribeStream", "GetShardIterator", "GetRecords")]
        found.append(Request("dynamodb:ListStreams", "*"))
        failure = properties.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        if failure is not None:
            found.append(Request("sqs:SendMessage", resolved(failure, arns, resources)))
    return found


# ------------------------------------------------------------------ running the code
@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    plain_session = aws._session.__wrapped__

    @functools.cache
    def session() -> Any:
        made = plain_session()
        made.events.register("before-parameter-build", recorder.hook)
        return made

    monkeypatch.setattr(aws, "_session", session)
    aws.reset_clients()
    # One process runs every function: the key set read once stays cached for the others, where each
    # Lambda container reads it itself. Each read counts, cached or not.
    real_get = aws.SecureParameters.get

    def get(provider: aws.SecureParameters, name: str, *args: Any, **kwargs: Any) -> Any:
        recorder.calls[recorder.current].append(("ssm", "GetParameter", {"Name": name}))
        return real_get(provider, name, *args, **kwargs)

    monkeypatch.setattr(aws.SecureParameters, "get", get)
    for function in sorted(path.stem for path in (ROOT / "functions").glob("*.py")):
        module = load_handler(function)
        monkeypatch.setattr(module, "lambda_handler", _tracked(module.lambda_handler, function, recorder))
    return recorder


def _tracked(handler: Any, function: str, recorder: Recorder) -> Any:
    def run(event: dict[str, Any], context: Any) -> Any:
        outer, recorder.current = recorder.current, function
        recorder.ran(function)
        try:
            return handler(event, context)
        finally:
            recorder.current = outer

    return run


class BrokenSender:
    def send(self, to: str, body: str) -> None:
        raise ServiceUnavailable()


def passwordless_and_sessions(api: Api, clock: FakeClock) -> None:
    """Passwordless login, wrong code first; me; sessions listed, refreshed (then the spent token
    replayed after the grace window: the session ends), one ended; log out here, then everywhere."""
    api.call("send_verification", {"phone": PHONE})
    api.call("verify_code", {"phone": PHONE, "verification_code": "000000"})
    signed_in = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]
    token = signed_in["access_token"]
    assert api.call("me", token=token)[0] == 200
    assert api.call("list_sessions", token=token)[0] == 200
    refreshed = api.call("refresh", {"refresh_token": signed_in["refresh_token"]})[1]
    clock.advance(60)
    assert api.call("refresh", {"refresh_token": signed_in["refresh_token"]})[0] == 401
    api.call("send_verification", {"phone": PHONE})  # a second device, and a third
    second = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]
    clock.advance(61)
    api.call("send_verification", {"phone": PHONE})
    third = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]
    ended = {"id": refreshed["session_id"]}
    assert api.call("end_session", token=second["access_token"], path_parameters=ended)[1]["success"] is False
    assert api.call("end_session", token=second["access_token"], path_parameters={"id": third["session_id"]})[0] == 200
    assert api.call("logout", {"scope": "current"}, token=second["access_token"])[0] == 200
    clock.advance(61)
    api.call("send_verification", {"phone": PHONE})
    token = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]["access_token"]
    assert api.call("logout", token=token)[0] == 200


def password_sessions(api: Api, clock: FakeClock, phone: str, password: str) -> None:
    """The same session steps after a password login (no passwordless login to start them)."""
    first = api.call("login_mobile", {"phone": phone, "password": password})[1]
    clock.advance(1)
    second = api.call("login_mobile", {"phone": phone, "password": password})[1]
    assert api.call("me", token=first["access_token"])[0] == 200
    assert api.call("list_sessions", token=first["access_token"])[0] == 200
    assert api.call("refresh", {"refresh_token": first["refresh_token"]})[0] == 200
    clock.advance(60)
    assert api.call("refresh", {"refresh_token": first["refresh_token"]})[0] == 401
    assert api.call("end_session", token=second["access_token"], path_parameters={"id": "0" * 32})[0] == 404
    third = api.call("login_mobile", {"phone": phone, "password": password})[1]
    ended = {"id": third["session_id"]}
    assert api.call("end_session", token=second["access_token"], path_parameters=ended)[0] == 200
    assert api.call("logout", {"scope": "current"}, token=second["access_token"])[0] == 200
    fourth = api.call("login_mobile", {"phone": phone, "password": password})[1]
    assert api.call("logout", token=fourth["access_token"])[0] == 200


def failed_sms(api: Api, monkeypatch: pytest.MonkeyPatch, *, passwordless: bool) -> None:
    """Sends whose SMS fails withdraw their code."""
    put_user("+66812345671", password_hash=bcrypt.hashpw(b"x" * 12, bcrypt.gensalt(10)).decode())
    put_user("+66812345672")
    with monkeypatch.context() as patch:
        patch.setattr(codes, "get_sender", lambda: BrokenSender())
        if passwordless:
            assert api.call("send_verification", {"phone": "+66812345679"})[0] == 503
        assert api.call("request_registration_otp", {"phone": "+66812345672"})[0] == 503
        assert api.call("request_password_reset_otp", {"phone": "+66812345671"})[0] == 503


def back_office(api: Api, env: SetEnv, *, passwordless: bool) -> None:
    """Imported users: registration, wrong code first; a password login that upgrades a cost-10
    hash; a reset, wrong code first, and a decoy for a phone with no account."""
    env(SIGNUP_MODE="imported", BCRYPT_ROUNDS="11", SMS_PER_PHONE_PER_HOUR="0", SMS_PER_PHONE_PER_DAY="0")
    put_user(IMPORTED)
    assert api.call("check_mobile", {"phone": IMPORTED})[0] == 200
    assert api.call("request_registration_otp", {"phone": IMPORTED})[0] == 200
    api.call("verify_registration_otp", {"phone": IMPORTED, "code": "000000"})
    registration = api.call("verify_registration_otp", {"phone": IMPORTED, "code": last_code(IMPORTED)})[1]
    body = {
        "phone": IMPORTED,
        "password": "mango sticky rice 42",
        "registration_token": registration["registration_token"],
    }
    assert api.call("complete_registration", body)[0] == 200
    if passwordless:
        assert api.call("send_verification", {"phone": IMPORTED})[0] == 200  # imported mode: a transaction
    put_user(PHONE, password_hash=bcrypt.hashpw(b"Suan-Luang-2468", bcrypt.gensalt(10)).decode())
    assert api.call("login_mobile", {"phone": PHONE, "password": "Suan-Luang-2468"})[0] == 200
    assert api.call("login_mobile", {"phone": PHONE, "password": "not the password"})[0] == 401
    assert api.call("request_password_reset_otp", {"phone": PHONE})[0] == 200
    assert api.call("request_password_reset_otp", {"phone": "+66899999999"})[0] == 200
    api.call("reset_password", {"phone": PHONE, "code": "000000", "new_password": "durian season 2026"})
    reset = {"phone": PHONE, "code": last_code(PHONE), "new_password": "durian season 2026"}
    assert api.call("reset_password", reset)[0] == 200


def account_lifecycle(api: Api, monkeypatch: pytest.MonkeyPatch, phone: str, password: str) -> None:
    """Signed in by password a moment ago (passwordless login may be off): a number change (to a number
    in use first, then one whose SMS fails, then a wrong code) with its notice to the old number, then
    the account's deletion; and the lifecycle events they published, from the users table's stream."""
    tap = LifecycleTap()
    new_phone = "+66898765432"
    token = api.call("login_mobile", {"phone": phone, "password": password})[1]["access_token"]
    status, body, _ = api.call("request_phone_change", {"new_phone": IMPORTED}, token=token)
    assert (status, body["error"]["code"]) == (409, "PHONE_IN_USE")
    with monkeypatch.context() as patch:  # its SMS fails: the code is withdrawn
        patch.setattr(codes, "get_sender", lambda: BrokenSender())
        assert api.call("request_phone_change", {"new_phone": new_phone}, token=token)[0] == 503
    assert api.call("request_phone_change", {"new_phone": new_phone}, token=token)[0] == 200
    code = last_code(new_phone)
    assert api.call("verify_phone_change", {"new_phone": new_phone, "code": wrong_code(code)}, token=token)[0] == 400
    status, moved, _ = api.call("verify_phone_change", {"new_phone": new_phone, "code": code}, token=token)
    assert status == 200, moved
    assert api.call("delete_account", token=moved["access_token"])[0] == 200
    assert {"PhoneChanged", "SessionsEnded", "UserDeleted"} <= {event["detail-type"] for event in tap.publish()}


def admin_api(api: Api) -> None:
    """The back office's admin API: create (with a password), update, unchanged, read, two pages of the
    list, sign out, disable, enable, then the erasure of a user with a code out (404 after); and the
    AdminAction events the changes published themselves."""
    tap = LifecycleTap()
    phone, at = "+66861234567", {"phone": "%2B66861234567"}
    assert api.call("admin_put_user", {"password": "lotus pond 2026"}, path_parameters=at)[0] == 201
    assert api.call("admin_put_user", {"profile": {"branch": "Hat Yai"}}, path_parameters=at)[0] == 200
    assert api.call("admin_put_user", {"profile": {"branch": "Hat Yai"}}, path_parameters=at)[0] == 200
    assert api.call("admin_get_user", path_parameters=at)[0] == 200
    first = api.call("admin_list_users", query={"limit": "1"})[1]
    assert api.call("admin_list_users", query={"limit": "1", "cursor": first["next_cursor"]})[0] == 200
    assert api.call("admin_sign_out_user", path_parameters=at)[0] == 200
    assert api.call("admin_disable_user", path_parameters=at)[0] == 200
    assert api.call("admin_enable_user", path_parameters=at)[0] == 200
    assert api.call("request_password_reset_otp", {"phone": phone})[0] == 200  # a code item the erasure takes
    assert api.call("admin_delete_user", path_parameters=at)[0] == 200
    assert api.call("admin_delete_user", path_parameters=at)[0] == 404
    actions = [event["detail"]["action"] for event in tap.publish() if event["detail-type"] == "AdminAction"]
    assert {"put_user", "sign_out_user", "disable_user", "enable_user", "delete_user"} <= set(actions)


def import_jobs(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """An import job: started (its upload URL signed), the file uploaded, an invocation that runs
    short and hands off to a resume marker, the next one that finishes and joins the report, read."""
    import os

    import boto3

    from phone_auth.flows import imports

    old = api.call("admin_put_user", {"profile": {"employee_id": "old"}}, path_parameters={"phone": "%2B66870000000"})
    assert old[0] == 201  # the file updates this one
    status, started, _ = api.call("admin_start_import", {"file_name": "users.csv"})
    assert status == 201
    key = f"uploads/{started['import_id']}.csv"
    rows = "".join(f"+6687{n:07d},E{n}\r\n" for n in range(150))
    bucket = os.environ["IMPORT_BUCKET_NAME"]
    etag = boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=f"phone,employee_id\r\n{rows}".encode())["ETag"]
    event = load_event("import_users")
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"].update(key=key, etag=etag.strip('"'))

    class Short(Context):
        def get_remaining_time_in_millis(self) -> int:
            return (imports.STOP_MARGIN_SECONDS - 1) * 1000

    handler = load_handler("import_users").lambda_handler
    handler(event, Short("import_users"))
    event["detail"]["object"]["key"] = f"resume/{started['import_id']}/1"
    handler(event, Context("import_users"))
    status, job, _ = api.call("admin_get_import", path_parameters={"import_id": started["import_id"]})
    assert (status, job["import"]["status"], job["import"]["rows"]) == (200, "done", 150)


def stack_setup(arns: Arns, answers: Callable[[], None]) -> None:
    """A first deploy on a fresh account, then the stack's deletion (the key set deleted with it)."""
    handler = load_handler("stack_setup").lambda_handler
    name = arns.env.parameter("JwtSecretParameterName", "")
    sms = {
        "RoleArn": arns.of("SmsDeliveryStatusRole", "AWS::IAM::Role"),
        "SuccessSamplingRate": "100",
        "SuccessLogGroupName": arns.sms_log_group(failures=False),
        "FailureLogGroupName": arns.sms_log_group(failures=True),
        "LogRetentionDays": "30",
    }
    for resource_type, properties, physical_id in (
        ("Custom::KeySet", {"ParameterName": name, "DeleteWithStack": "true"}, name),
        ("Custom::ApiGatewayLogging", {"RoleArn": arns.of("ApiGatewayLoggingRole", "AWS::IAM::Role")}, "x"),
        ("Custom::SmsDeliveryStatus", sms, "x"),
    ):
        for request_type in ("Create", "Delete"):
            event = load_event("stack_setup")
            event.update(
                RequestType=request_type,
                ResourceType=resource_type,
                ResourceProperties=properties,
                ResponseURL="http://127.0.0.1:9/answer",
            )
            if request_type == "Delete":
                event["PhysicalResourceId"] = physical_id
            handler(event, Context("stack_setup"))
    answers()


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """The custom resources' answers, kept instead of PUT; the check that every one was SUCCESS."""
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(protocol, "put", lambda url, body: sent.append(json.loads(body)))

    def check() -> None:
        assert [answer["Status"] for answer in sent] == ["SUCCESS"] * 6, sent

    yield check


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_each_function_is_granted_what_its_code_calls_and_nothing_else(
    env_name: str,
    api: Api,
    recorder: Recorder,
    env: SetEnv,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    answers: Callable[[], None],
) -> None:
    environment = samconfig.environment(env_name)
    arns = Arns(environment)
    passwordless = environment.parameter("OtpLoginEnabled", "true") == "true"
    # A cost-10 hash below is upgraded at login; these flows text one phone more than a limit allows.
    env(OTP_LOGIN_ENABLED=str(passwordless).lower(), BCRYPT_ROUNDS="11")
    env(SMS_PER_PHONE_PER_HOUR="0", SMS_PER_PHONE_PER_DAY="0")
    monkeypatch.setattr(protocol, "PROPAGATION_WAITS", ())
    if passwordless:
        passwordless_and_sessions(api, clock)
    else:  # refused before any call
        assert api.call("send_verification", {"phone": PHONE})[1]["error"]["code"] == "OTP_LOGIN_DISABLED"
        assert api.call("verify_code", {"phone": PHONE, "verification_code": "123456"})[1]["error"]["code"] == (
            "OTP_LOGIN_DISABLED"
        )
    failed_sms(api, monkeypatch, passwordless=passwordless)
    back_office(api, env, passwordless=passwordless)
    password_sessions(api, clock, PHONE, "durian season 2026")
    account_lifecycle(api, monkeypatch, PHONE, "durian season 2026")
    admin_api(api)
    import_jobs(api, monkeypatch)
    stack_setup(arns, answers)
    load_handler("sms_delivery_status").lambda_handler(
        load_event("sms_delivery_status"), Context("sms_delivery_status")
    )

    granted = permissions(env_name)
    ids = logical_ids(env_name)
    assert set(recorder.calls) == set(granted), "every function ran"
    missing: dict[str, list[Request]] = {}
    unused: dict[str, list[str]] = {}
    for function, calls in recorder.calls.items():
        asked = [request for call in calls for request in requests(arns, *call)]
        asked += log_requests(arns, ids[function]) + stream_requests(env_name, arns, ids[function])
        refused = [request for request in asked if not allowed(granted[function], request)]
        if refused:
            missing[function] = sorted(set(refused), key=str)
        idle = [
            f"{action} on {resource}"
            for action, resource, statement in own_grants(granted[function])
            if (function, action) not in JUSTIFIED_EXTRAS
            and ("*", action) not in JUSTIFIED_EXTRAS
            and not any(
                statement_applies({**statement, "Action": action, "Resource": resource}, request) for request in asked
            )
        ]
        if idle:
            unused[function] = idle
    assert missing == {}, f"requests the code makes that IAM would refuse: {missing}"
    assert unused == {}, f"grants no code path uses: {unused}"


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_no_function_may_create_its_log_group(env_name: str) -> None:
    """The template makes each one (with its retention); SAM's basic role would let Lambda make it again."""
    arns = Arns(samconfig.environment(env_name))
    for function, logical_id in logical_ids(env_name).items():
        create = Request("logs:CreateLogGroup", arns.function_log_group(logical_id))
        assert not allowed(permissions(env_name)[function], create), function


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_sms_can_reach_phone_numbers_but_no_topic(env_name: str) -> None:
    senders = [
        name for name, p in permissions(env_name).items() if any("sns:Publish" in as_list(s["Action"]) for s in p.own)
    ]
    assert senders
    topic = Request(
        "sns:Publish", f"arn:aws:sns:{samconfig.environment(env_name).region}:{ACCOUNT_ID}:phone-auth-alarms"
    )
    for function in senders:
        assert allowed(permissions(env_name)[function], Request("sns:Publish", PHONE)), function
        assert not allowed(permissions(env_name)[function], topic), function


def test_passwordless_login_off_leaves_its_functions_no_grant() -> None:
    """th-dev: send-verification and verify-code refuse before any call, so they get nothing but their log."""
    granted = permissions("th-dev")
    for function in ("send_verification", "verify_code"):
        assert granted[function].own == [], function
    assert granted["request_registration_otp"].own  # the other code senders keep theirs


def test_prod_and_us_dev_grant_what_default_does() -> None:
    """Same conditions (passwordless login on, SMS through SNS): the same actions, on their own resources."""

    def actions(env_name: str) -> dict[str, list[str]]:
        return {name: sorted(a for a, _, _ in own_grants(p)) for name, p in permissions(env_name).items()}

    assert actions("prod") == actions("default") == actions("us-dev")
