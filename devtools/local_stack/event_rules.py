"""The template's S3 buckets and EventBridge rules, locally: object event -> default bus -> rule -> function.

:class:`EventRules` does what three AWS pieces do for the deployed stack:

* **the buckets** (``StackModel.buckets``): each is made in moto when the stack starts, named
  :func:`template.bucket_name` (``phone-auth-local-importbucket``: S3 names are lower case); one an
  earlier stack of this process left is emptied and made again. Applied as the template declares
  them: the default encryption (``BucketEncryption``), the public access block and the EventBridge
  notifications (``NotificationConfiguration.EventBridgeConfiguration``: moto then sends the bucket's
  object events to the rules of *every* bus, where S3 sends them to the default bus only). Not applied,
  having no local effect: the lifecycle rules (moto expires nothing: objects stay until the stack
  stops), the ownership controls (nothing here uses ACLs) and the tags. The bucket policy is ignored
  like IAM: moto checks no permission, and the local endpoint is plain HTTP.
* **the rules** (``StackModel.event_rules``): a function's ``EventBridgeRule`` event is a rule on the
  default bus with the template's pattern (its ``!Ref``s resolved: the bucket's local name) whose
  target is a queue (:func:`rule_name`) the stack reads instead of Lambda.
* **Lambda's asynchronous invocation**: a thread reads each rule's queue every ``interval`` seconds and
  invokes the function through :meth:`Gateway.run` with the event as EventBridge delivers it
  (``detail-type`` "Object Created", ``detail.bucket.name``, ``detail.object.key``/``size``/``eTag``...;
  moto gives every S3 event the same ``id``, so each gets its own here, kept by its retries). An
  invocation that fails (raises, or outlives its Timeout) is retried up to the function's
  EventInvokeConfig MaximumRetryAttempts (2 by default) at once, where AWS waits about a minute, then
  two; then it is logged and dropped, as a deployed function without an on-failure destination drops
  it. MaximumEventAgeInSeconds has no local effect (an event waits at most ``interval``). The events of
  all rules are delivered one at a time, oldest first, where Lambda runs them concurrently.

:meth:`EventRules.deliver` delivers at once what the queues hold, and what those invocations cause (a
resumed import's marker), before it returns: a test that uploaded a file calls it
(``LocalStack.deliver_events()``) instead of waiting for the thread. The S3 request that stored the
object has put its event in the queue before it answered.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

import boto3

from devtools.local_stack.gateway import FunctionError, Gateway
from devtools.local_stack.polling import Poller
from devtools.local_stack.template import EventRuleSubscription, StackModel, as_text, bucket_name, local_name

__all__ = ["EventRules", "rule_name"]


def rule_name(spec: EventRuleSubscription) -> str:
    """The local name of an event's rule and of its queue, e.g. ``phone-auth-local-ImportUsersFunction-Uploaded``."""
    return local_name(f"{spec.function}-{spec.event}")


class _Rule:
    """One ``EventBridgeRule`` event: its queue."""

    def __init__(self, spec: EventRuleSubscription, queue_url: str) -> None:
        self.spec, self.queue_url = spec, queue_url


class EventRules(Poller):
    """The template's buckets, its rules on the default bus, and the asynchronous invocations they make."""

    label = "events"

    def __init__(
        self, model: StackModel, gateway: Gateway, region: str, log: Callable[[str], None], *, interval: float = 0.5
    ) -> None:
        super().__init__(log, interval)
        self.model, self.gateway, self.region = model, gateway, region
        self._rules: list[_Rule] = []
        #: Held while events are received and invoked: one at a time, and deliver() waits for the thread's.
        self._lock = threading.Lock()

    @property
    def bucket_names(self) -> dict[str, str]:
        """Logical id -> local bucket name, e.g. ``ImportBucket -> phone-auth-local-importbucket``."""
        return {logical_id: bucket_name(logical_id) for logical_id in self.model.buckets}

    # ------------------------------------------------------------------ start and stop
    def setup(self) -> None:
        """Make the buckets, and each rule with its queue (emptied of what an earlier stack left)."""
        session = boto3.session.Session()
        events, sqs = session.client("events"), session.client("sqs")
        for logical_id, name in self.bucket_names.items():
            self._create_bucket(name, self.model.buckets[logical_id])
        for spec in self.model.event_rules:
            name = rule_name(spec)
            rule = _Rule(spec, sqs.create_queue(QueueName=name)["QueueUrl"])
            while self._receive(sqs, rule):  # what an earlier stack of this process left there
                pass
            queue = sqs.get_queue_attributes(QueueUrl=rule.queue_url, AttributeNames=["QueueArn"])["Attributes"]
            events.put_rule(Name=name, EventPattern=json.dumps(spec.pattern), State="ENABLED")  # the default bus
            events.put_targets(Rule=name, Targets=[{"Id": "local-invoke", "Arn": queue["QueueArn"]}])
            self._rules.append(rule)

    def _create_bucket(self, name: str, properties: Mapping[str, Any]) -> None:
        s3 = boto3.session.Session().resource("s3")
        bucket = s3.Bucket(name)
        if bucket.creation_date is not None:  # an earlier stack of this process made it
            bucket.object_versions.delete()
            bucket.delete()
        if self.region == "us-east-1":
            bucket.create()
        else:
            location: Any = {"LocationConstraint": self.region}
            bucket.create(CreateBucketConfiguration=location)
        client = s3.meta.client
        encryption = properties.get("BucketEncryption")
        if encryption:
            rules: list[Any] = []
            for rule in encryption["ServerSideEncryptionConfiguration"]:  # the API names its default Apply...
                applied = {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                if "BucketKeyEnabled" in rule:
                    applied["BucketKeyEnabled"] = as_text(rule["BucketKeyEnabled"]) == "true"
                rules.append(applied)
            client.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        block = properties.get("PublicAccessBlockConfiguration")
        if block:

            def blocks(setting: str) -> bool:
                return as_text(block.get(setting, False)) == "true"

            client.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": blocks("BlockPublicAcls"),
                    "IgnorePublicAcls": blocks("IgnorePublicAcls"),
                    "BlockPublicPolicy": blocks("BlockPublicPolicy"),
                    "RestrictPublicBuckets": blocks("RestrictPublicBuckets"),
                },
            )
        notifications = properties.get("NotificationConfiguration") or {}
        bridge = notifications.get("EventBridgeConfiguration")
        if bridge is not None and as_text((bridge or {}).get("EventBridgeEnabled", True)) == "true":
            client.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )

    def start(self) -> None:
        """Start the thread that delivers the rules' events."""
        self.start_polling()

    # ------------------------------------------------------------------ Lambda's asynchronous invocation
    def deliver(self) -> None:
        """Invoke each rule's function with every event its queue holds, then with those the invocations
        caused, until the queues are empty. Returns once each has been handled (here, or by the thread:
        this waits for the events it took), retries included."""
        if not self._rules:
            return
        sqs = boto3.session.Session().client("sqs")
        with self._lock:
            while not self._stopping.is_set():
                events = [(rule, event) for rule in self._rules for event in self._receive(sqs, rule)]
                if not events:
                    return
                for rule, event in events:
                    self._invoke(rule.spec, event)

    @staticmethod
    def _receive(sqs: Any, rule: _Rule) -> list[dict[str, Any]]:
        """The events in the rule's queue (up to 10, oldest first), taken off it: retries are ours to make."""
        messages = sqs.receive_message(QueueUrl=rule.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if messages:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            sqs.delete_message_batch(QueueUrl=rule.queue_url, Entries=entries)
        return [json.loads(message["Body"]) | {"id": message["MessageId"]} for message in messages]

    def _invoke(self, spec: EventRuleSubscription, event: dict[str, Any]) -> None:
        """One event, as Lambda's asynchronous invocation retries it."""
        function = self.model.functions[spec.function]
        for _ in range(spec.max_retries + 1):
            try:
                self.gateway.run(function, event)
                return
            except FunctionError:
                continue
        self.log(
            f"[events] {spec.function}: event {event['id']} ({event.get('source')} {event.get('detail-type')}, rule"
            f" {spec.event}) failed {spec.max_retries + 1} attempt(s) and was dropped (as deployed: no on-failure"
            " destination)"
        )
