"""Lifecycle events: what each change of a user item means to the rest of the product.

The users table's stream (NEW_AND_OLD_IMAGES) reaches one function, publish_events, which
turns each change into events on EventBridge (``source`` phone-auth), at least once:

- INSERT without ``previous_phone``: ``UserCreated`` (a first sign-in in open sign-up, an import);
- INSERT with ``previous_phone``: ``PhoneChanged`` (``old_phone``) and ``SessionsEnded``
  (``reason`` phone_change);
- MODIFY that moves ``session_epoch`` on: ``SessionsEnded``, with the ``reason`` the writing
  operation recorded on the item (logout, password_reset, ...);
- REMOVE with an erasure marker at the item's session epoch: ``UserDeleted``; a REMOVE without
  one is the old half of a number change, and publishes nothing.

Every ``detail`` has ``event_id`` (derived from the stream record and the detail type, so a
retried batch republishes the same ids and consumers de-duplicate on them), ``user_id``,
``market``, ``phone`` (E.164), ``occurred_at`` (ISO 8601 UTC: the write's own time), and
``old_phone`` or ``reason`` where they matter; never a code, hash or token. Any other write
(a sign-in, a refresh, a session ended) publishes nothing. No sign-in waits for any of this.
"""

from __future__ import annotations

import uuid
from typing import Any

from phone_auth import clock, event_bus
from phone_auth.event_bus import LifecycleEvent
from phone_auth.observability import logger
from phone_auth.settings import get_settings
from phone_auth.store import accounts
from phone_auth.store.changes import UserChange
from phone_auth.store.marshalling import Item

#: The namespace of event ids (uuid5 of the stream record's id and the detail type): never change it.
_EVENT_IDS = uuid.UUID("6f1c9a52-3d0b-4e7f-a5c8-2b9d4e1f7a36")
#: What a MODIFY that ended every session says when the writer recorded no reason.
UNKNOWN_REASON = "unspecified"


def _event(change: UserChange, detail_type: str, item: Item, occurred_at: str, **extra: Any) -> LifecycleEvent:
    detail = {
        "event_id": str(uuid.uuid5(_EVENT_IDS, f"{change.record_id}/{detail_type}")),
        "user_id": str(item["id"]),
        "market": get_settings().market,
        "phone": str(item["phone"]),
        "occurred_at": occurred_at,
        **extra,
    }
    return LifecycleEvent(detail_type=detail_type, detail=detail)


def _when(change: UserChange, stamp: Any) -> str:
    """The write's own time as it stored it, else DynamoDB's approximate time of the record."""
    if isinstance(stamp, str) and stamp:
        return stamp
    return clock.iso(change.approximate_time if change.approximate_time is not None else clock.now())


def events_of(change: UserChange, erasures: dict[str, accounts.Erasure]) -> list[LifecycleEvent]:
    """The events one change means (none for most writes)."""
    old, new = change.old or {}, change.new or {}
    if change.kind == "INSERT":
        if "id" not in new:
            logger.warning("a user item without an id was written", extra={"record": change.record_id})
            return []
        when = _when(change, new.get("updated_at"))
        if not new.get("previous_phone"):
            return [_event(change, "UserCreated", new, when)]
        return [
            _event(change, "PhoneChanged", new, when, old_phone=str(new["previous_phone"])),
            _event(change, "SessionsEnded", new, when, reason="phone_change"),
        ]
    if change.kind == "MODIFY":
        if "id" in new and int(new.get("session_epoch", 0)) > int(old.get("session_epoch", 0)):
            reason = str(new.get("sessions_ended_reason") or UNKNOWN_REASON)
            return [_event(change, "SessionsEnded", new, _when(change, new.get("updated_at")), reason=reason)]
        return []
    erasure = erasures.get(str(old.get("id")))
    if "id" in old and erasure is not None and erasure.session_epoch == int(old.get("session_epoch", 0)):
        return [_event(change, "UserDeleted", old, _when(change, erasure.erased_at))]
    return []


def publish_changes(records: list[dict[str, Any]]) -> int:
    """Publish the events of a batch of the users table's stream records; how many.

    One BatchGetItem of the erasure markers when the batch removes items, then PutEvents per
    ten events. Raises when an event was not published, so Lambda retries the batch (halving
    it on each failure) and finally sends it to the failure destination.
    """
    changes = [UserChange.from_record(record) for record in records]
    removed = {
        str((change.old or {})["id"]) for change in changes if change.kind == "REMOVE" and "id" in (change.old or {})
    }
    erasures = accounts.erasures(removed) if removed else {}
    events = [event for change in changes for event in events_of(change, erasures)]
    if events:
        event_bus.publish(events)
    logger.info("lifecycle events published", extra={"records": len(changes), "events": len(events)})
    return len(events)
