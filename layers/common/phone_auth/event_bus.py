"""Lifecycle events out to Amazon EventBridge: PutEvents on EVENT_BUS_NAME, ``source`` phone-auth.

``publish`` sends the events in PutEvents' chunks of ten and raises when any entry was not
taken (a partial failure), so the stream batch that produced them is retried whole: an
event may then reach the bus twice, with the same ``event_id`` in its detail, which is what
consumers de-duplicate on. Nothing here logs a detail: it holds phone numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import batched
from typing import Any

from phone_auth import aws
from phone_auth.errors import ServiceUnavailable
from phone_auth.observability import logger, metrics
from phone_auth.settings import get_settings

SOURCE = "phone-auth"
#: PutEvents takes at most this many entries per call.
ENTRIES_PER_CALL = 10


@dataclass(frozen=True)
class LifecycleEvent:
    """One event: its ``detail-type`` (UserCreated, PhoneChanged, UserDeleted, SessionsEnded) and
    its ``detail``, whose ``occurred_at`` (ISO 8601 UTC) is also EventBridge's ``time``."""

    detail_type: str
    detail: dict[str, Any]


class EventsNotPublished(Exception):
    """EventBridge did not take some entries: the batch must be retried (Lambda's event source does)."""

    def __init__(self, failed: int, codes: list[str]) -> None:
        super().__init__(f"{failed} lifecycle events not published ({', '.join(sorted(set(codes)))})")


def _entry(event: LifecycleEvent, bus: str) -> dict[str, Any]:
    return {
        "Source": SOURCE,
        "DetailType": event.detail_type,
        "Detail": json.dumps(event.detail, separators=(",", ":"), sort_keys=True),
        "EventBusName": bus,
        "Time": datetime.fromisoformat(str(event.detail["occurred_at"]).replace("Z", "+00:00")),
    }


def publish(events: Sequence[LifecycleEvent]) -> None:
    """PutEvents for ``events``, ten per call; EventsNotPublished when an entry failed,
    ServiceUnavailable when EventBridge did not answer."""
    from botocore.exceptions import BotoCoreError, ClientError

    bus = get_settings().event_bus_name
    for chunk in batched(events, ENTRIES_PER_CALL, strict=False):
        aws.ensure_time_for(aws.EVENTBRIDGE.worst_case_seconds(), "events")
        try:
            response = aws.events().put_events(Entries=[_entry(event, bus) for event in chunk])
        except (BotoCoreError, ClientError) as exc:
            logger.warning("lifecycle events not published", extra={"reason": type(exc).__name__})
            raise ServiceUnavailable(details={"dependency": "events"}) from None
        failed = [entry.get("ErrorCode") or "?" for entry in response.get("Entries", []) if "EventId" not in entry]
        if response.get("FailedEntryCount") or failed:
            logger.warning("lifecycle events refused", extra={"failed": len(failed), "codes": sorted(set(failed))})
            raise EventsNotPublished(len(failed) or int(response["FailedEntryCount"]), failed)
        metrics.count("EventsPublished", len(chunk))
