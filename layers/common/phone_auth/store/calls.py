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
- A BatchGetItem (``batch_get``) is read whole or not at all: keys DynamoDB leaves unprocessed
  (it throttled part of the batch) are asked again after an exponential backoff with full
  jitter, while the invocation's deadline leaves room for the wait and another call; then the
  answer is ``ServiceUnavailable``. An unprocessed key is never read as an absent item: an
  unread lock is not an open lock, an unread user not an unknown phone.

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
#: Unprocessed keys of a BatchGetItem: retry n (from 0) waits a random time between 0 and
#: UNPROCESSED_BASE_SECONDS * 2 ** n (full jitter), at most UNPROCESSED_RETRIES times: 0.75 s of
#: waiting at most, within the margin every function's Timeout keeps (template.yaml).
UNPROCESSED_BASE_SECONDS = 0.05
UNPROCESSED_RETRIES = 4


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


def batch_get(request: dict[str, dict[str, Any]]) -> dict[str, list[Item]]:
    """Every item that exists among the keys ``request`` names (BatchGetItem's RequestItems), by
    table: one BatchGetItem, and more only for keys DynamoDB left unprocessed.

    Each retry waits rand(0, base * 2 ** n) first and is made only while the invocation's deadline
    leaves room for that wait and a whole call; keys still unprocessed after the last retry (or
    when time runs out) make the read ``ServiceUnavailable`` (503), never an absent item.
    """
    found: dict[str, list[Item]] = {table: [] for table in request}
    pending = request
    for retry in range(UNPROCESSED_RETRIES + 1):
        if retry:
            wait = UNPROCESSED_BASE_SECONDS * (1 << (retry - 1)) * secrets.randbelow(1001) / 1000
            ensure_time_for(wait + DYNAMODB.worst_case_seconds(), "dynamodb")
            time.sleep(wait)
        response = call("batch_get_item", RequestItems=pending)
        for table, items in response.get("Responses", {}).items():
            found.setdefault(table, []).extend(item for item in map(from_item, items) if item is not None)
        pending = response.get("UnprocessedKeys") or {}
        if not pending:
            return found
    raise _unavailable()


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
