"""The users table's stream and the bus, as Lambda and EventBridge connect them in AWS: the unit
tier's look at the lifecycle events (the stack tier reads them at ``/_local/events``)."""

from __future__ import annotations

import json
import os
from typing import Any

from tests.helpers import Context, load_handler


class LifecycleTap:
    """The users table's stream and the bus, as Lambda and EventBridge connect them.

    Made after the tables exist, it reads the stream from its end on: ``records()`` gives what
    the stream holds since the last call, as Lambda delivers it to publish_events (moto's own
    stream records, see devtools.local_stack.streams), ``publish()`` runs publish_events with
    them and returns what reached the bus since, each event as a target receives it (a rule on
    the bus for ``source`` phone-auth sends them to a queue this reads).
    """

    def __init__(self, bus: str = "default") -> None:
        import boto3

        session = boto3.session.Session()
        self.streams, self.sqs = session.client("dynamodbstreams"), session.client("sqs")
        events = session.client("events")
        if bus != "default":
            events.create_event_bus(Name=bus)
        self.queue = self.sqs.create_queue(QueueName=f"lifecycle-tap-{bus}")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]
        events.put_rule(Name="lifecycle-tap", EventBusName=bus, EventPattern='{"source": ["phone-auth"]}')
        events.put_targets(
            Rule="lifecycle-tap", EventBusName=bus, Targets=[{"Id": "tap", "Arn": queue_arn["QueueArn"]}]
        )
        table = session.client("dynamodb").describe_table(TableName=os.environ["USERS_TABLE_NAME"])["Table"]
        self.stream_arn = table["LatestStreamArn"]
        (shard,) = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
        )["ShardIterator"]

    def records(self) -> list[dict[str, Any]]:
        from devtools.local_stack.streams import lambda_record

        page = self.streams.get_records(ShardIterator=self.iterator)
        self.iterator = page["NextShardIterator"]
        region = os.environ["AWS_DEFAULT_REGION"]
        return [lambda_record(record, stream_arn=self.stream_arn, region=region) for record in page["Records"]]

    def deliver(self, records: list[dict[str, Any]]) -> Any:
        """Invoke publish_events with ``records`` as the stream's event source does."""
        from devtools.local_stack.streams import stream_event

        return load_handler("publish_events").lambda_handler(stream_event(records), Context("publish_events"))

    def published(self) -> list[dict[str, Any]]:
        """What reached the bus since the last call, oldest first."""
        found: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            found += [json.loads(message["Body"]) for message in messages]
            for message in messages:
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])

    def publish(self) -> list[dict[str, Any]]:
        """Deliver what the stream holds, and return what reached the bus."""
        records = self.records()
        if records:
            self.deliver(records)
        return self.published()
