"""The local stack's S3 bucket and EventBridge rule: an upload through a pre-signed URL reaches the
function the template's ``EventBridgeRule`` names, as deployed (devtools/local_stack/event_rules.py).

One stack for the module, the real template.yaml, with a recording handler in place of
ImportUsersFunction; uploads are made from outside (urllib) to URLs pre-signed in the stack's
environment, as the start-import function will make them, and ``stack.deliver_events()`` delivers
what is pending instead of waiting for the poller.
"""

from __future__ import annotations

import hashlib
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.s3.models import s3_backends

from devtools.local_stack import LocalStack, start
from devtools.local_stack.gateway import Handler
from devtools.local_stack.stack import banner
from devtools.local_stack.template import ACCOUNT_ID, EventRuleSubscription, read_stack
from tests.helpers.stack import call

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "phone-auth-local-importbucket"
PARTITION = "aws"  # moto keeps S3 by account and partition


class ImportRecorder:
    """Stands in for ImportUsersFunction: records each event; raises for keys containing ``fail``;
    for keys containing ``chain``, writes the resume marker a long import writes."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.remaining_ms: list[int] = []

    def __call__(self, event: dict[str, Any], context: Any) -> None:
        self.events.append(event)
        self.remaining_ms.append(context.get_remaining_time_in_millis())
        key = event["detail"]["object"]["key"]
        if "fail" in key:
            raise RuntimeError("the import broke")
        if "chain" in key and key.startswith("uploads/"):
            marker = "resume/" + key.removeprefix("uploads/").removesuffix(".csv") + "/1"
            s3_client().put_object(Bucket=event["detail"]["bucket"]["name"], Key=marker, Body=b"")

    def keys(self) -> list[str]:
        return [event["detail"]["object"]["key"] for event in self.events]


def never_called(event: dict[str, Any], context: Any) -> None:
    raise AssertionError("not part of these tests")


def handlers_with(recorder: ImportRecorder) -> dict[str, Handler]:
    """``recorder`` as ImportUsersFunction; the import API's functions are not called here."""
    return {
        "ImportUsersFunction": recorder,
        "AdminStartImportFunction": never_called,
        "AdminGetImportFunction": never_called,
    }


@pytest.fixture(scope="module")
def recorder() -> ImportRecorder:
    return ImportRecorder()


@pytest.fixture(scope="module")
def log() -> list[str]:
    return []


@pytest.fixture(scope="module")
def stack(recorder: ImportRecorder, log: list[str]) -> Iterator[LocalStack]:
    running = start(port=0, log=log.append, import_sample_users=False, handlers=handlers_with(recorder))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def nothing_pending(stack: LocalStack, recorder: ImportRecorder) -> None:
    stack.deliver_events()
    recorder.events.clear()
    recorder.remaining_ms.clear()


def s3_client() -> Any:
    """An S3 client as a function makes it in the stack's environment (AWS_ENDPOINT_URL: moto), path-style."""
    return boto3.client("s3", config=Config(s3={"addressing_style": "path"}))


def upload(key: str, data: bytes, content_type: str | None = None) -> None:
    """PUT ``data`` to a URL pre-signed for ``key``, from outside the stack (no AWS client)."""
    url = s3_client().generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=900)
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url, data=data, method="PUT", headers=headers)  # noqa: S310 - moto's http URL
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        assert answer.status == 200


def test_the_bucket_is_made_as_the_template_declares_it(stack: LocalStack) -> None:
    s3 = s3_client()
    assert stack.bucket_names == {"ImportBucket": BUCKET}
    assert stack.model.environment["IMPORT_BUCKET_NAME"] == BUCKET
    assert call(stack, "GET", "/_local/info")[2]["buckets"] == {"ImportBucket": BUCKET}
    (rule,) = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block[name] for name in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy"))
    # moto's GetBucketNotificationConfiguration leaves EventBridgeConfiguration out: ask its model
    notifications = s3_backends[ACCOUNT_ID][PARTITION].get_bucket(BUCKET).notification_configuration
    assert notifications is not None and notifications.event_bridge == {}


def test_the_rule_is_read_from_the_template() -> None:
    model = read_stack(ROOT / "template.yaml", region="ap-southeast-1", environ={})
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [BUCKET]}, "object": {"key": [{"prefix": "uploads/"}, {"prefix": "resume/"}]}},
    }
    assert model.event_rules == [EventRuleSubscription("ImportUsersFunction", "Uploaded", pattern, 2)]


def test_the_banner_names_the_bucket_and_its_rule(stack: LocalStack) -> None:
    (line,) = [line for line in banner(stack, []).splitlines() if line.startswith("  Bucket")]
    assert BUCKET in line and "phone-auth-local-ImportUsersFunction-Uploaded -> ImportUsersFunction" in line


@pytest.mark.parametrize("content_type", ["text/csv", None])  # None: urllib's form type, as curl --data-binary
def test_a_presigned_upload_from_outside_is_stored_and_invokes_the_function(
    stack: LocalStack, recorder: ImportRecorder, content_type: str | None
) -> None:
    data = b"+66812345678,Sunflower-Rain-2026\n+66812345679,\n"
    upload("uploads/0123abcd.csv", data, content_type)
    assert s3_client().get_object(Bucket=BUCKET, Key="uploads/0123abcd.csv")["Body"].read() == data
    stack.deliver_events()
    (event,) = recorder.events
    assert (event["source"], event["detail-type"], event["region"]) == ("aws.s3", "Object Created", stack.region)
    assert event["detail"]["bucket"]["name"] == BUCKET
    assert event["detail"]["object"]["key"] == "uploads/0123abcd.csv"
    assert event["detail"]["object"]["size"] == len(data)
    assert event["detail"]["object"]["eTag"] == hashlib.md5(data).hexdigest()  # noqa: S324 - S3's ETag
    assert event["time"].endswith("Z")
    assert recorder.remaining_ms[0] > 800_000  # the function's own Timeout (900 s), not the API's limit


def test_each_event_has_its_own_id(stack: LocalStack, recorder: ImportRecorder) -> None:
    upload("uploads/one.csv", b"a\n", "text/csv")
    upload("uploads/two.csv", b"b\n", "text/csv")
    stack.deliver_events()
    assert recorder.keys() == ["uploads/one.csv", "uploads/two.csv"]
    assert len({event["id"] for event in recorder.events}) == 2


def test_a_resume_marker_invokes_the_function_and_delivery_waits_for_what_an_invocation_causes(
    stack: LocalStack, recorder: ImportRecorder
) -> None:
    upload("uploads/chain.csv", b"a\n", "text/csv")
    stack.deliver_events()
    assert recorder.keys() == ["uploads/chain.csv", "resume/chain/1"]


def test_an_object_under_another_prefix_invokes_nothing(stack: LocalStack, recorder: ImportRecorder) -> None:
    s3_client().put_object(Bucket=BUCKET, Key="reports/0123abcd.csv", Body=b"line,phone,outcome,reason\n")
    upload("reports/0123abcd/part-00001.csv", b"1,+668******78,created,\n", "text/csv")
    s3_client().delete_object(Bucket=BUCKET, Key="reports/0123abcd.csv")
    stack.deliver_events()
    assert recorder.events == []


def test_a_failing_invocation_is_retried_then_dropped_and_said(
    stack: LocalStack, recorder: ImportRecorder, log: list[str]
) -> None:
    upload("uploads/fail.csv", b"a\n", "text/csv")
    stack.deliver_events()
    (rule,) = stack.model.event_rules
    assert recorder.keys() == ["uploads/fail.csv"] * (rule.max_retries + 1)
    assert len({event["id"] for event in recorder.events}) == 1  # a retry is the same event
    assert any("ImportUsersFunction" in line and "was dropped" in line for line in log)


def test_the_poller_delivers_without_being_asked(stack: LocalStack, recorder: ImportRecorder) -> None:
    upload("uploads/polled.csv", b"a\n", "text/csv")
    deadline = time.monotonic() + 10
    while not recorder.events and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recorder.keys() == ["uploads/polled.csv"]


def test_a_new_stack_starts_with_an_empty_bucket_and_queue(stack: LocalStack) -> None:
    """The stacks of one process share moto's state: what an earlier one left is gone at the next start.
    (Last in this module: it stops the module's stack to start another.)"""
    stack.stop()
    # Stored once the stack has stopped (straight into moto's model): its event waits in the rule's queue.
    s3_backends[ACCOUNT_ID][PARTITION].put_object(BUCKET, "uploads/left.csv", b"a\n")
    late = ImportRecorder()
    again = start(port=0, echo=False, import_sample_users=False, handlers=handlers_with(late))
    try:
        assert s3_client().list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
        again.deliver_events()
        assert late.events == []
    finally:
        again.stop()
