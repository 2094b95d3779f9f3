"""make import through the admin API, end to end on the local stack: ``python -m ops.import_users
FILE --local URL --via-api`` creates the job (SigV4), PUTs the file to its pre-signed URL, the
bucket's "Object Created" event reaches ImportUsersFunction through the EventBridge rule, and the
command follows the job and prints the report's rejected rows.

The same 5,000-row file goes through the direct mode (``--local URL``: the operator's DynamoDB
client) on a second fresh stack holding the same existing users: the counts, the rejected rows
and the users table must come out the same. Both runs' counts are also checked against what the
file was built to hold. ``-s`` shows the job's rows per second.
"""

from __future__ import annotations

import csv
import io
import re
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.local_stack import LocalStack, start
from ops.import_users import main
from phone_auth import observability  # noqa: F401 (its log handler takes sys.stdout when imported: before any capsys)
from phone_auth.store.marshalling import from_item
from tests.helpers import password_hash
from tests.helpers.stack import signed_fetch

ROWS = 5000
PASSWORD = "Suan-Luang-2468"
HEADER = ["phone", "first_name", "branch", "password_hash", "password"]
COUNTS = re.compile(r"^created=(\d+) updated=(\d+) unchanged=(\d+) rejected=(\d+)$")


@dataclass(frozen=True)
class Files:
    existing: Path  # the users both stacks hold before the import
    upload: Path
    expected: tuple[int, int, int, int]  # created, updated, unchanged, rejected, by construction


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows([HEADER, *rows])
    return path


def build_files(directory: Path) -> Files:
    """5,000 rows: bcrypt hashes (one precomputed hash, so the run is about the writes), some
    plaintext passwords, rows of users that already exist (unchanged, a changed profile, a first
    password), invalid rows and duplicates."""
    hashed = password_hash(PASSWORD)
    existing = [f"+66820{n:06d}" for n in range(100)]
    before = [[phone, "Old", "Hat Yai", hashed if n < 50 else "", ""] for n, phone in enumerate(existing)]
    rows: list[list[str]] = []
    rows += [[phone, "Old", "Hat Yai", hashed, ""] for phone in existing[:25]]  # unchanged
    rows += [[phone, "Old", "Songkhla", hashed, ""] for phone in existing[25:50]]  # updated: profile
    rows += [[phone, "Old", "Hat Yai", hashed, ""] for phone in existing[50:75]]  # updated: first password
    unchanged, updated = 25, 50
    plaintext = [[f"+66830{n:06d}", "Plain", "Pattani", "", f"{PASSWORD}-{n}"] for n in range(20)]
    invalid = [
        *[[f"12345{n}", "Bad", "x", hashed, ""] for n in range(10)],  # not a phone
        *[[f"+6621{n:06d}", "Landline", "x", hashed, ""] for n in range(10)],  # not a mobile
        *[[f"+66840{n:06d}", "Short", "x", "$2b$10$tooshort", ""] for n in range(10)],  # not a bcrypt hash
        *[[f"+66850{n:06d}", "Both", "x", hashed, PASSWORD] for n in range(5)],  # both
        *[[f"+66860{n:06d}", "Weak", "x", "", "1234"] for n in range(5)],  # the password policy
    ]
    duplicates = 40
    new = ROWS - len(rows) - len(plaintext) - len(invalid) - duplicates
    created_rows = [[f"+66810{n:06d}", f"User {n}", "Yala", hashed, ""] for n in range(new)]
    # Spread the odd rows through the file, and repeat some phones further down.
    body = created_rows[:1000] + plaintext + created_rows[1000:2500] + invalid + created_rows[2500:]
    body += [[row[0], "Again", "x", hashed, ""] for row in created_rows[:duplicates]]
    rows += body
    assert len(rows) == ROWS
    rejected = len(invalid) + duplicates
    return Files(
        existing=write_csv(directory / "existing.csv", before),
        upload=write_csv(directory / "users.csv", rows),
        expected=(new + len(plaintext), updated, unchanged, rejected),
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return build_files(tmp_path_factory.mktemp("import-jobs"))


@contextmanager
def fresh_stack(files: Files, capsys: pytest.CaptureFixture[str]) -> Iterator[LocalStack]:
    """A fresh local stack holding the existing users, its EventBridge rules' events delivered by
    its poller as `make run`'s are. Its tables' streams are not read: an import's 5,000 lifecycle
    events would compete with the import for this process (the job takes about twice as long)."""
    running = start(port=0, echo=False, import_sample_users=False, stream_events=False)
    running.event_rules.start()
    try:
        assert main([str(files.existing), "--local", running.url]) == 0
        capsys.readouterr()
        yield running
    finally:
        running.stop()


@dataclass
class Run:
    code: int
    out: list[str]  # what the command printed on stdout, the functions' JSON log lines left out
    err: str
    seconds: float
    users: list[tuple[Any, ...]]


def run_command(stack: LocalStack, argv: list[str], capsys: pytest.CaptureFixture[str]) -> Run:
    started = time.monotonic()
    code = main(argv)
    seconds = time.monotonic() - started
    captured = capsys.readouterr()
    out = [line for line in captured.out.splitlines() if line and not line.startswith("{")]
    return Run(code, out, captured.err, seconds, users_of(stack))


def users_of(stack: LocalStack) -> list[tuple[Any, ...]]:
    """The users table as the import left it: phone, profile, a password or not, status, source."""
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.moto_url, region_name=stack.region)
    users = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=stack.table_names["UsersTable"]):
        for item in page["Items"]:
            user = from_item(item) or {}
            users.append(
                (
                    user["phone"],
                    tuple(sorted((user.get("profile") or {}).items())),
                    bool(user.get("password_hash")),
                    user.get("active"),
                    user.get("source"),
                )
            )
    return sorted(users)


def counts(run: Run) -> tuple[int, ...]:
    match = COUNTS.match(run.out[-1])
    assert match, run.out[-5:]
    return tuple(int(value) for value in match.groups())


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def test_an_import_job_through_the_pre_signed_url_matches_the_direct_mode(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    with fresh_stack(files, capsys) as stack:
        direct = run_command(stack, [str(files.upload), "--local", stack.url, "--bcrypt-rounds", "10"], capsys)
    assert direct.code == 2, direct.err
    assert counts(direct) == files.expected

    with fresh_stack(files, capsys) as stack:
        run = run_command(stack, [str(files.upload), "--local", stack.url, "--via-api"], capsys)
        match = re.search(r"import ([0-9a-f]{32}): users\.csv uploaded", run.err)
        assert match, run.err
        status, _, answer = signed_fetch(stack, "GET", f"/admin/imports/{match[1]}")
        job = answer["import"]
        with urllib.request.urlopen(job["report_url"], timeout=30) as response:  # noqa: S310 (the local moto URL)
            report = list(csv.DictReader(io.TextIOWrapper(response, encoding="utf-8")))

    assert run.code == 2, run.err
    assert counts(run) == files.expected == counts(direct)
    rejected = [line for line in run.out if line.startswith("row ")]
    assert len(rejected) == files.expected[3]
    assert rejected == [line for line in direct.out if line.startswith("row ")]
    assert run.out == direct.out  # the same lines, in the same order, as the direct mode's
    assert run.users == direct.users
    assert len(run.users) == 100 + files.expected[0]
    assert "Traceback" not in run.err

    # The job as the API shows it: done, the same counts, and a report of every row.
    assert (status, job["status"], job["rows"], job["file_name"]) == (200, "done", ROWS, "users.csv")
    created, updated, unchanged, rejected_count = files.expected
    assert job["counts"] == {
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "rejected": rejected_count,
    }
    assert [int(row["line"]) for row in report] == list(range(2, ROWS + 2))
    assert [f"row {row['line']}: {row['reason']}" for row in report if row["outcome"] == "rejected"] == rejected
    assert not any(re.search(r"\+66\d{8}", row["phone"]) for row in report)  # masked

    job_seconds = seconds_between(job["started_at"], job["finished_at"])
    print(
        f"\nimport job (--local --via-api): {ROWS:,} rows; the job ran {job_seconds:.1f} s "
        f"({ROWS / job_seconds:.0f} rows/s), the command took {run.seconds:.1f} s "
        f"({ROWS / run.seconds:.0f} rows/s: the upload, the event's delivery and polling every 2 s included); "
        f"the direct mode (--local) took {direct.seconds:.1f} s ({ROWS / direct.seconds:.0f} rows/s)"
    )


def test_a_call_signed_with_the_wrong_secret_is_one_line_and_exit_1(
    files: Files, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIALOCALBACKOFFICE1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with fresh_stack(files, capsys) as stack:
        argv = [str(files.upload), "--admin-api", stack.url + "/_admin", "--region", stack.region]
        run = run_command(stack, argv, capsys)

    assert run.code == 1
    assert run.out == []
    (line,) = run.err.splitlines()
    assert line.startswith("import_users: error: POST /admin/imports: HTTP 403 INVALID_SIGNATURE: ")
    assert line.endswith("(check the credentials and that the region is the stack's)")
