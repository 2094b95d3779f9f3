"""The users table's stream and the lifecycle events, locally: stream -> function -> bus.

:class:`LifecycleEvents` does what two AWS pieces do for the deployed stack:

* **the event source mapping** (``template.StreamSubscription``): it reads each subscribed table's
  stream (moto's DynamoDB Streams, through the same endpoint as every client) and invokes the
  function with the event Lambda delivers (:func:`stream_event`: ``{"Records": [...]}``, each
  record with its ``eventSourceARN``), at most BatchSize records at a time, in stream order. A
  batch whose invocation fails is halved (BisectBatchOnFunctionError) and retried up to
  MaximumRetryAttempts; then it is dropped and logged, where AWS would send it to the failure
  queue. It reads from the streams' end as they are when the stack is ready: writes made while
  the stack starts (the demo users, the data kept in local-data/) publish nothing.
* **a look at the bus**: a queue and a rule on EVENT_BUS_NAME (made if it is not the default bus)
  that sends it every event with ``source`` phone-auth; :meth:`LifecycleEvents.events` drains the
  queue into a list, newest last, as EventBridge delivers events to a target (``detail-type``,
  ``detail`` ...). ``GET /_local/events`` shows it, ``DELETE /_local/events`` empties it.

A thread polls every ``interval`` seconds; :meth:`LifecycleEvents.events` first delivers whatever
the streams hold, so what a request changed is on the list as soon as the request has answered.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import boto3

from devtools.local_stack.gateway import FunctionError, Gateway
from devtools.local_stack.polling import Poller
from devtools.local_stack.template import ACCOUNT_ID, StackModel, StreamSubscription, local_name

__all__ = ["EVENTS_QUEUE", "EVENTS_RULE", "LifecycleEvents", "lambda_record", "stream_event"]

EVENTS_QUEUE = local_name("LifecycleEvents")
EVENTS_RULE = local_name("LifecycleEvents")
#: Lambda retries a failing batch forever when MaximumRetryAttempts is -1; locally, this many times.
_FOREVER = 10


def lambda_record(record: dict[str, Any], *, stream_arn: str, region: str) -> dict[str, Any]:
    """A record as DynamoDB Streams' GetRecords returns it (through boto3), as Lambda delivers it:
    with ``eventSourceARN``, the region, and ``ApproximateCreationDateTime`` in epoch seconds."""
    stream = dict(record["dynamodb"])
    when = stream.get("ApproximateCreationDateTime")
    if isinstance(when, datetime):
        stream["ApproximateCreationDateTime"] = int(when.timestamp())
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": stream,
        "eventSourceARN": stream_arn,
    }


def stream_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The event a DynamoDB stream's event source mapping invokes its function with."""
    return {"Records": records}


class _Subscription:
    """One function reading one table's stream: where it has read to, shard by shard."""

    def __init__(self, spec: StreamSubscription, stream_arn: str) -> None:
        self.spec, self.stream_arn = spec, stream_arn
        self.iterators: dict[str, str] = {}
        self.seen = 0  # the stream's records when it was last read

    def written(self, region: str) -> int:
        """How many records the table's stream holds: moto runs in this process, so a poll that would
        find nothing new asks moto nothing (each GetRecords leaves moto a new shard iterator)."""
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[ACCOUNT_ID][region].get_table(local_name(self.spec.table))
        return len(table.stream_shard.items) if table.stream_shard is not None else 0


class LifecycleEvents(Poller):
    """The local event source mappings of the template's streams, and what reached the bus."""

    label = "streams"

    def __init__(
        self, model: StackModel, gateway: Gateway, region: str, log: Callable[[str], None], *, interval: float = 0.5
    ) -> None:
        super().__init__(log, interval)
        self.model, self.gateway, self.region = model, gateway, region
        self.bus = model.environment.get("EVENT_BUS_NAME", "default")
        self._subscriptions: list[_Subscription] = []
        self._published: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._queue_url = ""

    # ------------------------------------------------------------------ start and stop
    def setup(self) -> None:
        """Make the bus (unless it is the default one), the queue and the rule; find the streams."""
        session = boto3.session.Session()
        events, sqs, dynamodb = session.client("events"), session.client("sqs"), session.client("dynamodb")
        if self.bus != "default" and self.bus not in {bus["Name"] for bus in events.list_event_buses()["EventBuses"]}:
            events.create_event_bus(Name=self.bus)
        with contextlib.suppress(sqs.exceptions.QueueDoesNotExist):  # an earlier stack's, with its events
            sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=EVENTS_QUEUE)["QueueUrl"])
        self._queue_url = sqs.create_queue(QueueName=EVENTS_QUEUE)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])["Attributes"]
        pattern = json.dumps({"source": ["phone-auth"]})
        events.put_rule(Name=EVENTS_RULE, EventBusName=self.bus, EventPattern=pattern, State="ENABLED")
        target = {"Id": "local-events", "Arn": queue_arn["QueueArn"]}
        events.put_targets(Rule=EVENTS_RULE, EventBusName=self.bus, Targets=[target])
        for spec in self.model.streams:
            arn = dynamodb.describe_table(TableName=local_name(spec.table))["Table"]["LatestStreamArn"]
            self._subscriptions.append(_Subscription(spec, arn))

    def start(self) -> None:
        """Start reading every stream at its end, and the polling thread."""
        streams = boto3.session.Session().client("dynamodbstreams")
        with self._lock:
            for subscription in self._subscriptions:
                shards = streams.describe_stream(StreamArn=subscription.stream_arn)["StreamDescription"]["Shards"]
                for shard in shards:
                    subscription.iterators[shard["ShardId"]] = streams.get_shard_iterator(
                        StreamArn=subscription.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
                    )["ShardIterator"]
                subscription.seen = subscription.written(self.region)
        self.start_polling()

    # ------------------------------------------------------------------ the event source mappings
    def deliver(self) -> None:
        """Invoke each subscribed function with what its stream holds since the last call."""
        streams = boto3.session.Session().client("dynamodbstreams")
        with self._lock:
            for subscription in self._subscriptions:
                written = subscription.written(self.region)
                if written == subscription.seen:
                    continue
                subscription.seen = written
                records: list[dict[str, Any]] = []
                for shard, iterator in list(subscription.iterators.items()):
                    while True:
                        page = streams.get_records(ShardIterator=iterator, Limit=1000)
                        iterator = page["NextShardIterator"]
                        records += [
                            lambda_record(record, stream_arn=subscription.stream_arn, region=self.region)
                            for record in page["Records"]
                        ]
                        if not page["Records"]:
                            break
                    subscription.iterators[shard] = iterator
                size = subscription.spec.batch_size
                for start in range(0, len(records), size):
                    self._invoke(subscription.spec, records[start : start + size], subscription.spec.max_retries)

    def _invoke(self, spec: StreamSubscription, records: list[dict[str, Any]], retries: int) -> None:
        """One batch, as Lambda's event source retries it: halved on error, then retried."""
        try:
            self.gateway.run(self.model.functions[spec.function], stream_event(records))
            return
        except FunctionError:
            pass
        if spec.bisect and len(records) > 1:
            middle = len(records) // 2
            self._invoke(spec, records[:middle], retries)
            self._invoke(spec, records[middle:], retries)
            return
        if retries != 0:
            self._invoke(spec, records, (_FOREVER if retries < 0 else retries) - 1)
            return
        first, last = (records[0]["dynamodb"]["SequenceNumber"], records[-1]["dynamodb"]["SequenceNumber"])
        self.log(
            f"[streams] {spec.function}: {len(records)} record(s) ({first}..{last}) failed every retry and were"
            " dropped (a deployed stack sends them to its failure queue)"
        )

    # ------------------------------------------------------------------ what reached the bus
    def events(self) -> list[dict[str, Any]]:
        """Every event published since the start (or the last clear), newest last."""
        self.deliver()
        with self._lock:
            self._published += self._receive()
            return list(self._published)

    def _receive(self) -> list[dict[str, Any]]:
        """Every event the queue holds, oldest first; the queue is then empty."""
        sqs = boto3.session.Session().client("sqs")
        received: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return received
            received += [json.loads(message["Body"]) for message in messages]
            for message in messages:
                sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])

    def clear(self) -> None:
        self.events()
        with self._lock:
            self._published = []

    def restore(self, events: list[dict[str, Any]]) -> None:
        """Put back the events of an earlier run, before any of this one."""
        with self._lock:
            self._published = [*events, *self._published]
