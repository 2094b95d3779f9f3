"""Uniform timing on the decoy paths: an answer that must not tell whether a phone is a user
takes as long on either path.

A step with a decoy (a reset code for a phone without an account, an imported-only login code
for a phone not imported, a code withheld by the SMS budget's reserve) does different work on
its two paths: the real one texts (an SNS Publish, tens of milliseconds), the decoy one makes a
second write instead. Each container keeps a running estimate of every path's duration per step
(an exponentially weighted mean) and answers no earlier than the larger: the faster path waits,
the slower one never does, so a real SMS send does not make the known path slower than it is.

The wait is capped (MAX_WAIT_SECONDS) and never runs into the invocation's deadline.
"""

from __future__ import annotations

import threading
import time
from typing import Literal

Path = Literal["real", "decoy"]
#: How much one new duration moves the estimate: recent requests count most, one outlier little.
WEIGHT = 0.2
MAX_WAIT_SECONDS = 1.0

_estimates: dict[tuple[str, Path], float] = {}
_lock = threading.Lock()


def started() -> float:
    """The moment a paced step starts (``time.perf_counter``)."""
    return time.perf_counter()


def settle(step: str, path: Path, since: float, *, time_left: float | None = None) -> None:
    """Record how long ``path`` of ``step`` took since ``since``, then wait until the step has
    taken as long as the other path's estimate, if that is longer (at most MAX_WAIT_SECONDS, and
    never past ``time_left`` seconds, the invocation's remaining time less a margin)."""
    elapsed = time.perf_counter() - since
    with _lock:
        previous = _estimates.get((step, path))
        _estimates[(step, path)] = elapsed if previous is None else previous + WEIGHT * (elapsed - previous)
        target = max(
            (estimate for (name, other), estimate in _estimates.items() if name == step and other != path),
            default=elapsed,
        )
    wait = min(target - elapsed, MAX_WAIT_SECONDS, time_left if time_left is not None else MAX_WAIT_SECONDS)
    if wait > 0:
        time.sleep(wait)


def reset() -> None:
    """Forget every estimate (tests; a new container starts empty)."""
    with _lock:
        _estimates.clear()
