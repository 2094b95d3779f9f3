"""The one source of time, so tests can move it instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    """Seconds since the epoch (tests replace this function)."""
    return time.time()


def iso(epoch_seconds: float) -> str:
    """ISO 8601 UTC with millisecond precision and a Z suffix, as stored and returned."""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
