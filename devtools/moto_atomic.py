"""Make moto's DynamoDB behave like DynamoDB under concurrency: one request, one atomic step.

Why this exists
---------------
DynamoDB guarantees that a single write request is atomic: a ``PutItem`` /
``UpdateItem`` / ``DeleteItem`` with a ``ConditionExpression`` evaluates the
condition and applies the write as one indivisible step, and a
``TransactWriteItems`` call applies all of its items or none of them, isolated
from every other request. Our code relies on that, for example to burn a one-time
code exactly once (``UpdateItem ... ConditionExpression attempts < :max``) or to
create a user only if the phone is still free.

moto evaluates the condition and then mutates its in-memory tables in plain
Python with no lock at all. When two threads (the threaded local stack, or a
concurrency test) send the same conditional write at the same moment, both can
read the old item, both can pass the condition and both "succeed" -- something
real DynamoDB never allows. Tests would then report races in our code that do
not exist in production, or hide the ones that do behind moto's own.

``make_dynamodb_writes_atomic()`` wraps the request-level methods of moto's
DynamoDB backend with one process-wide ``threading.RLock``, so each request is
evaluated and applied as a unit, as DynamoDB does. Reads are wrapped as well so a
``GetItem`` / ``Query`` / ``Scan`` never observes a half-applied transaction
(and a scan never trips over a dict that changes size while it iterates).

What it does NOT do
-------------------
It does not make *our* read-then-write sequences atomic. A handler that does
``GetItem`` and then a separate ``PutItem`` is still two requests; another
request can run in between, exactly as in production. That is deliberate: such
races are real bugs and must be fixed with conditional writes or transactions,
not hidden by the emulator. The lock only restores the per-request guarantee
that DynamoDB really gives.

The lock is re-entrant because some moto entry points call others (PartiQL
statements and batch writes call ``put_item`` / ``delete_item``). Calling
``make_dynamodb_writes_atomic()`` more than once is harmless: already-wrapped
methods are recognised and left alone.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["BACKEND_METHODS", "HANDLER_METHODS", "dynamodb_lock", "make_dynamodb_writes_atomic"]

#: Methods of ``moto.dynamodb.models.DynamoDBBackend`` that serve one DynamoDB request each.
#: ``batch_write_item`` is a placeholder in moto (the batch logic lives in responses.py and
#: calls ``put_item`` / ``delete_item`` per item, which matches DynamoDB: a batch is not atomic
#: as a whole, each item is); it is wrapped anyway in case a moto release moves the logic here.
BACKEND_METHODS: tuple[str, ...] = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
    "get_item",
    "query",
    "scan",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)

#: Methods of ``moto.dynamodb.responses.DynamoHandler`` whose logic lives in the handler rather
#: than the backend. ``TransactGetItems`` must read all items from one consistent snapshot, so the
#: whole loop over ``get_item`` runs under the lock.
HANDLER_METHODS: tuple[str, ...] = ("transact_get_items",)

_LOCK = threading.RLock()
_MARKER = "__phone_auth_atomic__"


def dynamodb_lock() -> threading.RLock:
    """The process-wide lock, for tests that want to hold DynamoDB still while they inspect it."""
    return _LOCK


def _wrap(owner: type, name: str) -> bool:
    """Replace ``owner.name`` with a version that runs under ``_LOCK``; False if absent or done."""
    original: Callable[..., Any] | None = owner.__dict__.get(name)
    if original is None or getattr(original, _MARKER, False):
        return False

    @functools.wraps(original)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return original(*args, **kwargs)

    setattr(locked, _MARKER, True)
    setattr(owner, name, locked)
    return True


def make_dynamodb_writes_atomic() -> tuple[str, ...]:
    """Serialise every moto DynamoDB request with one re-entrant lock (idempotent).

    Patches the classes, so it covers both ``mock_aws`` and the embedded moto server,
    for every account and region, including backends created later.

    Returns the qualified names of the methods wrapped by this call (empty when an earlier
    call already did the work), which makes the idempotence easy to assert in a test.
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    wrapped: list[str] = []
    for owner, names in ((DynamoDBBackend, BACKEND_METHODS), (DynamoHandler, HANDLER_METHODS)):
        for name in names:
            if _wrap(owner, name):
                wrapped.append(f"{owner.__name__}.{name}")
    return tuple(wrapped)
