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

Stream records as DynamoDB writes them
--------------------------------------
A table's stream holds one record per write that changed an item, and nothing of a
transaction that was cancelled. moto appends a record as each item changes, so a cancelled
transaction would leave records of writes that never happened (a phantom sign-in), and an
``UpdateItem`` that creates its item leaves two INSERTs (the bare key, then the item). Here
a cancelled transaction drops the records it appended, and an ``UpdateItem`` keeps only its
last record, under the first one's sequence number, so the stream reads as DynamoDB's does.

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

The whole request, not only the backend call
--------------------------------------------
moto's request handler does work of its own around the backend: ``UpdateItem`` deep-copies
the old item (for ``ReturnValues``) before it calls the backend, and every handler turns
items into JSON after. Outside the lock, a concurrent write could change an item while it
is being copied ("dictionary changed size during iteration", seen with 20 sign-ins at
once). So ``DynamoHandler.call_action``, which serves every DynamoDB request, runs under
the lock too.

Transactions roll back the items they touched, not whole tables
---------------------------------------------------------------
moto's ``transact_write_items`` deep-copies every table it touches before it starts, to
roll back on a failed condition. That copy grows with the table: on the local stack a
verify-code took three times longer after 30 s of load. Here the transaction keeps a copy
of only the items it names (at most 100, as in DynamoDB) and puts exactly those back when
it fails; the table copy is skipped.
"""

from __future__ import annotations

import copy
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

#: Methods of ``moto.dynamodb.responses.DynamoHandler``: ``call_action`` serves every request,
#: including the handler's own reads and copies around the backend call (and TransactGetItems,
#: whose items must all come from one consistent snapshot).
HANDLER_METHODS: tuple[str, ...] = ("call_action",)

_LOCK = threading.RLock()
_MARKER = "__phone_auth_atomic__"
_ITEM_ROLLBACK = "__phone_auth_item_rollback__"


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


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    """Put ``item`` back under its key (None: the key held no item), as moto's Table stores items."""
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    bucket = table.items[hash_key]
    if item is not None:
        bucket[range_key] = item
        return
    bucket.pop(range_key, None)
    if not bucket:
        del table.items[hash_key]


def _roll_back_touched_items_only(backend_class: type) -> bool:
    """Make ``transact_write_items`` back up the items it names instead of whole tables."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models.table import Table

    original: Callable[..., Any] | None = backend_class.__dict__.get("transact_write_items")
    if original is None or getattr(original, _ITEM_ROLLBACK, False) or getattr(original, _MARKER, False):
        return False

    class _CopyExceptTables:
        """``copy`` as moto.dynamodb.models sees it: a Table is not deep-copied (the one such copy
        is transact_write_items' backup, replaced by the item backup below)."""

        copy = staticmethod(copy.copy)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        backups = []
        for entry in transact_items[:100]:  # moto refuses more, before touching anything
            for operation in entry.values():
                table = self.tables.get(operation.get("TableName")) if isinstance(operation, dict) else None
                keys = operation.get("Item", operation.get("Key")) if table is not None else None
                if table is None or not isinstance(keys, dict):
                    continue
                try:
                    hash_key, range_key = self.get_keys_value(table, keys)
                except Exception:  # noqa: S112 (moto reports the malformed operation itself)
                    continue
                item = table.get_item(hash_key, range_key)
                backups.append((table, hash_key, range_key, None if item is None else copy.deepcopy(item)))
        named = {op.get("TableName") for entry in transact_items[:100] for op in entry.values() if isinstance(op, dict)}
        streams = _stream_lengths(self, {name for name in named if isinstance(name, str)})
        try:
            return original(self, transact_items)
        except BaseException:
            for backup in reversed(backups):
                _restore(*backup)
            for shard, before in streams:  # a cancelled transaction wrote nothing, to its streams either
                del shard.items[before:]
            raise

    setattr(transact_write_items, _ITEM_ROLLBACK, True)
    setattr(models, "copy", _CopyExceptTables)  # noqa: B010 (the module's own name for the copy module)
    backend_class.transact_write_items = transact_write_items  # type: ignore[attr-defined]
    return True


_STREAM_FIX = "__phone_auth_stream_records__"


def _stream_lengths(backend: Any, table_names: set[str]) -> list[tuple[Any, int]]:
    """(stream shard, records it holds) of each named table that has a stream."""
    found = []
    for name in table_names:
        table = backend.tables.get(name)
        shard = getattr(table, "stream_shard", None)
        if shard is not None:
            found.append((shard, len(shard.items)))
    return found


def _one_stream_record_per_update(backend_class: type) -> bool:
    """Make ``update_item`` leave one stream record, like DynamoDB (moto leaves two when it creates the item)."""
    original: Callable[..., Any] | None = backend_class.__dict__.get("update_item")
    if original is None or getattr(original, _STREAM_FIX, False) or getattr(original, _MARKER, False):
        return False

    @functools.wraps(original)
    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        lengths = _stream_lengths(self, {table_name})
        result = original(self, table_name, *args, **kwargs)
        for shard, before in lengths:
            if len(shard.items) > before + 1:
                kept = shard.items[-1]
                kept.record["dynamodb"]["SequenceNumber"] = shard.items[before].record["dynamodb"]["SequenceNumber"]
                del shard.items[before:-1]
        return result

    setattr(update_item, _STREAM_FIX, True)
    backend_class.update_item = update_item  # type: ignore[attr-defined]
    return True


def make_dynamodb_writes_atomic() -> tuple[str, ...]:
    """Serialise every moto DynamoDB request with one re-entrant lock (idempotent), make
    transactions back up only the items they touch, and keep the streams as DynamoDB keeps them.

    Patches the classes, so it covers both ``mock_aws`` and the embedded moto server,
    for every account and region, including backends created later.

    Returns the qualified names of the methods wrapped by this call (empty when an earlier
    call already did the work), which makes the idempotence easy to assert in a test.
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    wrapped: list[str] = []
    if _one_stream_record_per_update(DynamoDBBackend):
        wrapped.append("DynamoDBBackend.update_item (one stream record)")
    if _roll_back_touched_items_only(DynamoDBBackend):
        wrapped.append("DynamoDBBackend.transact_write_items (item rollback)")
    for owner, names in ((DynamoDBBackend, BACKEND_METHODS), (DynamoHandler, HANDLER_METHODS)):
        for name in names:
            if _wrap(owner, name):
                wrapped.append(f"{owner.__name__}.{name}")
    return tuple(wrapped)
