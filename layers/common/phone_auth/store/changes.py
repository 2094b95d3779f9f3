"""The users table's stream: what one change record says about a user.

Lambda hands the publisher of lifecycle events the stream's records as DynamoDB wrote them
(``NEW_AND_OLD_IMAGES``: the item before and after, in attribute values); ``UserChange`` reads
one into plain values. A record that is not a change of the users table's items is refused
with ValueError, so a misrouted event source fails loudly rather than publishing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from phone_auth.store.marshalling import Item, from_item

ChangeKind = Literal["INSERT", "MODIFY", "REMOVE"]
_KINDS: tuple[ChangeKind, ...] = ("INSERT", "MODIFY", "REMOVE")


@dataclass(frozen=True)
class UserChange:
    """One write to one user item: ``old`` and ``new`` are the item before and after (None where
    there is none), ``record_id`` is the stream record's eventID (the same when a batch is
    retried), ``approximate_time`` DynamoDB's time of the write (epoch seconds)."""

    record_id: str
    kind: ChangeKind
    old: Item | None
    new: Item | None
    approximate_time: float | None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> UserChange:
        stream = record.get("dynamodb")
        kind = record.get("eventName")
        if record.get("eventSource") != "aws:dynamodb" or not isinstance(stream, dict) or kind not in _KINDS:
            raise ValueError("not a DynamoDB stream record")
        if stream.get("StreamViewType", "NEW_AND_OLD_IMAGES") != "NEW_AND_OLD_IMAGES":
            raise ValueError("the users table's stream must carry NEW_AND_OLD_IMAGES")
        when = stream.get("ApproximateCreationDateTime")
        return cls(
            record_id=str(record["eventID"]),
            kind=kind,
            old=from_item(stream.get("OldImage")),
            new=from_item(stream.get("NewImage")),
            approximate_time=float(when) if isinstance(when, int | float) else None,
        )
