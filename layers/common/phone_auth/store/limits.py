"""The limits table: fixed-window counters and locks, each an item with a TTL.

A counter is one item per subject and window (``sms_per_phone_per_hour#+66812345678#493333``):
it is raised by one conditional update that holds only while it is below its limit, so
concurrent requests can never go past it. A lock (``otp_lock#<phone>``, ``password_lock#<phone>``)
holds ``locked_until``; a step checks it with a ConditionCheck. Counters and lock checks ride
in the write or transaction the step makes anyway (see ``codes`` and ``users``), so a limit
costs no extra round trip on the success path; a refused step writes nothing at all.

The windows are fixed (an hour, a day), so a client may use a window's budget at its very
end and the next window's at once: at most twice the limit over any such span.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Any

from phone_auth.settings import get_settings
from phone_auth.store.calls import ConditionFailed, call
from phone_auth.store.marshalling import Item, from_item, to_values

HOUR = 3600
DAY = 86400


def table() -> str:
    return get_settings().limits_table_name


def key(item_id: str) -> dict[str, Any]:
    return {"id": {"S": item_id}}


@dataclass(frozen=True)
class Counter:
    """One limit applied to one subject: ``name`` is the limit (e.g. ``sms_per_phone_per_hour``)."""

    name: str
    subject: str
    limit: int  # 0: no limit, the counter only counts (failures, whose count sets a lock's length)
    window: int  # seconds

    def item_id(self, now: int) -> str:
        return f"{self.name}#{self.subject}#{now // self.window}"

    def window_end(self, now: int) -> int:
        return (now // self.window + 1) * self.window

    def update(self, now: int) -> dict[str, Any]:
        """The Update that counts one more, only while below the limit (transaction operation)."""
        update: dict[str, Any] = {
            "TableName": table(),
            "Key": key(self.item_id(now)),
            "UpdateExpression": "ADD hits :one SET expires_at = if_not_exists(expires_at, :end)",
            "ExpressionAttributeValues": to_values({":one": 1, ":end": self.window_end(now)}),
        }
        if self.limit:
            update["ConditionExpression"] = "attribute_not_exists(hits) OR hits < :limit"
            update["ExpressionAttributeValues"][":limit"] = {"N": str(self.limit)}
        return update


@dataclass(frozen=True)
class Lock:
    """A lock on a phone: while ``locked_until`` is ahead, the guarded step is refused."""

    name: str  # otp_lock | password_lock
    subject: str  # a phone (the ceiling for untrusted clients), phone#network or phone#device:<id>

    @property
    def item_id(self) -> str:
        return f"{self.name}#{self.subject}"

    def check(self, now: int) -> dict[str, Any]:
        """The ConditionCheck that holds only while the lock is open (transaction operation)."""
        return {
            "TableName": table(),
            "Key": key(self.item_id),
            "ConditionExpression": "attribute_not_exists(locked_until) OR locked_until <= :now",
            "ExpressionAttributeValues": to_values({":now": now}),
        }


@dataclass(frozen=True)
class Guards:
    """The counters one step raises and the locks it checks, in its own write or transaction;
    ``clears``: items it deletes when it succeeds (a lock and its failures, once that is safe)."""

    counters: tuple[Counter, ...] = ()
    locks: tuple[Lock, ...] = ()
    clears: tuple[str, ...] = ()

    def operations(self, now: int) -> dict[str, dict[str, Any]]:
        operations: dict[str, dict[str, Any]] = {}
        for counter in self.counters:
            operations[f"counter:{counter.name}"] = {"Update": counter.update(now)}
        for lock in self.locks:
            operations[f"lock:{lock.item_id}"] = {"ConditionCheck": lock.check(now)}
        for item_id in self.clears:
            operations[f"clear:{item_id}"] = {"Delete": {"TableName": table(), "Key": key(item_id)}}
        return operations

    def without(self, name: str) -> Guards:
        """These guards without the counter ``name``."""
        return replace(self, counters=tuple(counter for counter in self.counters if counter.name != name))

    def with_counter(self, counter: Counter) -> Guards:
        """These guards with ``counter`` in place of the counter of the same name."""
        return replace(self, counters=(*self.without(counter.name).counters, counter))

    def only_counter_failed(self, name: str, failed: dict[str, Item | None]) -> bool:
        """Whether, of these guards, only the counter ``name`` refused (``failed``: a Cancelled's)."""
        refused = {operation for operation in failed if operation.startswith(("counter:", "lock:"))}
        return refused == {f"counter:{name}"}

    def refusal(self, failed: dict[str, Item | None], now: int) -> LimitRefusal | None:
        """What refused the step, if a guard did: a lock first, else the limit to wait longest for."""
        for lock in self.locks:
            if f"lock:{lock.item_id}" in failed:
                until = int((failed[f"lock:{lock.item_id}"] or {}).get("locked_until", now + 1))
                return LimitRefusal(lock.name, until)
        reached = [counter for counter in self.counters if f"counter:{counter.name}" in failed]
        if not reached:
            return None
        longest = max(reached, key=lambda counter: counter.window_end(now))
        return LimitRefusal(longest.name, longest.window_end(now))


class LimitRefusal(Exception):
    """A guard refused the step: ``name`` is the limit or lock, ``until`` when it opens again."""

    def __init__(self, name: str, until: int) -> None:
        super().__init__(name)
        self.name = name
        self.until = until


def count(counter: Counter, now: int) -> int:
    """Raise a counter on its own (one conditional UpdateItem); return its new value.

    Raises LimitRefusal when it is at its limit already.
    """
    try:
        response = call("update_item", **counter.update(now), ReturnValues="UPDATED_NEW")
    except ConditionFailed:
        raise LimitRefusal(counter.name, counter.window_end(now)) from None
    return int((from_item(response.get("Attributes")) or {}).get("hits", 0))


def lock_until(lock: Lock, until: int) -> None:
    """Close ``lock`` until ``until`` (one conditional UpdateItem; never shortens a lock)."""
    with contextlib.suppress(ConditionFailed):  # a longer lock is in place already
        call(
            "update_item",
            TableName=table(),
            Key=key(lock.item_id),
            UpdateExpression="SET locked_until = :until, expires_at = :until",
            ConditionExpression="attribute_not_exists(locked_until) OR locked_until < :until",
            ExpressionAttributeValues=to_values({":until": until}),
        )


def values_from(
    items: dict[str, Item], counters: list[Counter], locks: list[Lock], now: int
) -> tuple[dict[str, int], dict[str, int]]:
    """Counter values by name and ``locked_until`` by lock item id, out of items read by id."""
    hits = {c.name: int(items.get(c.item_id(now), {}).get("hits", 0)) for c in counters}
    until = {lock.item_id: int(items.get(lock.item_id, {}).get("locked_until", 0)) for lock in locks}
    return hits, until
