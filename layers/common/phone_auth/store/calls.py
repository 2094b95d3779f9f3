"""One DynamoDB call or transaction, with the error mapping and retries every operation shares.

- A failed condition becomes ``ConditionFailed`` carrying the item as it was.
- A cancelled transaction becomes ``Cancelled``, naming which of the caller's named
  operations did not hold, each with its item as it was: an operation module reads
  the outcome by name, never by position.
- A transaction that collided with another one on the same item (real DynamoDB cancels
  it with TransactionConflict; moto serialises) or was throttled is retried a few
  times with jitter: the retry then sees the other request's result, e.g. a code
  already spent. After that, and on every infrastructure failure, the answer is
  ``ServiceUnavailable`` (503) and nothing was written.

This module and its siblings are the only code that calls ``phone_auth.aws.dynamodb()``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from phone_auth import aws
from phone_auth.aws import DYNAMODB, ensure_time_for
from phone_auth.errors import ServiceUnavailable
from phone_auth.store.marshalling import Item, from_item

#: A transaction: operation name -> {"Put" | "Update" | "ConditionCheck" | "Delete": {...}}.
Operations = dict[str, dict[str, Any]]

_CONFLICT_RETRY_DELAYS = (0.02, 0.05, 0.1)  # seconds, jittered; then 503
_BUSY_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


class ConditionFailed(Exception):
    """A conditional write's precondition did not hold; ``item`` is the item as it was (or None)."""

    def __init__(self, item: Item | None) -> None:
        super().__init__("condition failed")
        self.item = item


class Cancelled(Exception):
    """A transaction's conditions did not all hold.

    ``failed`` maps the name of each operation whose condition failed to its item as it
    was (None when absent); ``items`` holds the old item of every named operation
    DynamoDB returned one for.
    """

    def __init__(self, failed: dict[str, Item | None], items: dict[str, Item | None]) -> None:
        super().__init__("transaction cancelled: " + ", ".join(sorted(failed)))
        self.failed = failed
        self.items = items


class _Busy(Exception):
    """DynamoDB refused because another request held the item (or throttled): worth a retry."""


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(details={"dependency": "dynamodb"})


def call(operation: str, **kwargs: Any) -> dict[str, Any]:
    """Run one DynamoDB operation (``get_item``, ``update_item`` ...) with the shared mapping."""
    return _with_retries(lambda: _call_once(operation, kwargs, names=None))


def transact(operations: Operations) -> None:
    """All or nothing. Every operation asks for its old item on a failed condition."""
    names = list(operations)
    items = []
    for name in names:
        ((kind, body),) = operations[name].items()
        if kind != "Put" or "ConditionExpression" in body:
            body = {**body, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        items.append({kind: body})
    _with_retries(lambda: _call_once("transact_write_items", {"TransactItems": items}, names=names))


def _with_retries(attempt: Any) -> dict[str, Any]:
    for delay in (*_CONFLICT_RETRY_DELAYS, None):
        try:
            result: dict[str, Any] = attempt()
            return result
        except _Busy:
            if delay is None:
                raise _unavailable() from None
            time.sleep(delay * (0.5 + secrets.randbelow(1000) / 1000))
    raise AssertionError("unreachable")  # pragma: no cover


def _call_once(operation: str, kwargs: dict[str, Any], *, names: list[str] | None) -> dict[str, Any]:
    ensure_time_for(DYNAMODB.worst_case_seconds(), "dynamodb")
    client = aws.dynamodb()
    try:
        response: dict[str, Any] = getattr(client, operation)(**kwargs)
        return response
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "ConditionalCheckFailedException":
            raise ConditionFailed(from_item(exc.response.get("Item"))) from None
        if code == "TransactionCanceledException" and names is not None:
            reasons = exc.response.get("CancellationReasons", [])
            codes = [reason.get("Code") if reason.get("Code") not in (None, "None") else None for reason in reasons]
            if "ConditionalCheckFailed" in codes:
                items = {name: from_item(reason.get("Item")) for name, reason in zip(names, reasons, strict=False)}
                failed = {
                    name: items[name]
                    for name, reason_code in zip(names, codes, strict=False)
                    if reason_code == "ConditionalCheckFailed"
                }
                raise Cancelled(failed, items) from None
            if _BUSY_REASONS.intersection(filter(None, codes)):
                raise _Busy() from None
            raise _unavailable() from None
        if code == "TransactionConflictException":
            raise _Busy() from None
        raise _unavailable() from None
    except BotoCoreError:
        raise _unavailable() from None
