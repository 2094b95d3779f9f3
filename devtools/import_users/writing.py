"""The run: rows in batches of 100, what each row changes, and the conditional writes.

Each batch is read with one consistent BatchGetItem; each row then gets a ``Plan``
(create, update some profile fields and/or a first password, or nothing) which is
written on a thread pool. A write whose condition fails (the user changed since the
read) is re-read and planned once more.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.import_users import store
from devtools.import_users.progress import Display, Lines, Meter
from devtools.import_users.reading import Row, RowRejected, Validator, count_rows, header, read_records, sniff_delimiter
from devtools.import_users.report import ImportFailed, ImportReport
from phone_auth import clock, passwords
from phone_auth.store.records import UserRecord, UserSource

BATCH_SIZE = store.BATCH_GET_MAX_KEYS
SOURCE: UserSource = "import"

Printer = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    outcome: str  # "created" | "updated" | "unchanged"
    create: bool = False
    profile_fields: dict[str, str] = field(default_factory=dict)
    profile_exists: bool = True
    set_password: bool = False


def plan(row: Row, existing: dict[str, Any] | None) -> Plan:
    """What the row changes for the user as read (None: no such user)."""
    if existing is None:
        return Plan("created", create=True, profile_fields=dict(row.profile), set_password=row.has_password)
    current = existing.get("profile")
    current_profile = current if isinstance(current, dict) else {}
    changed = {k: v for k, v in row.profile.items() if current_profile.get(k) != v}
    # A password the user already has is never replaced, whatever the file says.
    set_password = row.has_password and "password_hash" not in existing
    if not changed and not set_password:
        return Plan("unchanged")
    return Plan("updated", profile_fields=changed, profile_exists=isinstance(current, dict), set_password=set_password)


class Writer:
    def __init__(self, table: str, client: Any, bcrypt_rounds: int) -> None:
        self.table = table
        self.client = client
        self.bcrypt_rounds = bcrypt_rounds
        self._hashes: dict[int, str] = {}
        self._lock = threading.Lock()

    def _hash(self, row: Row) -> str:
        if row.password_hash is not None:
            return row.password_hash
        assert row.password is not None
        with self._lock:
            cached = self._hashes.get(row.line)
        if cached is None:
            cached = passwords.hash_password(row.password, self.bcrypt_rounds)
            with self._lock:
                self._hashes[row.line] = cached
        return cached

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
        now_iso = clock.iso(clock.now())
        password_hash = self._hash(row) if row_plan.set_password else None
        if row_plan.create:
            record = UserRecord(
                phone=row.phone,
                id=str(uuid.uuid4()),
                created_at=now_iso,
                updated_at=now_iso,
                password_hash=password_hash,
                source=SOURCE,
                profile=dict(row.profile),
            )
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


def import_file(
    path: str | os.PathLike[str],
    table_name: str,
    *,
    default_region: str = "TH",
    bcrypt_rounds: int = 12,
    dry_run: bool = False,
    progress: Printer | Display = print,
    report: Printer | None = None,
    client: Any = None,
) -> ImportReport:
    """Import one CSV file (see the package docstring).

    `progress` gets the progress lines (rows done, rows/s, time left): a printer gets a
    plain line every few seconds, a ``progress.Display`` (e.g. ``StatusLine`` on a
    terminal) whatever it asks for. `report` (default: `progress` when it is a printer,
    else stdout) gets the `row N: reason` lines and the summary line.
    Raises ImportFailed on a fatal problem."""
    display = progress if isinstance(progress, Display) else Lines(progress)
    to_report = report or (progress if not isinstance(progress, Display) else print)

    def say(line: str) -> None:
        display.clear()
        to_report(line)

    if not 4 <= bcrypt_rounds <= 16:
        raise ImportFailed("--bcrypt-rounds must be between 4 and 16")
    region = default_region.strip().upper()
    if len(region) != 2 or not region.isalpha():
        raise ImportFailed(f"--default-region must be a two-letter region code, not {default_region!r}")
    file = Path(path)
    if not file.is_file():
        raise ImportFailed(f"{file}: no such file")
    if not table_name:
        raise ImportFailed("no users table: give --table or --stack, or set USERS_TABLE_NAME")
    client = client if client is not None else store.make_client()
    result = ImportReport(dry_run=dry_run)
    meter: Meter | None = None
    try:
        store.probe_users_table(table_name, client=client)
        delimiter = sniff_delimiter(file)
        records = read_records(file, delimiter)
        header_record = next(records, None)
        if header_record is None or header_record[0] != 1:
            raise ImportFailed(f"{file}: the first line must be the header row (phone,...)")
        validator = Validator(header(header_record[1]), region)
        writer = Writer(table_name, client, bcrypt_rounds)
        meter = run_meter = Meter(display, count_rows(file, delimiter))
        batch: list[Row] = []

        def reject(line: int, reason: str) -> None:
            result.reject(line, reason)
            say(f"row {line}: {reason}")

        with ThreadPoolExecutor(max_workers=store.WRITE_WORKERS, thread_name_prefix="import") as pool:

            def flush() -> None:
                _run_batch(batch, writer, pool, result, reject, dry_run=dry_run)
                batch.clear()
                run_meter.update(result.rows, result.counts())

            for line, fields in records:
                try:
                    batch.append(validator.row(line, fields))
                except RowRejected as exc:
                    reject(line, str(exc))
                if len(batch) >= BATCH_SIZE:
                    flush()
            flush()
    except store.ImportStoreError as exc:
        done = f" after {result.rows} rows (re-running the file is safe)" if result.rows else ""
        raise ImportFailed(f"DynamoDB: {exc}{done}") from None
    finally:
        if meter is not None:
            meter.finish(result.rows)
        display.close()
    say(result.summary())
    return result


def _run_batch(
    batch: list[Row],
    writer: Writer,
    pool: ThreadPoolExecutor,
    result: ImportReport,
    reject: Callable[[int, str], None],
    *,
    dry_run: bool,
) -> None:
    if not batch:
        return
    existing = store.batch_get_users(writer.table, [row.phone for row in batch], client=writer.client)
    outcomes: list[tuple[Row, str | RowRejected]] = []
    if dry_run:
        outcomes = [(row, plan(row, existing.get(row.phone)).outcome) for row in batch]
    else:
        futures = [(row, pool.submit(writer.apply, row, existing.get(row.phone))) for row in batch]
        fatal: store.ImportStoreError | None = None
        for row, future in futures:
            try:
                outcomes.append((row, future.result()))
            except RowRejected as exc:
                outcomes.append((row, exc))
            except store.ImportStoreError as exc:
                if exc.fatal:
                    fatal = fatal or exc
                else:
                    outcomes.append((row, RowRejected(f"DynamoDB refused the item ({exc.code})")))
        if fatal is not None:
            _count(outcomes, result, reject)
            raise fatal
    _count(outcomes, result, reject)


def _count(
    outcomes: list[tuple[Row, str | RowRejected]], result: ImportReport, reject: Callable[[int, str], None]
) -> None:
    for row, outcome in sorted(outcomes, key=lambda pair: pair[0].line):
        if isinstance(outcome, RowRejected):
            reject(row.line, str(outcome))
        else:
            result.count(outcome)
