"""Import the back office's users (seed 004) from a CSV file into the users table.

Usage::

    python -m devtools.import_users FILE [--table NAME | --stack STACK_NAME | --local [URL]] [--region R]
        [--profile P] [--endpoint-url URL] [--default-region TH] [--bcrypt-rounds 12] [--dry-run]

The table is --table, else the ``UsersTableName`` output of CloudFormation stack --stack,
else the running local stack's table with --local, else the USERS_TABLE_NAME environment variable.

The file: UTF-8 (a BOM is fine), a header row, one user per row.

- ``phone`` (required): any common format, read like the API reads it (national numbers
  in --default-region, TH: 081-234-5678 -> +66812345678).
- ``password_hash`` (optional): an existing bcrypt hash ($2a$/$2b$/$2y$), stored as is.
- ``password`` (optional): a plaintext password, checked against the API's password
  policy and stored only as a bcrypt hash (cost --bcrypt-rounds). Never printed.
  A row may not give both.
- every other non-empty column is a profile field (returned by the API as user.profile).

Rules:

- Idempotent: a second run of the same file writes nothing and reports every row unchanged.
- A password the user already has is never replaced: a row's password or password_hash
  applies only to a user without one (so a user who registered keeps their password; a
  plaintext column is therefore never re-hashed once stored).
- New users: id (uuid4), phone, is_active false, is_verified false, created_at,
  updated_at, session_epoch 0, source "import", profile. Existing users: only the profile
  fields of the file (set one by one; fields the file does not name are kept) and the
  password when they have none; updated_at moves only when something changed.
- Every write is conditional (create only if the phone is free, set a password only if
  there is none), so a user who signs up while the import runs is never overwritten; on a
  condition failure the row is re-read and computed once more.
- Batches of 100 rows: one BatchGetItem (strongly consistent), then the batch's writes
  on a small thread pool (DynamoDB has no conditional batch write).
- A bad row is skipped and reported as ``row N: reason`` (N = line in the file, the
  header is line 1); the run goes on. Phones never appear in full in the output.
- Output: rejection lines and ONE summary line ``created=X updated=Y unchanged=Z
  rejected=W`` on stdout, progress every 1000 rows on stderr. --dry-run reads the table,
  validates and counts the same way but writes nothing.
- Exit code: 0 when no row was rejected, 2 when some were, 1 on a fatal error (missing
  file or table, no access, a malformed header).

devtools/sample_users.csv (for the local stack): six rows, five demo users and one bad row:

- line 2 +66811112222 and line 3 0620001111 (national format): no password, they register
  by SMS code (check-mobile -> request/verify-registration-otp -> complete-registration);
- line 4 +66891234567: plaintext demo password ``Siam-demo-2468`` (demo only!);
- line 5 +66898887777: a bcrypt hash (cost 12) of ``Bangkok-demo-1357``;
- line 6 089-765-4321 (national format with dashes): no password;
- line 7 ``12345``: not a phone number, so the report shows ``row 7: ...`` and exit code 2.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phone_auth import clock, passwords, repository
from phone_auth.errors import AuthError, InvalidPhone, NotAMobilePhone
from phone_auth.messages import message
from phone_auth.phones import normalize_phone

__all__ = ["ImportFailed", "ImportReport", "import_file", "main"]

PHONE, PASSWORD, PASSWORD_HASH = "phone", "password", "password_hash"
RESERVED = (PHONE, PASSWORD, PASSWORD_HASH)
BATCH_SIZE = repository.BATCH_GET_MAX_KEYS
WRITE_WORKERS = 8
PROGRESS_EVERY = 1000
MAX_PROFILE_KEY = 64
MAX_PROFILE_VALUE = 1024
SOURCE = "import"

Printer = Callable[[str], None]


class ImportFailed(Exception):
    """A fatal problem: the run stops (exit code 1)."""


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[tuple[int, str]] = field(default_factory=list)
    dry_run: bool = False

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged + self.rejected

    def summary(self) -> str:
        line = f"created={self.created} updated={self.updated} unchanged={self.unchanged} rejected={self.rejected}"
        return line + (" (dry run: nothing written)" if self.dry_run else "")

    @property
    def exit_code(self) -> int:
        return 2 if self.rejected else 0


@dataclass
class Row:
    line: int
    phone: str
    profile: dict[str, str]
    password: str | None = None
    password_hash: str | None = None

    @property
    def has_password(self) -> bool:
        return self.password is not None or self.password_hash is not None


class RowRejected(Exception):
    pass


# ------------------------------------------------------------------ reading the file
def _read_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number where the record starts, fields) for each non-blank record after the
    header; the header itself is yielded first with line 1."""
    try:
        handle = path.open("r", encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise ImportFailed(f"{path}: no such file") from None
    except OSError as exc:
        raise ImportFailed(f"{path}: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle)
        next_line = 1
        try:
            for fields in reader:
                start, next_line = next_line, reader.line_num + 1
                if not fields or all(not value.strip() for value in fields):
                    continue
                yield start, fields
        except UnicodeDecodeError:
            raise ImportFailed(f"{path}: not UTF-8 text (near line {next_line})") from None
        except csv.Error as exc:
            raise ImportFailed(f"{path}: line {reader.line_num}: {exc}") from None


def _header(fields: list[str]) -> list[str]:
    names = [name.strip() for name in fields]
    seen: set[str] = set()
    for name in names:
        key = name.lower() if name.lower() in RESERVED else name
        if name and key in seen:
            raise ImportFailed(f"the header names column {name!r} twice")
        seen.add(key)
    if PHONE not in seen:
        raise ImportFailed("the header has no 'phone' column (header row required: phone,...)")
    return [name.lower() if name.lower() in RESERVED else name for name in names]


class _Validator:
    def __init__(self, header: list[str], default_region: str) -> None:
        self.header = header
        self.default_region = default_region
        self.first_row_of: dict[str, int] = {}

    def row(self, line: int, fields: list[str]) -> Row:
        if len(fields) > len(self.header):
            raise RowRejected(f"{len(fields)} fields but the header has {len(self.header)}")
        values: dict[str, str] = {}
        for index, raw in enumerate(fields):
            value = raw.strip()
            name = self.header[index]
            if not value:
                continue
            if not name:
                raise RowRejected(f"a value in column {index + 1}, which has no name in the header")
            values[name] = value
        raw_phone = values.pop(PHONE, "")
        if not raw_phone:
            raise RowRejected("phone is empty")
        try:
            phone = normalize_phone(raw_phone, self.default_region)
        except InvalidPhone:
            raise RowRejected("phone is not a valid phone number") from None
        except NotAMobilePhone:
            raise RowRejected("phone is not a mobile number (cannot receive SMS)") from None
        first = self.first_row_of.setdefault(phone, line)
        if first != line:
            raise RowRejected(f"duplicate phone: the same number as row {first}")
        password = values.pop(PASSWORD, None)
        password_hash = values.pop(PASSWORD_HASH, None)
        if password is not None and password_hash is not None:
            raise RowRejected("both password and password_hash are given; keep one")
        if password_hash is not None and not passwords.is_bcrypt_hash(password_hash):
            raise RowRejected("password_hash is not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters)")
        if password is not None:
            try:
                passwords.check_policy(password, phone)
            except AuthError as exc:
                raise RowRejected(f"password refused: {message(exc.code)}") from None
        for name, value in values.items():
            if len(name) > MAX_PROFILE_KEY:
                raise RowRejected(f"column name longer than {MAX_PROFILE_KEY} characters")
            if len(value) > MAX_PROFILE_VALUE:
                raise RowRejected(f"{name} is longer than {MAX_PROFILE_VALUE} characters")
        return Row(line=line, phone=phone, profile=values, password=password, password_hash=password_hash)


# ------------------------------------------------------------------ deciding and writing
@dataclass(frozen=True)
class Plan:
    outcome: str  # "created" | "updated" | "unchanged"
    create: bool = False
    profile_fields: dict[str, str] = field(default_factory=dict)
    profile_exists: bool = True
    set_password: bool = False


def _plan(row: Row, existing: dict[str, Any] | None) -> Plan:
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


class _Writer:
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
            plan = _plan(row, existing)
            if plan.outcome == "unchanged":
                return plan.outcome
            try:
                self._write(row, plan)
                return plan.outcome
            except repository.ConditionFailed:
                if attempt:
                    raise RowRejected("the user changed while importing; run the import again") from None
                existing = repository.batch_get_users(self.table, [row.phone], client=self.client).get(row.phone)
        raise AssertionError("unreachable")

    def _write(self, row: Row, plan: Plan) -> None:
        now_iso = clock.iso(clock.now())
        password_hash = self._hash(row) if plan.set_password else None
        if plan.create:
            item: dict[str, Any] = {
                "phone": row.phone,
                "id": str(uuid.uuid4()),
                "is_active": False,
                "is_verified": False,
                "created_at": now_iso,
                "updated_at": now_iso,
                "session_epoch": 0,
                "source": SOURCE,
                "profile": dict(row.profile),
            }
            if password_hash is not None:
                item["password_hash"] = password_hash
            repository.create_imported_user(self.table, item, client=self.client)
            return
        repository.update_imported_user(
            self.table,
            row.phone,
            now_iso=now_iso,
            profile_fields=plan.profile_fields,
            profile_exists=plan.profile_exists,
            password_hash=password_hash,
            client=self.client,
        )


# ------------------------------------------------------------------ the run
def make_client(*, region: str | None = None, profile: str | None = None, endpoint_url: str | None = None) -> Any:
    """A DynamoDB client for an operator's run: patient (adaptive) retries, enough connections
    for the write pool. AWS_ENDPOINT_URL in the environment (the local stack) is honoured."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(profile_name=profile, region_name=region)
    config = Config(
        retries={"mode": "adaptive", "max_attempts": 10},
        max_pool_connections=WRITE_WORKERS * 2,
        connect_timeout=5,
        read_timeout=30,
    )
    return session.client("dynamodb", endpoint_url=endpoint_url, config=config)


def import_file(
    path: str | os.PathLike[str],
    users_table_name: str,
    *,
    default_region: str = "TH",
    bcrypt_rounds: int = 12,
    dry_run: bool = False,
    progress: Printer = print,
    report: Printer | None = None,
    client: Any = None,
) -> ImportReport:
    """Import one CSV file (see the module docstring). `progress` gets the progress lines,
    `report` (default: `progress`) the `row N: reason` lines and the summary line.
    Raises ImportFailed on a fatal problem."""
    say = report or progress
    if not 4 <= bcrypt_rounds <= 16:
        raise ImportFailed("--bcrypt-rounds must be between 4 and 16")
    region = default_region.strip().upper()
    if len(region) != 2 or not region.isalpha():
        raise ImportFailed(f"--default-region must be a two-letter region code, not {default_region!r}")
    file = Path(path)
    if not file.is_file():
        raise ImportFailed(f"{file}: no such file")
    if not users_table_name:
        raise ImportFailed("no users table: give --table or --stack, or set USERS_TABLE_NAME")
    client = client if client is not None else make_client()
    result = ImportReport(dry_run=dry_run)
    try:
        repository.probe_users_table(users_table_name, client=client)
        rows = _read_rows(file)
        header_line = next(rows, None)
        if header_line is None or header_line[0] != 1:
            raise ImportFailed(f"{file}: the first line must be the header row (phone,...)")
        validator = _Validator(_header(header_line[1]), region)
        writer = _Writer(users_table_name, client, bcrypt_rounds)
        batch: list[Row] = []
        next_progress = PROGRESS_EVERY

        def reject(line: int, reason: str) -> None:
            result.rejected += 1
            result.rejections.append((line, reason))
            say(f"row {line}: {reason}")

        with ThreadPoolExecutor(max_workers=WRITE_WORKERS, thread_name_prefix="import") as pool:

            def flush() -> None:
                _run_batch(batch, writer, pool, result, reject, dry_run=dry_run)
                batch.clear()

            for line, fields in rows:
                try:
                    batch.append(validator.row(line, fields))
                except RowRejected as exc:
                    reject(line, str(exc))
                if len(batch) >= BATCH_SIZE:
                    flush()
                if result.rows + len(batch) >= next_progress:
                    flush()
                    progress(f"... {result.rows} rows done ({result.summary()})")
                    next_progress += PROGRESS_EVERY
            flush()
    except repository.ImportStoreError as exc:
        done = f" after {result.rows} rows (re-running the file is safe)" if result.rows else ""
        raise ImportFailed(f"DynamoDB: {exc}{done}") from None
    say(result.summary())
    return result


def _run_batch(
    batch: list[Row],
    writer: _Writer,
    pool: ThreadPoolExecutor,
    result: ImportReport,
    reject: Callable[[int, str], None],
    *,
    dry_run: bool,
) -> None:
    if not batch:
        return
    existing = repository.batch_get_users(writer.table, [row.phone for row in batch], client=writer.client)
    outcomes: list[tuple[Row, str | RowRejected]] = []
    if dry_run:
        outcomes = [(row, _plan(row, existing.get(row.phone)).outcome) for row in batch]
    else:
        futures = [(row, pool.submit(writer.apply, row, existing.get(row.phone))) for row in batch]
        fatal: repository.ImportStoreError | None = None
        for row, future in futures:
            try:
                outcomes.append((row, future.result()))
            except RowRejected as exc:
                outcomes.append((row, exc))
            except repository.ImportStoreError as exc:
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
            setattr(result, outcome, getattr(result, outcome) + 1)


# ------------------------------------------------------------------ command line
def _stack_table(stack: str, *, region: str | None, profile: str | None) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session(profile_name=profile, region_name=region)
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except (BotoCoreError, ClientError) as exc:
        raise ImportFailed(f"stack {stack}: {exc}") from None
    for output in (stacks[0].get("Outputs") or []) if stacks else []:
        if output.get("OutputKey") == "UsersTableName":
            return str(output["OutputValue"])
    raise ImportFailed(f"stack {stack} has no UsersTableName output")


def _use_local_stack(args: argparse.Namespace) -> None:
    """Point this run at the running local stack: its moto endpoint, region, table and phone region."""
    import json
    import urllib.request

    url = args.local.rstrip("/") + "/_local/info"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (a loopback URL the user chose)
            info = json.load(response)
    except OSError as exc:
        raise ImportFailed(f"no local stack answers at {args.local} (start it with `make run`): {exc}") from None
    args.table = info["tables"]["UsersTable"]
    args.endpoint_url = info["moto_endpoint_url"]
    args.region = args.region or info["region"]
    if args.default_region == "TH":
        args.default_region = info.get("environment", {}).get("DEFAULT_REGION", "TH")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.import_users",
        description="Import back-office users from a CSV file (phone[,password_hash|password][,profile columns...]).",
    )
    parser.add_argument("file", help="CSV file, UTF-8, header row required")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--table", help="users table name (default: $USERS_TABLE_NAME)")
    where.add_argument("--stack", help="read the table from this CloudFormation stack's UsersTableName output")
    where.add_argument(
        "--local",
        nargs="?",
        const=f"http://127.0.0.1:{os.environ.get('PORT', '3000')}",
        metavar="URL",
        help="the running local stack (`make run`; default http://127.0.0.1:$PORT): its moto endpoint and table",
    )
    parser.add_argument("--region", help="AWS region of the table")
    parser.add_argument("--profile", help="AWS named profile")
    parser.add_argument("--endpoint-url", help="DynamoDB endpoint (e.g. a local emulator)")
    parser.add_argument("--default-region", default="TH", help="phone region for national numbers (default TH)")
    parser.add_argument("--bcrypt-rounds", type=int, default=12, help="bcrypt cost for plaintext passwords (4-16)")
    parser.add_argument("--dry-run", action="store_true", help="validate and count, write nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    def to_stderr(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        if args.local:
            _use_local_stack(args)
        if args.stack:
            table = _stack_table(args.stack, region=args.region, profile=args.profile)
        else:
            table = args.table or os.environ.get("USERS_TABLE_NAME", "")
        client = None
        if Path(args.file).is_file() and table:
            client = make_client(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)
        result = import_file(
            args.file,
            table,
            default_region=args.default_region,
            bcrypt_rounds=args.bcrypt_rounds,
            dry_run=args.dry_run,
            progress=to_stderr,
            report=print,
            client=client,
        )
    except ImportFailed as exc:
        to_stderr(f"import_users: error: {exc}")
        return 1
    except Exception as exc:  # botocore profile/credential problems and the like
        to_stderr(f"import_users: error: {type(exc).__name__}: {exc}")
        return 1
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
