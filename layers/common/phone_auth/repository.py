"""Every DynamoDB call of the service, each stating its precondition.

The auth path never reads and then writes unconditionally: a check-then-write is one
conditional write (or one transaction), so concurrent requests cannot create a user twice,
use a code twice or go past an attempt limit. Callers get plain dicts and domain
exceptions; botocore's error shapes stay in this module.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from phone_auth import aws
from phone_auth.errors import ServiceUnavailable
from phone_auth.settings import get_settings

Item = dict[str, Any]
UserRequirement = Literal["exists", "can_register", "any"]


from phone_auth.store.marshalling import from_item, to_attr, to_item  # noqa: E402


def _values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: to_attr(v) for k, v in values.items()}


# ---------------------------------------------------------------- errors
class ConditionFailed(Exception):
    """A conditional write's precondition did not hold; `item` is the item as it was (or None)."""

    def __init__(self, item: Item | None) -> None:
        super().__init__("condition failed")
        self.item = item


class TransactionCancelled(Exception):
    """A transaction's condition failed; `reasons[i]` is (code or None, old item or None) per operation."""

    def __init__(self, reasons: list[tuple[str | None, Item | None]]) -> None:
        super().__init__("transaction cancelled")
        self.reasons = reasons


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(details={"dependency": "dynamodb"})


_CONFLICT_RETRY_DELAYS = (0.02, 0.05, 0.1)  # seconds, jittered; then 503
_BUSY_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}


class _Busy(Exception):
    """DynamoDB refused because another request held the item (or throttled): worth a retry."""


def _call(operation: str, **kwargs: Any) -> dict[str, Any]:
    """Run one DynamoDB operation; conditions become ConditionFailed / TransactionCancelled,
    infrastructure failures become ServiceUnavailable (503: the write did not happen).

    A transaction that collides with another one on the same item (real DynamoDB cancels
    it with TransactionConflict, where moto serialises) is retried a few times with jitter:
    the retry then sees the other request's result, e.g. a code already spent.
    """
    for delay in (*_CONFLICT_RETRY_DELAYS, None):
        try:
            return _call_once(operation, **kwargs)
        except _Busy:
            if delay is None:
                raise _unavailable() from None
            time.sleep(delay * (0.5 + secrets.randbelow(1000) / 1000))
    raise AssertionError("unreachable")  # pragma: no cover


def _call_once(operation: str, **kwargs: Any) -> dict[str, Any]:
    client = aws.dynamodb()
    try:
        response: dict[str, Any] = getattr(client, operation)(**kwargs)
        return response
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "ConditionalCheckFailedException":
            raise ConditionFailed(from_item(exc.response.get("Item"))) from None
        if code == "TransactionCanceledException":
            reasons = [
                (r.get("Code") if r.get("Code") not in (None, "None") else None, from_item(r.get("Item")))
                for r in exc.response.get("CancellationReasons", [])
            ]
            if any(reason == "ConditionalCheckFailed" for reason, _ in reasons):
                raise TransactionCancelled(reasons) from None
            if any(reason in _BUSY_REASONS for reason, _ in reasons):
                raise _Busy() from None
            raise _unavailable() from None
        if code == "TransactionConflictException":
            raise _Busy() from None
        raise _unavailable() from None
    except BotoCoreError:
        raise _unavailable() from None


# ---------------------------------------------------------------- users
def _users() -> str:
    return get_settings().users_table_name


def _otps() -> str:
    return get_settings().otp_table_name


def get_user(phone: str) -> Item | None:
    """Strongly consistent read of one user (one round trip)."""
    response = _call("get_item", TableName=_users(), Key={"phone": {"S": phone}}, ConsistentRead=True)
    return from_item(response.get("Item"))


def user_condition_check(phone: str, requirement: UserRequirement) -> dict[str, Any] | None:
    """A transaction ConditionCheck on the user, or None when nothing must hold."""
    if requirement == "any":
        return None
    condition = {
        "exists": "attribute_exists(phone)",
        "can_register": "attribute_not_exists(password_hash)",
    }[requirement]
    if requirement == "can_register" and get_settings().signup_mode == "imported":
        condition = "attribute_exists(phone) AND attribute_not_exists(password_hash)"
    return {
        "ConditionCheck": {
            "TableName": _users(),
            "Key": {"phone": {"S": phone}},
            "ConditionExpression": condition,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def login_update(
    phone: str,
    *,
    now_iso: str,
    proposed_user_id: str,
    must_exist: bool,
    verified: bool,
    extra_set: dict[str, Any] | None = None,
    bump_epoch: bool = False,
    condition: str | None = None,
    condition_values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The UpdateItem that records a successful sign-in, creating the user if it may.

    `id`, `first_login_id` and `created_at` are set only if absent (if_not_exists), so the
    first writer's values stick whatever the concurrency; the caller learns that this was
    the user's first sign-in by finding its proposed id as `first_login_id` afterwards.
    `verified` is true for sign-ins that proved possession of the phone (an SMS code).
    """
    names = {"#id": "id"}
    values: dict[str, Any] = {":id": proposed_user_id, ":now": now_iso, ":true": True}
    sets = [
        "#id = if_not_exists(#id, :id)",
        "first_login_id = if_not_exists(first_login_id, :id)",
        "created_at = if_not_exists(created_at, :now)",
        "is_active = :true",
        "last_login = :now",
        "updated_at = :now",
    ]
    if verified:
        sets.append("is_verified = :true")
    else:
        values[":false"] = False
        sets.append("is_verified = if_not_exists(is_verified, :false)")
    for index, (name, value) in enumerate((extra_set or {}).items()):
        names[f"#x{index}"] = name
        values[f":x{index}"] = value
        sets.append(f"#x{index} = :x{index}")
    values[":zero" if not bump_epoch else ":one"] = 0 if not bump_epoch else 1
    if bump_epoch:
        expression = "SET " + ", ".join(sets) + " ADD session_epoch :one"
    else:
        expression = "SET " + ", ".join([*sets, "session_epoch = if_not_exists(session_epoch, :zero)"])
    conditions = []
    if must_exist:
        conditions.append("attribute_exists(phone)")
    if condition:
        conditions.append(condition)
        values.update(condition_values or {})
    update: dict[str, Any] = {
        "TableName": _users(),
        "Key": {"phone": {"S": phone}},
        "UpdateExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": _values(values),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if conditions:
        update["ConditionExpression"] = " AND ".join(f"({c})" for c in conditions)
    return update


def update_user(update: dict[str, Any]) -> Item:
    """Run one user UpdateItem and return the item as it now is."""
    response = _call(
        "update_item", **{"ReturnValuesOnConditionCheckFailure": "ALL_OLD", **update}, ReturnValues="ALL_NEW"
    )
    item = from_item(response.get("Attributes"))
    assert item is not None
    return item


def end_sessions(phone: str, *, expected_epoch: int, now_iso: str) -> Item:
    """Logout: mark inactive and bump the session epoch, revoking every earlier token.

    Conditional on the epoch the caller's token carries, so a token revoked a moment ago
    cannot end the sessions that started after it.
    """
    return update_user(
        {
            "TableName": _users(),
            "Key": {"phone": {"S": phone}},
            "UpdateExpression": "SET is_active = :false, updated_at = :now ADD session_epoch :one",
            "ConditionExpression": "attribute_exists(phone) AND session_epoch = :epoch",
            "ExpressionAttributeValues": _values(
                {":false": False, ":now": now_iso, ":one": 1, ":epoch": expected_epoch}
            ),
        }
    )


def password_reset_update(phone: str, *, password_hash: str, now_iso: str) -> dict[str, Any]:
    """Set a new password and end every session (epoch bump); the phone is verified by the code."""
    return {
        "TableName": _users(),
        "Key": {"phone": {"S": phone}},
        "UpdateExpression": (
            "SET password_hash = :hash, password_changed_at = :now, updated_at = :now,"
            " is_active = :false, is_verified = :true ADD session_epoch :one"
        ),
        "ConditionExpression": "attribute_exists(phone)",
        "ExpressionAttributeValues": _values(
            {":hash": password_hash, ":now": now_iso, ":false": False, ":true": True, ":one": 1}
        ),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


# ---------------------------------------------------------------- one-time codes
@dataclass(frozen=True)
class NewCode:
    phone: str
    purpose: str
    code_id: str
    code_hash: str | None  # None for a decoy record (unknown phone asking for a reset)
    sent_at: int
    expires_at: int


def code_put(code: NewCode, *, resend_cutoff: int) -> dict[str, Any]:
    """Put a new code, replacing the previous one of that phone and purpose, unless one was
    sent after `resend_cutoff` and has not been used yet."""
    values = {
        "phone": code.phone,
        "purpose": code.purpose,
        "code_id": code.code_id,
        "sent_at": code.sent_at,
        "expires_at": code.expires_at,
        "attempts": 0,
    }
    if code.code_hash is not None:
        values["code_hash"] = code.code_hash
    return {
        "TableName": _otps(),
        "Item": to_item(values),
        "ConditionExpression": "attribute_not_exists(phone) OR sent_at <= :cutoff OR attribute_exists(used_at)",
        "ExpressionAttributeValues": _values({":cutoff": resend_cutoff}),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def put_code(put: dict[str, Any]) -> None:
    _call("put_item", **put)


def delete_code(phone: str, purpose: str, *, code_id: str) -> None:
    """Withdraw a code whose SMS could not be sent, so the user may ask again at once."""
    with contextlib.suppress(ConditionFailed):  # a newer code replaced it already
        _call(
            "delete_item",
            TableName=_otps(),
            Key={"phone": {"S": phone}, "purpose": {"S": purpose}},
            ConditionExpression="code_id = :cid",
            ExpressionAttributeValues=_values({":cid": code_id}),
        )


def code_consume(
    phone: str, purpose: str, *, code_hash: str, now: int, max_attempts: int, extra_set: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The Update that uses a code: it holds only if the hash matches, the code is unused,
    unexpired and has attempts left, all in the same atomic write."""
    sets = ["used_at = :now"]
    values: dict[str, Any] = {":hash": code_hash, ":now": now, ":max": max_attempts}
    for index, (name, value) in enumerate((extra_set or {}).items()):
        sets.append(f"{name} = :x{index}")
        values[f":x{index}"] = value
    return {
        "TableName": _otps(),
        "Key": {"phone": {"S": phone}, "purpose": {"S": purpose}},
        "UpdateExpression": "SET " + ", ".join(sets),
        "ConditionExpression": (
            "code_hash = :hash AND attribute_not_exists(used_at) AND expires_at > :now AND attempts < :max"
        ),
        "ExpressionAttributeValues": _values(values),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def run_update(update: dict[str, Any], return_values: str = "NONE") -> Item | None:
    response = _call("update_item", **update, ReturnValues=return_values)
    return from_item(response.get("Attributes"))


def count_wrong_attempt(phone: str, purpose: str, *, code_id: str, max_attempts: int, now: int) -> int:
    """Atomically count one wrong guess against this very code (not a newer one).

    Returns the attempts made so far; raises ConditionFailed when the code was already
    exhausted, used, replaced or expired, so no guess is ever counted past the limit.
    """
    item = run_update(
        {
            "TableName": _otps(),
            "Key": {"phone": {"S": phone}, "purpose": {"S": purpose}},
            "UpdateExpression": "ADD attempts :one",
            "ConditionExpression": (
                "code_id = :cid AND attempts < :max AND attribute_not_exists(used_at) AND expires_at > :now"
            ),
            "ExpressionAttributeValues": _values({":one": 1, ":cid": code_id, ":max": max_attempts, ":now": now}),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
        return_values="UPDATED_NEW",
    )
    return int((item or {}).get("attempts", max_attempts))


def registration_token_use(phone: str, *, token_hash: str, now: int) -> dict[str, Any]:
    """The Update that spends a registration token: bound to the phone and the registration
    purpose by the key, single use by the condition."""
    return {
        "TableName": _otps(),
        "Key": {"phone": {"S": phone}, "purpose": {"S": "registration"}},
        "UpdateExpression": "SET registration_token_used_at = :now",
        "ConditionExpression": (
            "registration_token_hash = :hash AND registration_token_expires_at > :now"
            " AND attribute_not_exists(registration_token_used_at)"
        ),
        "ExpressionAttributeValues": _values({":hash": token_hash, ":now": now}),
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


def transact(operations: list[dict[str, Any]]) -> None:
    """All or nothing: each operation is {"Put"|"Update"|"ConditionCheck": {...}}."""
    cleaned = []
    for op in operations:
        ((kind, body),) = op.items()
        body = dict(body)
        body.pop("ReturnValues", None)
        cleaned.append({kind: body})
    _call("transact_write_items", TransactItems=cleaned)


# ---------------------------------------------------------------- back-office import (devtools/import_users.py)
# The importer names its table and brings its own client (profile, region, endpoint and
# patient retries of an operator's run), so these take both instead of using the settings.
class ImportStoreError(Exception):
    """A DynamoDB failure during an import. `fatal` ones (no table, no access, no network)
    stop the run; the others (e.g. an item DynamoDB refuses) concern one row only."""

    def __init__(self, code: str, message: str, *, fatal: bool) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.detail = message
        self.fatal = fatal


_IMPORT_ROW_ERRORS = frozenset({"ValidationException", "ItemCollectionSizeLimitExceededException"})
BATCH_GET_MAX_KEYS = 100


def _import_call(client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response: dict[str, Any] = getattr(client, operation)(**kwargs)
        return response
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "ClientError"))
        if code == "ConditionalCheckFailedException":
            raise ConditionFailed(from_item(exc.response.get("Item"))) from None
        if code == "ResourceNotFoundException":
            raise ImportStoreError(code, f"table {kwargs.get('TableName', '')!s} does not exist", fatal=True) from None
        raise ImportStoreError(code, str(error.get("Message", "")), fatal=code not in _IMPORT_ROW_ERRORS) from None
    except BotoCoreError as exc:
        raise ImportStoreError(type(exc).__name__, str(exc), fatal=True) from None


def probe_users_table(table_name: str, *, client: Any) -> None:
    """Fail fast (ImportStoreError, fatal) when the table is missing, unreachable, not ours
    (another key schema) or not readable, before any row is read: one GetItem of a key no
    user can have."""
    try:
        _import_call(client, "get_item", TableName=table_name, Key={"phone": {"S": "+0"}})
    except ImportStoreError as exc:
        raise ImportStoreError(exc.code, exc.detail, fatal=True) from None


def batch_get_users(
    table_name: str,
    phones: list[str],
    *,
    client: Any,
    max_rounds: int = 8,
    sleep: Any = None,
) -> dict[str, Item]:
    """Strongly consistent BatchGetItem of up to 100 users; {phone: item} for those that exist.

    Keys DynamoDB leaves unprocessed (throttling) are asked again with a growing pause.
    """
    if len(phones) > BATCH_GET_MAX_KEYS:
        raise ValueError(f"at most {BATCH_GET_MAX_KEYS} keys per BatchGetItem")
    pause = sleep or time.sleep
    found: dict[str, Item] = {}
    keys = [{"phone": {"S": phone}} for phone in dict.fromkeys(phones)]
    for attempt in range(max_rounds):
        if not keys:
            return found
        response = _import_call(
            client, "batch_get_item", RequestItems={table_name: {"Keys": keys, "ConsistentRead": True}}
        )
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


def create_imported_user(table_name: str, item: Item, *, client: Any) -> None:
    """Put a new user only if the phone is still free (ConditionFailed if someone signed
    up or was imported meanwhile)."""
    _import_call(
        client,
        "put_item",
        TableName=table_name,
        Item=to_item(item),
        ConditionExpression="attribute_not_exists(phone)",
    )


def update_imported_user(
    table_name: str,
    phone: str,
    *,
    now_iso: str,
    profile_fields: dict[str, str] | None = None,
    profile_exists: bool = True,
    password_hash: str | None = None,
    client: Any,
) -> None:
    """Update an existing user from the back office's file, conditionally:

    - the user must still exist (an update never creates a half user);
    - `password_hash` is set only if the user still has none (a user who registers while
      the import runs keeps the password they chose);
    - `profile_fields` are set one by one inside the existing profile map (concurrent
      imports never drop each other's fields) or, if the caller saw no profile, as a new map
      only if there still is none.
    ConditionFailed tells the caller to re-read the user and recompute the row.
    """
    names: dict[str, str] = {}
    values: dict[str, Any] = {":now": now_iso}
    sets = ["updated_at = :now"]
    conditions = ["attribute_exists(phone)"]
    fields = profile_fields or {}
    if fields and profile_exists:
        for index, (name, value) in enumerate(fields.items()):
            names[f"#p{index}"] = name
            values[f":p{index}"] = value
            sets.append(f"profile.#p{index} = :p{index}")
        conditions.append("attribute_type(profile, :map)")
        values[":map"] = "M"
    elif fields:
        values[":profile"] = dict(fields)
        sets.append("profile = :profile")
        conditions.append("attribute_not_exists(profile)")
    if password_hash is not None:
        values[":hash"] = password_hash
        sets.append("password_hash = :hash")
        conditions.append("attribute_not_exists(password_hash)")
    if len(sets) == 1:
        raise ValueError("nothing to update")
    update: dict[str, Any] = {
        "TableName": table_name,
        "Key": {"phone": {"S": phone}},
        "UpdateExpression": "SET " + ", ".join(sets),
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeValues": _values(values),
    }
    if names:
        update["ExpressionAttributeNames"] = names
    _import_call(client, "update_item", **update)
