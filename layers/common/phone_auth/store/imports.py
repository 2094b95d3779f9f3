"""An import run's DynamoDB calls, on the client and table it is given.

An import names its table and brings its own client: ``make import`` an operator's (profile,
region, endpoint, patient retries), the import function the container's
(``phone_auth.aws.import_dynamodb``). Nothing here reads the Lambda settings.
Attribute values are made by ``phone_auth.store.marshalling``, new users are
``UserRecord``s: the importer stores exactly the shape sign-in reads.

Errors: ``ConditionFailed`` (a conditional write's precondition no longer holds: re-read
the user and compute the row again) and ``ImportStoreError`` (``fatal`` stops the run,
otherwise it concerns one row).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from phone_auth.store import back_office
from phone_auth.store.marshalling import Item, from_item, to_attr
from phone_auth.store.records import UserRecord

BATCH_GET_MAX_KEYS = 100
WRITE_WORKERS = 8  # the write pool's threads; the client keeps twice as many connections
_ROW_ERRORS = frozenset({"ValidationException", "ItemCollectionSizeLimitExceededException"})


class ConditionFailed(Exception):
    """A conditional write found the user changed since it was read."""


class ImportStoreError(Exception):
    """A DynamoDB failure during an import. `fatal` ones (no table, no access, no network)
    stop the run; the others (e.g. an item DynamoDB refuses) concern one row only."""

    def __init__(self, code: str, message: str, *, fatal: bool) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.detail = message
        self.fatal = fatal


def _call(client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response: dict[str, Any] = getattr(client, operation)(**kwargs)
        return response
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "ClientError"))
        if code == "ConditionalCheckFailedException":
            raise ConditionFailed() from None
        if code == "ResourceNotFoundException":
            raise ImportStoreError(code, f"table {kwargs.get('TableName', '')!s} does not exist", fatal=True) from None
        raise ImportStoreError(code, str(error.get("Message", "")), fatal=code not in _ROW_ERRORS) from None
    except BotoCoreError as exc:
        raise ImportStoreError(type(exc).__name__, str(exc), fatal=True) from None


def _key(phone: str) -> dict[str, Any]:
    return {"phone": to_attr(phone)}


def probe_users_table(table_name: str, *, client: Any) -> None:
    """Fail fast (ImportStoreError, fatal) when the table is missing, unreachable, not ours
    (another key schema) or not readable, before any row is read: one GetItem of a key no
    user can have."""
    try:
        _call(client, "get_item", TableName=table_name, Key=_key("+0"))
    except ImportStoreError as exc:
        raise ImportStoreError(exc.code, exc.detail, fatal=True) from None


def batch_get_users(
    table_name: str,
    phones: list[str],
    *,
    client: Any,
    max_rounds: int = 8,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Item]:
    """Strongly consistent BatchGetItem of up to 100 users; {phone: item} for those that exist.

    Keys DynamoDB leaves unprocessed (throttling) are asked again with a growing pause.
    """
    if len(phones) > BATCH_GET_MAX_KEYS:
        raise ValueError(f"at most {BATCH_GET_MAX_KEYS} keys per BatchGetItem")
    pause = sleep or time.sleep
    found: dict[str, Item] = {}
    keys = [_key(phone) for phone in dict.fromkeys(phones)]
    for attempt in range(max_rounds):
        if not keys:
            return found
        response = _call(client, "batch_get_item", RequestItems={table_name: {"Keys": keys, "ConsistentRead": True}})
        for raw in response.get("Responses", {}).get(table_name, []):
            item = from_item(raw)
            if item is not None:
                found[str(item["phone"])] = item
        keys = response.get("UnprocessedKeys", {}).get(table_name, {}).get("Keys", [])
        if keys:
            pause(min(5.0, 0.05 * 2**attempt))
    if keys:
        raise ImportStoreError("UnprocessedKeys", f"{len(keys)} keys still unprocessed", fatal=True)
    return found


def create_user(table_name: str, record: UserRecord, *, client: Any) -> None:
    """Put a new user only if the phone is still free (ConditionFailed if someone signed
    up or was imported meanwhile): ``phone_auth.back_office.create_request``."""
    _call(client, "put_item", **back_office.create_request(table_name, record))


def update_user(
    table_name: str,
    phone: str,
    *,
    now_iso: str,
    profile_fields: dict[str, str] | None = None,
    profile_exists: bool = True,
    password_hash: str | None = None,
    client: Any,
) -> None:
    """Update an existing user from the back office's file, conditionally
    (``phone_auth.back_office.update_request`` says what holds). ConditionFailed tells the
    caller to re-read the user and compute the row again."""
    update = back_office.update_request(
        table_name,
        phone,
        now_iso=now_iso,
        profile_fields=profile_fields,
        profile_exists=profile_exists,
        password_hash=password_hash,
    )
    _call(client, "update_item", **update)
