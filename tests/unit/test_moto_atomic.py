"""devtools.moto_atomic: a cancelled transaction puts back exactly the items it touched, without
copying whole tables (that copy made every transaction slower as the local stack's tables grew),
and the users table's stream holds what DynamoDB's would: one record per write that happened."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

TABLE = "phone-auth-test-otps"  # the template's codes table: phone (hash) + purpose (range)


def key(phone: str, purpose: str = "login") -> dict[str, Any]:
    return {"phone": {"S": phone}, "purpose": {"S": purpose}}


def item(phone: str, attempts: int) -> dict[str, Any]:
    return {**key(phone), "attempts": {"N": str(attempts)}}


def test_a_cancelled_transaction_restores_the_items_it_touched_and_nothing_else() -> None:
    assert os.environ["OTP_TABLE_NAME"] == TABLE
    dynamodb = boto3.client("dynamodb")
    for index in range(50):
        dynamodb.put_item(TableName=TABLE, Item=item(f"+6681000{index:04d}", index))
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key("+66810000001"),
                        "UpdateExpression": "SET attempts = :n",
                        "ExpressionAttributeValues": {":n": {"N": "99"}},
                    }
                },
                {"Put": {"TableName": TABLE, "Item": item("+66819999999", 1)}},
                {"Delete": {"TableName": TABLE, "Key": key("+66810000002")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key("+66810000003"),
                        "ConditionExpression": "attempts > :n",
                        "ExpressionAttributeValues": {":n": {"N": "100"}},
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    stored = dynamodb.scan(TableName=TABLE)["Items"]
    assert len(stored) == 50
    assert sorted(stored, key=lambda found: found["phone"]["S"]) == [
        item(f"+6681000{index:04d}", index) for index in range(50)
    ]


def test_a_transaction_never_deep_copies_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.table import Table

    def refuse(*_: Any) -> Any:
        raise AssertionError("a whole table was copied")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    dynamodb = boto3.client("dynamodb")
    dynamodb.put_item(TableName=TABLE, Item=item("+66810000001", 1))
    update = {
        "TableName": TABLE,
        "Key": key("+66810000001"),
        "UpdateExpression": "SET attempts = attempts + :one",
        "ConditionExpression": "attempts < :max",
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":max": {"N": "2"}},
    }
    dynamodb.transact_write_items(TransactItems=[{"Update": update}])  # 1 -> 2
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[{"Update": update}])  # 2 is not < 2: cancelled
    stored = dynamodb.get_item(TableName=TABLE, Key=key("+66810000001"), ConsistentRead=True)["Item"]
    assert stored["attempts"] == {"N": "2"}


USERS = "phone-auth-test-users"  # the template's users table, with its stream


def stream_records() -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=USERS)["Table"]["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    records: list[dict[str, Any]] = []
    page = streams.get_records(ShardIterator=iterator["ShardIterator"])
    while page["Records"]:
        records += page["Records"]
        page = streams.get_records(ShardIterator=page["NextShardIterator"])
    return records


def test_an_update_that_creates_its_item_leaves_one_insert_and_the_sequence_has_no_gap() -> None:
    dynamodb = boto3.client("dynamodb")
    for phone, value in (("+66810000001", "1"), ("+66810000002", "1"), ("+66810000001", "2")):
        dynamodb.update_item(
            TableName=USERS,
            Key={"phone": {"S": phone}},
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": {"N": value}},
        )
    records = stream_records()  # read page by page: a gap in the numbers would skip a record
    assert [(record["eventName"], record["dynamodb"]["NewImage"]["v"]["N"]) for record in records] == [
        ("INSERT", "1"),
        ("INSERT", "1"),
        ("MODIFY", "2"),
    ]
    numbers = [int(record["dynamodb"]["SequenceNumber"]) for record in records]
    assert numbers == list(range(numbers[0], numbers[0] + 3))


def test_a_cancelled_transaction_leaves_nothing_on_the_stream() -> None:
    dynamodb = boto3.client("dynamodb")
    dynamodb.put_item(TableName=USERS, Item={"phone": {"S": "+66810000001"}, "v": {"N": "1"}})
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": USERS, "Item": {"phone": {"S": "+66810000002"}}}},
                {"Delete": {"TableName": USERS, "Key": {"phone": {"S": "+66810000001"}}}},
                {
                    "Update": {
                        "TableName": USERS,
                        "Key": {"phone": {"S": "+66810000003"}},
                        "UpdateExpression": "SET v = :v",
                        "ConditionExpression": "attribute_exists(phone)",
                        "ExpressionAttributeValues": {":v": {"N": "1"}},
                    }
                },
            ]
        )
    dynamodb.delete_item(TableName=USERS, Key={"phone": {"S": "+66810000001"}})
    assert [record["eventName"] for record in stream_records()] == ["INSERT", "REMOVE"]
