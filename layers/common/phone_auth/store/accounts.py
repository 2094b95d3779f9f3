"""Erasing an account: the user item, the phone's items in the codes table, and a marker.

``erase_user`` is the one write behind DELETE /auth/me (and the back office's erasure when it
comes): the user item with every session goes, and so does every item the phone has in the
codes table (live codes of every purpose, the registration token, number changes claiming
the phone). Rate-limit counters and locks stay until their TTL, so an erasure never resets a
lock. In the same transaction it puts an erasure marker ``erased#<user id>`` in the limits
table (TTL ``MARKER_SECONDS``; it holds no phone), which tells the lifecycle events that a
REMOVE on the users table's stream was an erasure and not the old half of a number change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from phone_auth.store import codes, limits, users
from phone_auth.store.calls import Cancelled, batch_get, call, transact
from phone_auth.store.marshalling import to_item, to_values
from phone_auth.store.refusals import UserMissing

#: How long an erasure marker stays: longer than a stream record can wait for its retries.
MARKER_SECONDS = 3 * 86400
#: A transaction holds at most 100 items: the user, the marker and the phone's codes.
_CODES_PER_TRANSACTION = 98
MARKER_PREFIX = "erased#"


def marker_id(user_id: str) -> str:
    return f"{MARKER_PREFIX}{user_id}"


def erase_user(phone: str, user_id: str, *, session_epoch: int, now: int, now_iso: str) -> None:
    """Delete the user ``user_id`` at ``phone`` and every item of the phone in the codes table,
    and put the erasure marker (which records ``session_epoch``).

    Two round trips: a consistent Query of the phone's code items, then one transaction. The
    user's Delete holds only while the item at ``phone`` is that user at that session epoch
    (else UserMissing: erased already, moved, logged out everywhere, or another user). The code
    items go unconditionally: a code sent in between replaces an item with the same key. Should
    a phone ever hold more items than a transaction takes, the rest go one by one after it.
    """
    keys = codes.keys_of_phone(phone)
    values: dict[str, Any] = {":id": user_id, ":epoch": session_epoch}
    epoch = "session_epoch = :epoch"
    if session_epoch == 0:
        epoch = f"(attribute_not_exists(session_epoch) OR {epoch})"
    operations: dict[str, dict[str, Any]] = {
        "user": {
            "Delete": {
                "TableName": users.table(),
                "Key": users.key(phone),
                "ConditionExpression": f"attribute_exists(phone) AND #id = :id AND {epoch}",
                "ExpressionAttributeNames": {"#id": "id"},
                "ExpressionAttributeValues": to_values(values),
            }
        },
        "marker": {
            "Put": {
                "TableName": limits.table(),
                "Item": to_item(
                    {
                        "id": marker_id(user_id),
                        "session_epoch": session_epoch,
                        "erased_at": now_iso,
                        "expires_at": now + MARKER_SECONDS,
                    }
                ),
            }
        },
    }
    for index, code_key in enumerate(keys[:_CODES_PER_TRANSACTION]):
        operations[f"code:{index}"] = {"Delete": {"TableName": codes.table(), "Key": code_key}}
    try:
        transact(operations)
    except Cancelled:
        raise UserMissing() from None
    for code_key in keys[_CODES_PER_TRANSACTION:]:
        call("delete_item", TableName=codes.table(), Key=code_key)


@dataclass(frozen=True)
class Erasure:
    """An erasure marker: the session epoch the erased item had, and when it was erased (ISO)."""

    session_epoch: int
    erased_at: str


def erasures(user_ids: set[str]) -> dict[str, Erasure]:
    """User id -> its erasure, for those of ``user_ids`` erased in the last ``MARKER_SECONDS``:
    one strongly consistent BatchGetItem (per 100 ids)."""
    found: dict[str, Erasure] = {}
    ids = sorted(user_ids)
    for start in range(0, len(ids), 100):
        request: dict[str, Any] = {
            limits.table(): {
                "Keys": [limits.key(marker_id(user_id)) for user_id in ids[start : start + 100]],
                "ConsistentRead": True,
            }
        }
        for item in batch_get(request)[limits.table()]:
            erasure = Erasure(int(item.get("session_epoch", 0)), str(item.get("erased_at", "")))
            found[str(item["id"]).removeprefix(MARKER_PREFIX)] = erasure
    return found
