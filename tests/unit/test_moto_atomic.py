"""devtools.moto_atomic: a cancelled transaction puts back exactly the items it touched, without
copying whole tables (that copy made every transaction slower as the local stack's tables grew)."""

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
