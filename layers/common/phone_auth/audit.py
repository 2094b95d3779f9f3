"""The admin API's audit trail: one structured line per call, and an ``AdminAction`` event.

``phone_auth.api.admin.admin_endpoint`` opens an ``AuditEntry`` for each call (who: the IAM
principal; what: the action; the request id), the back office's flows name the user they
act on (``note_user``), and when the call is answered the endpoint closes it:

- one log line, message ``admin action``, whose ``audit`` key holds ``principal_arn``,
  ``action``, ``phone`` (masked), ``user_id``, ``status``, ``outcome`` (``ok`` or the error
  code) and ``request_id``; never a hash, a password or a full phone;
- for an action that changes something (every route but the reads), an ``AdminAction`` event
  on the lifecycle bus, published directly (PutEvents) after the write: its detail has
  ``event_id``, ``principal_arn``, ``action``, ``user_id``, ``market``, ``phone`` (E.164, as
  every lifecycle event carries it: the bus is one only our own services read, docs/api.md),
  ``outcome`` and ``occurred_at``. An admin call is no sign-in, so it may wait for one
  PutEvents; an EventBridge failure is logged and counted (AdminEventFailures) and never
  fails the call, whose audit line stands as the record.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from phone_auth import clock, event_bus
from phone_auth.event_bus import LifecycleEvent
from phone_auth.observability import logger, metrics
from phone_auth.phones import mask_phone
from phone_auth.settings import get_settings

ADMIN_ACTION = "AdminAction"


@dataclass
class AuditEntry:
    """One admin call as the audit trail records it (filled in while the call runs)."""

    action: str
    principal_arn: str
    request_id: str
    changes: bool
    phone: str | None = None  # E.164 once known; only ever logged masked
    user_id: str | None = None
    import_id: str | None = None
    status: int = 0
    outcome: str = ""

    def log_fields(self) -> dict[str, object]:
        return {
            "principal_arn": self.principal_arn,
            "action": self.action,
            "phone": mask_phone(self.phone) if self.phone else None,
            "user_id": self.user_id,
            "import_id": self.import_id,
            "status": self.status,
            "outcome": self.outcome,
            "request_id": self.request_id,
        }


_current: ContextVar[AuditEntry | None] = ContextVar("admin_audit", default=None)


def begin(entry: AuditEntry) -> None:
    _current.set(entry)


def note_user(phone: str, user_id: str | None = None) -> None:
    """The user the running admin call acts on (its E.164 phone, and its id once known)."""
    entry = _current.get()
    if entry is not None:
        entry.phone = phone
        entry.user_id = user_id or entry.user_id


def note_import(import_id: str) -> None:
    """The import job the running admin call starts or reads."""
    entry = _current.get()
    if entry is not None:
        entry.import_id = import_id


def finish(status: int, outcome: str) -> AuditEntry | None:
    """Close the running call's entry: write its audit line and, for a change, publish its event."""
    entry = _current.get()
    _current.set(None)
    if entry is None:
        return None
    entry.status, entry.outcome = status, outcome
    logger.info("admin action", extra={"audit": entry.log_fields()})
    metrics.count("AdminActions", action=entry.action)
    if entry.changes and status < 500:
        _publish(entry)
    return entry


def _publish(entry: AuditEntry) -> None:
    detail = {
        "event_id": str(uuid.uuid4()),
        "principal_arn": entry.principal_arn,
        "action": entry.action,
        "user_id": entry.user_id,
        "import_id": entry.import_id,
        "market": get_settings().market,
        "phone": entry.phone,
        "outcome": entry.outcome,
        "occurred_at": clock.iso(clock.now()),
    }
    detail = {name: value for name, value in detail.items() if value is not None}
    try:
        event_bus.publish([LifecycleEvent(detail_type=ADMIN_ACTION, detail=detail)])
    except Exception as exc:
        logger.warning("admin action event not published", extra={"reason": type(exc).__name__})
        metrics.count("AdminEventFailures")
