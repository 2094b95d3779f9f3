"""The stack's custom resources (functions/stack_setup.py), on moto: what a first deploy, an update and
a deletion do to the key set, API Gateway's logging role and SNS's SMS delivery status logging.

CloudFormation sends each request with a pre-signed ResponseURL and waits for the answer PUT there:
a local HTTP server stands in for it and keeps every answer.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from phone_auth import aws, keys
from phone_auth.custom_resources import protocol
from tests.helpers import TEST_ENV, Context, load_event, load_handler

PARAMETER = TEST_ENV["JWT_SECRET_PARAMETER_NAME"]  # the one conftest creates
RENAMED = "/phone-auth/test/jwt-keys"
ROLE = "arn:aws:iam::123456789012:role/phone-auth-dev-ApiGatewayLoggingRole-1A2B3C"
SNS_ROLE = "arn:aws:iam::123456789012:role/phone-auth-dev-SmsDeliveryStatusRole-4D5E6F"
OTHER_ROLE = "arn:aws:iam::123456789012:role/someone-elses-role"
SUCCESS_GROUP = "sns/ap-southeast-1/123456789012/DirectPublishToPhoneNumber"
FAILURE_GROUP = "sns/ap-southeast-1/123456789012/DirectPublishToPhoneNumber/Failure"


class CloudFormation:
    """Answers PUT to http://127.0.0.1:<port>/<request id>, as CloudFormation's pre-signed S3 URL takes them."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        answers, headers = self.answers, self.headers

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                answers.append(json.loads(body))
                headers.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def request(
        self,
        resource_type: str,
        request_type: str,
        properties: dict[str, str],
        *,
        physical_id: str | None = None,
        old_properties: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        event = load_event("stack_setup")
        request_id = str(uuid.uuid4())
        event.update(
            RequestType=request_type,
            ResourceType=resource_type,
            LogicalResourceId=resource_type.removeprefix("Custom::"),
            RequestId=request_id,
            ResponseURL=f"{self.url}/{request_id}",
            ResourceProperties={"ServiceToken": event["ServiceToken"], **properties},
        )
        if physical_id is not None:
            event["PhysicalResourceId"] = physical_id
        if old_properties is not None:
            event["OldResourceProperties"] = old_properties
        return event

    def send(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """Invoke the function with ``event``; the one answer it PUT for that request."""
        before = len(self.answers)
        load_handler("stack_setup").lambda_handler(event, context or Context("stack_setup"))
        answers = [answer for answer in self.answers[before:] if answer["RequestId"] == event["RequestId"]]
        assert len(answers) == 1, answers
        return answers[0]


@pytest.fixture
def cloudformation() -> Iterator[CloudFormation]:
    stand_in = CloudFormation()
    stand_in.thread.start()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


@pytest.fixture(autouse=True)
def no_propagation_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "PROPAGATION_WAITS", (0.0, 0.0, 0.0))


def watch_stdout(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[[], str]:
    """Call in the test itself (pytest swaps stdout again between a fixture and the test): a reader of
    what the function writes to stdout from now on (its logs, its metrics)."""
    from phone_auth.observability import logger

    monkeypatch.setattr(logger.registered_handler, "stream", sys.stdout)  # bound at import time
    capsys.readouterr()
    return lambda: capsys.readouterr().out


def ssm() -> Any:
    return boto3.client("ssm")


def parameter(name: str = PARAMETER) -> dict[str, Any]:
    found: dict[str, Any] = ssm().get_parameter(Name=name, WithDecryption=True)["Parameter"]
    return found


def key_set_properties(name: str = PARAMETER, delete: str = "false") -> dict[str, str]:
    return {"ParameterName": name, "DeleteWithStack": delete}


def assert_answered(answer: dict[str, Any], event: dict[str, Any], status: str) -> None:
    assert answer["Status"] == status, answer
    for field in ("StackId", "RequestId", "LogicalResourceId"):
        assert answer[field] == event[field]
    assert answer["PhysicalResourceId"]


# ------------------------------------------------------------------ Custom::KeySet
def test_a_first_deploy_creates_the_key_set_and_never_shows_it(
    cloudformation: CloudFormation, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    written = watch_stdout(capsys, monkeypatch)
    ssm().delete_parameter(Name=PARAMETER)  # conftest's; this account has none yet
    event = cloudformation.request("Custom::KeySet", "Create", key_set_properties())

    answer = cloudformation.send(event)

    assert_answered(answer, event, "SUCCESS")
    assert answer["PhysicalResourceId"] == PARAMETER
    assert answer["Data"] == {"ParameterName": PARAMETER, "Created": "true"}
    stored = parameter()
    assert stored["Type"] == "SecureString"
    key_set = keys.parse_key_set(stored["Value"])  # what the functions read
    assert len(key_set.keys) == 1 and not key_set.legacy
    tags = ssm().list_tags_for_resource(ResourceType="Parameter", ResourceId=PARAMETER)["TagList"]
    assert {"Key": "project", "Value": "phone-auth"} in tags
    logged = written()
    assert '"message":"key set"' in logged and PARAMETER in logged
    shown = json.dumps(cloudformation.answers) + json.dumps(cloudformation.headers) + logged
    assert key_set.current.secret not in shown
    assert stored["Value"] not in shown
    assert cloudformation.headers[0]["Content-Type"] == ""  # as the pre-signed URL was signed


def test_an_existing_key_set_is_left_byte_for_byte(cloudformation: CloudFormation) -> None:
    before = parameter()
    event = cloudformation.request("Custom::KeySet", "Create", key_set_properties())

    answer = cloudformation.send(event)

    assert_answered(answer, event, "SUCCESS")
    assert answer["Data"] == {"ParameterName": PARAMETER, "Created": "false"}
    after = parameter()
    assert (after["Value"], after["Version"], after["LastModifiedDate"]) == (
        before["Value"],
        before["Version"],
        before["LastModifiedDate"],
    )


def test_an_update_keeps_the_key_set_and_a_new_name_gets_its_own(cloudformation: CloudFormation) -> None:
    before = parameter()
    same = cloudformation.request(
        "Custom::KeySet", "Update", key_set_properties(), physical_id=PARAMETER, old_properties=key_set_properties()
    )
    assert cloudformation.send(same)["Data"]["Created"] == "false"
    assert parameter()["Version"] == before["Version"]

    renamed = cloudformation.request(
        "Custom::KeySet",
        "Update",
        key_set_properties(RENAMED),
        physical_id=PARAMETER,
        old_properties=key_set_properties(),
    )
    answer = cloudformation.send(renamed)
    assert answer["PhysicalResourceId"] == RENAMED  # CloudFormation then deletes the old id
    assert answer["Data"]["Created"] == "true"
    keys.parse_key_set(parameter(RENAMED)["Value"])
    assert parameter()["Value"] == before["Value"]


@pytest.mark.parametrize(("delete", "kept"), [("false", True), ("true", False)])
def test_a_stack_deletion_keeps_the_key_set_unless_asked(
    cloudformation: CloudFormation, delete: str, kept: bool
) -> None:
    event = cloudformation.request("Custom::KeySet", "Delete", key_set_properties(delete=delete), physical_id=PARAMETER)

    assert_answered(cloudformation.send(event), event, "SUCCESS")

    names = [p["Name"] for p in ssm().describe_parameters()["Parameters"]]
    assert (PARAMETER in names) is kept


def test_the_rollback_of_a_failed_create_deletes_nothing(cloudformation: CloudFormation) -> None:
    """A Create that failed answered the 'not-created' id: its rollback's Delete must not take an
    existing key set with it, even with DeleteKeySetWithStack=true."""
    event = cloudformation.request(
        "Custom::KeySet", "Delete", key_set_properties(delete="true"), physical_id=protocol.NOT_CREATED
    )
    assert_answered(cloudformation.send(event), event, "SUCCESS")
    assert parameter()["Value"]


def test_a_failure_is_answered_failed_with_a_reason_and_no_secret(
    cloudformation: CloudFormation, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    written = watch_stdout(capsys, monkeypatch)
    ssm().delete_parameter(Name=PARAMETER)
    client = aws.deploy_client("ssm")
    sent: list[str] = []

    def refuse(**kwargs: Any) -> None:
        sent.append(kwargs["Value"])
        # AWS messages may quote what was sent: the answer must not pass the message on.
        error: Any = {"Error": {"Code": "AccessDeniedException", "Message": f"not allowed to write {kwargs['Value']}"}}
        raise ClientError(error, "PutParameter")

    monkeypatch.setattr(client, "put_parameter", refuse)
    event = cloudformation.request("Custom::KeySet", "Create", key_set_properties())

    answer = cloudformation.send(event)

    assert_answered(answer, event, "FAILED")
    assert answer["Reason"] == "PutParameter: AccessDeniedException"
    assert answer["PhysicalResourceId"] == protocol.NOT_CREATED
    assert answer["Data"] == {}
    (value,) = sent
    secret = keys.parse_key_set(value).current.secret
    logged = written()
    assert "PutParameter: AccessDeniedException" in logged
    shown = json.dumps(answer) + logged
    assert secret not in shown and value not in shown


def test_an_unknown_resource_type_and_a_bad_property_are_refused(cloudformation: CloudFormation) -> None:
    unknown = cloudformation.request("Custom::Unknown", "Create", {})
    answer = cloudformation.send(unknown)
    assert (answer["Status"], answer["Reason"]) == ("FAILED", "this function does not serve Custom::Unknown")
    bad = cloudformation.request("Custom::KeySet", "Create", key_set_properties(delete="maybe"))
    answer = cloudformation.send(bad)
    assert (answer["Status"], answer["Reason"]) == ("FAILED", "property DeleteWithStack must be true or false")
    missing = cloudformation.request("Custom::KeySet", "Create", {"DeleteWithStack": "false"})
    assert cloudformation.send(missing)["Reason"] == "property ParameterName is required"


class ShortContext(Context):
    def __init__(self, seconds: float) -> None:
        super().__init__("stack_setup")
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


def test_a_request_that_would_outlast_the_function_is_answered_failed_in_time(
    cloudformation: CloudFormation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda would kill the function without an answer and CloudFormation would wait an hour."""
    client = aws.deploy_client("ssm")
    monkeypatch.setattr(client, "put_parameter", lambda **kwargs: time.sleep(1.5))
    event = cloudformation.request("Custom::KeySet", "Create", key_set_properties())

    started = time.monotonic()
    answer = cloudformation.send(event, ShortContext(protocol.TIMEOUT_MARGIN_SECONDS + 0.3))

    assert (answer["Status"], answer["Reason"]) == ("FAILED", "timed out")
    assert time.monotonic() - started >= 1.5  # the late SUCCESS was not sent: one answer only


# ------------------------------------------------------------------ Custom::ApiGatewayLogging
def account_role() -> str | None:
    role: str | None = boto3.client("apigateway").get_account().get("cloudwatchRoleArn")
    return role


def test_a_fresh_account_gets_the_stacks_logging_role(cloudformation: CloudFormation) -> None:
    assert account_role() is None
    event = cloudformation.request("Custom::ApiGatewayLogging", "Create", {"RoleArn": ROLE})

    answer = cloudformation.send(event)

    assert_answered(answer, event, "SUCCESS")
    assert answer["Data"] == {"RoleArn": ROLE, "SetByStack": "true"}
    assert account_role() == ROLE


def test_an_account_with_a_logging_role_keeps_it(cloudformation: CloudFormation) -> None:
    patch: Any = [{"op": "replace", "path": "/cloudwatchRoleArn", "value": OTHER_ROLE}]
    boto3.client("apigateway").update_account(patchOperations=patch)
    for request_type in ("Create", "Update", "Delete"):
        event = cloudformation.request(
            "Custom::ApiGatewayLogging", request_type, {"RoleArn": ROLE}, physical_id="api-gateway-account"
        )
        assert_answered(cloudformation.send(event), event, "SUCCESS")
        assert account_role() == OTHER_ROLE


def test_a_role_iam_has_not_propagated_yet_is_tried_again(
    cloudformation: CloudFormation, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = aws.deploy_client("apigateway")
    real, refusals = client.update_account, list[dict[str, Any]]()

    def not_yet(**kwargs: Any) -> Any:
        if len(refusals) < 2:
            refusals.append(kwargs)
            error = {"Code": "BadRequestException", "Message": "The role ARN does not have required permissions"}
            raise client.exceptions.BadRequestException({"Error": error}, "UpdateAccount")
        return real(**kwargs)

    monkeypatch.setattr(client, "update_account", not_yet)
    event = cloudformation.request("Custom::ApiGatewayLogging", "Create", {"RoleArn": ROLE})
    assert cloudformation.send(event)["Status"] == "SUCCESS"
    assert len(refusals) == 2 and account_role() == ROLE


# ------------------------------------------------------------------ Custom::SmsDeliveryStatus
def sms_properties(role: str = SNS_ROLE, rate: str = "100") -> dict[str, str]:
    return {
        "RoleArn": role,
        "SuccessSamplingRate": rate,
        "SuccessLogGroupName": SUCCESS_GROUP,
        "FailureLogGroupName": FAILURE_GROUP,
        "LogRetentionDays": "30",
    }


def sms_attributes() -> dict[str, str]:
    """The account's delivery status attributes that are set (one name per call: moto reads the first only)."""
    sns = boto3.client("sns")
    found = {}
    for name in ("DeliveryStatusIAMRole", "DeliveryStatusSuccessSamplingRate"):
        found.update(sns.get_sms_attributes(attributes=[name])["attributes"])
    return found


def log_groups() -> dict[str, int | None]:
    groups = boto3.client("logs").describe_log_groups(logGroupNamePrefix="sns/")["logGroups"]
    return {group["logGroupName"]: group.get("retentionInDays") for group in groups}


def test_a_fresh_account_gets_sms_delivery_status_logging(cloudformation: CloudFormation) -> None:
    event = cloudformation.request("Custom::SmsDeliveryStatus", "Create", sms_properties())

    answer = cloudformation.send(event)

    assert_answered(answer, event, "SUCCESS")
    assert answer["Data"] == {"SetByStack": "true"}
    assert sms_attributes() == {"DeliveryStatusIAMRole": SNS_ROLE, "DeliveryStatusSuccessSamplingRate": "100"}
    assert log_groups() == {SUCCESS_GROUP: 30, FAILURE_GROUP: 30}


def test_existing_log_groups_and_someone_elses_setting_are_left_alone(cloudformation: CloudFormation) -> None:
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=FAILURE_GROUP)
    logs.put_retention_policy(logGroupName=FAILURE_GROUP, retentionInDays=400)
    boto3.client("sns").set_sms_attributes(
        attributes={"DeliveryStatusIAMRole": OTHER_ROLE, "DeliveryStatusSuccessSamplingRate": "5"}
    )
    event = cloudformation.request("Custom::SmsDeliveryStatus", "Create", sms_properties())

    answer = cloudformation.send(event)

    assert (answer["Status"], answer["Data"]) == ("SUCCESS", {"SetByStack": "false"})
    assert sms_attributes() == {"DeliveryStatusIAMRole": OTHER_ROLE, "DeliveryStatusSuccessSamplingRate": "5"}
    assert log_groups() == {SUCCESS_GROUP: 30, FAILURE_GROUP: 400}  # the one it made gets the retention

    delete = cloudformation.request(
        "Custom::SmsDeliveryStatus", "Delete", sms_properties(), physical_id=answer["PhysicalResourceId"]
    )
    assert cloudformation.send(delete)["Status"] == "SUCCESS"
    assert sms_attributes()["DeliveryStatusIAMRole"] == OTHER_ROLE


def test_a_stack_deletion_clears_its_own_role_and_keeps_the_records(cloudformation: CloudFormation) -> None:
    created = cloudformation.send(cloudformation.request("Custom::SmsDeliveryStatus", "Create", sms_properties()))
    update = cloudformation.request(
        "Custom::SmsDeliveryStatus",
        "Update",
        sms_properties(rate="50"),
        physical_id=created["PhysicalResourceId"],
        old_properties=sms_properties(),
    )
    assert cloudformation.send(update)["Data"] == {"SetByStack": "true"}  # its own setting: updated
    assert sms_attributes()["DeliveryStatusSuccessSamplingRate"] == "50"

    delete = cloudformation.request(
        "Custom::SmsDeliveryStatus", "Delete", sms_properties(), physical_id=created["PhysicalResourceId"]
    )
    assert cloudformation.send(delete)["Status"] == "SUCCESS"
    assert sms_attributes()["DeliveryStatusIAMRole"] == ""
    assert set(log_groups()) == {SUCCESS_GROUP, FAILURE_GROUP}


def test_a_sampling_rate_that_is_not_a_percentage_is_refused(cloudformation: CloudFormation) -> None:
    answer = cloudformation.send(
        cloudformation.request("Custom::SmsDeliveryStatus", "Create", sms_properties(rate="150"))
    )
    assert (answer["Status"], answer["Reason"]) == (
        "FAILED",
        "property SuccessSamplingRate must be a percentage, 0 to 100",
    )
    assert sms_attributes() == {}
