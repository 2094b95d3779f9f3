"""``make import``'s run of one file: the file's checks, its progress and its summary around
the layer's import run (``phone_auth.user_import.run``: batches, plans, hashes, writes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ops.import_users.progress import Display, Lines, Meter
from phone_auth.store import imports as store
from phone_auth.user_import.reading import Validator, count_rows, header, read_records, sniff_delimiter
from phone_auth.user_import.report import ImportFailed, ImportReport
from phone_auth.user_import.run import Printer, Run, feed


def make_client(*, region: str | None = None, profile: str | None = None, endpoint_url: str | None = None) -> Any:
    """A DynamoDB client for an operator's run: patient (adaptive) retries, enough connections
    for the write pool. AWS_ENDPOINT_URL in the environment (the local stack) is honoured."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(profile_name=profile, region_name=region)
    config = Config(
        retries={"mode": "adaptive", "max_attempts": 10},
        max_pool_connections=store.WRITE_WORKERS * 2,
        connect_timeout=5,
        read_timeout=30,
    )
    return session.client("dynamodb", endpoint_url=endpoint_url, config=config)


def import_file(
    path: str | os.PathLike[str],
    table_name: str | None,
    *,
    default_region: str = "TH",
    bcrypt_rounds: int = 12,
    dry_run: bool = False,
    progress: Printer | Display = print,
    report: Printer | None = None,
    client: Any = None,
) -> ImportReport:
    """Import one CSV file (see the package docstring).

    A dry run without a table (`table_name` empty or None) checks the rows and counts them
    as valid or rejected, without comparing them with existing users.
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
    table = table_name or None
    if table is None and not dry_run:
        raise ImportFailed("no users table: give --table or --stack, or set USERS_TABLE_NAME (or --dry-run)")
    if table is not None and client is None:
        client = make_client()
    result = ImportReport(dry_run=dry_run, compared=table is not None)
    meter: Meter | None = None
    run: Run | None = None
    completed = False
    try:
        if table is not None:
            store.probe_users_table(table, client=client)
        delimiter = sniff_delimiter(file)
        records = read_records(file, delimiter)
        header_record = next(records, None)
        if header_record is None or header_record[0] != 1:
            raise ImportFailed(f"{file}: the first line must be the header row (phone,...)")
        validator = Validator(header(header_record[1]), region)
        meter = Meter(display, count_rows(file, delimiter))
        run = Run(table, client, bcrypt_rounds=bcrypt_rounds, dry_run=dry_run, result=result, say=say, meter=meter)
        feed(records, validator, run)
        completed = True
    except store.ImportStoreError as exc:
        done = f" after {result.rows} rows (re-running the file is safe)" if result.rows else ""
        raise ImportFailed(f"DynamoDB: {exc}{done}") from None
    finally:
        if run is not None:
            run.close(failed=not completed)
        if meter is not None:
            meter.finish(result.rows)
        display.close()
    say(result.summary())
    return result
