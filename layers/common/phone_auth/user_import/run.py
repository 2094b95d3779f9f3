"""An import run: rows in batches of 100, what each row changes, and the conditional writes.

``make import`` (``ops.import_users``) and the import function (``phone_auth.flows.imports``)
both run a file through it: the same checks, plans, hashes and writes.

Each batch is read with one consistent BatchGetItem; each row then gets a ``Plan``
(``phone_auth.user_import.plan``, as the admin API's PUT: create, update some profile
fields and/or a first password, or nothing). Rows that need
a plaintext password hashed go to the bcrypt pool (one thread per core, see ``hashing``)
and are written when their hash is ready; the others are written at once, on a pool of
write threads. A write whose condition fails (the user changed since the read) is re-read
and planned once more.

The next batch is read and its hashes queued before the previous batch is waited for, so
the cores keep hashing while DynamoDB answers. Batches finish in file order: the counts,
the ``row N: reason`` lines and the progress follow the file.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from phone_auth import clock
from phone_auth.store import imports as store
from phone_auth.user_import import Plan, Row, RowRejected, new_user, plan
from phone_auth.user_import.hashing import Hasher
from phone_auth.user_import.reading import Validator
from phone_auth.user_import.report import ImportReport

BATCH_SIZE = store.BATCH_GET_MAX_KEYS
BATCHES_AHEAD = 1  # batches already read and writing while the oldest one is waited for

Printer = Callable[[str], None]
Outcome = str | RowRejected  # "created" | "updated" | "unchanged", or why the row was skipped


class Progress(Protocol):
    """Told after each batch, in file order: the rows done so far and the last line done."""

    def update(self, done: int, counts: str) -> None: ...


#: Told of each row in file order: its line, its phone (E.164; None when the row had none
#: that could be read) and what became of it.
RowListener = Callable[[int, str | None, "Outcome"], None]


class Writer:
    def __init__(self, table: str, client: Any, hasher: Hasher) -> None:
        self.table = table
        self.client = client
        self.hasher = hasher

    def apply(self, row: Row, existing: dict[str, Any] | None) -> str:
        """Write the row's plan; on a condition failure re-read the user and try once more."""
        for attempt in range(2):
            row_plan = plan(row, existing)
            if row_plan.outcome == "unchanged":
                return row_plan.outcome
            try:
                self._write(row, row_plan)
                return row_plan.outcome
            except store.ConditionFailed:
                if attempt:
                    raise RowRejected("the user changed while importing; run the import again") from None
                existing = store.batch_get_users(self.table, [row.phone], client=self.client).get(row.phone)
        raise AssertionError("unreachable")

    def _write(self, row: Row, row_plan: Plan) -> None:
        password_hash = self.hasher.hash(row) if row_plan.set_password else None
        now_iso = clock.iso(clock.now())
        if row_plan.create:
            record = new_user(row, password_hash=password_hash, now_iso=now_iso)
            store.create_user(self.table, record, client=self.client)
            return
        store.update_user(
            self.table,
            row.phone,
            now_iso=now_iso,
            profile_fields=row_plan.profile_fields,
            profile_exists=row_plan.profile_exists,
            password_hash=password_hash,
            client=self.client,
        )


@dataclass(frozen=True)
class Rejected:
    """A row the checks refused; it stays in its batch so the report keeps the file's order."""

    line: int
    reason: str
    phone: str | None = None


Entry = Row | Rejected


@dataclass
class _Started:
    """A batch read and planned: per row, its outcome or the write that will tell it."""

    outcomes: list[tuple[int, Row | None, Outcome | Future[str]]]
    #: The phones of rejected rows that had one (the report names them, masked).
    phones: dict[int, str]


class Run:
    """One import's batches: read, plan, hash and write, then finish in file order.

    Without a table (a dry run that only checks the file) each valid row is just "valid".
    """

    def __init__(
        self,
        table: str | None,
        client: Any,
        *,
        bcrypt_rounds: int,
        dry_run: bool,
        result: ImportReport,
        say: Printer,
        meter: Progress,
        on_row: RowListener | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.table = table
        self.client = client
        self.dry_run = dry_run
        self.result = result
        self.say = say
        self.meter = meter
        self.on_row = on_row
        self.on_batch = on_batch
        self.hasher = Hasher(bcrypt_rounds)
        self.writer = Writer(table or "", client, self.hasher)  # no write when checking only
        self.pool = ThreadPoolExecutor(max_workers=store.WRITE_WORKERS, thread_name_prefix="import")
        self.started: deque[_Started] = deque()

    def add(self, batch: list[Entry]) -> None:
        try:
            started = self._start(batch)
        except store.ImportStoreError:
            self.finish()  # count what the batches already writing did, then stop
            raise
        self.started.append(started)
        while len(self.started) > BATCHES_AHEAD:
            self._finish(self.started.popleft())

    def finish(self) -> None:
        while self.started:
            self._finish(self.started.popleft())

    def close(self, *, failed: bool) -> None:
        """Stop the pools; after a failure, hashes and writes not started yet are dropped."""
        self.hasher.close(cancel=failed)
        self.pool.shutdown(wait=True, cancel_futures=failed)

    def _start(self, batch: list[Entry]) -> _Started:
        rows = [entry for entry in batch if isinstance(entry, Row)]
        existing: dict[str, Any] = {}
        if rows and self.table is not None:
            existing = store.batch_get_users(self.table, [row.phone for row in rows], client=self.client)
        outcomes: list[tuple[int, Row | None, Outcome | Future[str]]] = []
        phones: dict[int, str] = {}
        for entry in batch:
            if isinstance(entry, Rejected):
                outcomes.append((entry.line, None, RowRejected(entry.reason)))
                if entry.phone is not None:
                    phones[entry.line] = entry.phone
                continue
            if self.table is None:  # checking the file only
                outcomes.append((entry.line, entry, "valid"))
                continue
            found = existing.get(entry.phone)
            row_plan = plan(entry, found)
            if self.dry_run or row_plan.outcome == "unchanged":
                outcomes.append((entry.line, entry, row_plan.outcome))
            elif row_plan.set_password and entry.password is not None:
                outcomes.append((entry.line, entry, self._write_when_hashed(entry, found)))
            else:
                outcomes.append((entry.line, entry, self.pool.submit(self.writer.apply, entry, found)))
        return _Started(outcomes, phones)

    def _write_when_hashed(self, row: Row, existing: dict[str, Any] | None) -> Future[str]:
        """The row's write, submitted once its hash is ready: no write thread waits on bcrypt."""
        outcome: Future[str] = Future()

        def submit(hashed: Future[str]) -> None:
            if hashed.cancelled():
                outcome.cancel()
                return
            try:
                write = self.pool.submit(self.writer.apply, row, existing)
            except RuntimeError as exc:  # the run stopped: the pool takes no more work
                outcome.set_exception(exc)
                return
            write.add_done_callback(lambda done: _copy(done, outcome))

        self.hasher.start(row).add_done_callback(submit)
        return outcome

    def _finish(self, started: _Started) -> None:
        fatal: store.ImportStoreError | None = None
        for line, row, pending in started.outcomes:
            outcome: Outcome
            if isinstance(pending, Future):
                try:
                    outcome = pending.result()
                except RowRejected as exc:
                    outcome = exc
                except store.ImportStoreError as exc:
                    if exc.fatal:
                        fatal = fatal or exc
                        continue
                    outcome = RowRejected(f"DynamoDB refused the item ({exc.code})")
            else:
                outcome = pending
            if row is not None:
                self.hasher.forget(row)
            if isinstance(outcome, RowRejected):
                self.result.reject(line, str(outcome))
                self.say(f"row {line}: {outcome}")
            else:
                self.result.count(outcome)
            if self.on_row is not None:
                self.on_row(line, row.phone if row is not None else started.phones.get(line), outcome)
        if fatal is not None:
            raise fatal
        self.meter.update(self.result.rows, self.result.counts())
        if self.on_batch is not None and started.outcomes:
            self.on_batch(started.outcomes[-1][0])


def _copy(source: Future[str], target: Future[str]) -> None:
    if source.cancelled():
        target.cancel()
    elif (error := source.exception()) is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())


def feed(
    records: Iterator[tuple[int, list[str]]],
    validator: Validator,
    run: Run,
    *,
    after_line: int = 0,
    stop: Callable[[], bool] | None = None,
) -> bool:
    """Check the records and give them to ``run`` in batches, in file order, then wait for
    the last batch. Records up to ``after_line`` were done by an earlier run: they are only
    checked again (so a later row still sees a phone they named as a duplicate). ``stop`` is
    asked before each batch; True ends the feed early. Returns whether every record was fed."""
    batch: list[Entry] = []
    for line, fields in records:
        try:
            row: Entry = validator.row(line, fields)
        except RowRejected as exc:
            row = Rejected(line, str(exc), validator.last_phone)
        if line <= after_line:
            continue
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            run.add(batch)
            batch = []
            if stop is not None and stop():
                run.finish()
                return False
    if batch:
        run.add(batch)
    run.finish()
    return True
