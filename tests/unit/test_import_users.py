"""ops.import_users: the back office's CSV becomes users the API can register and sign in.

Runs the importer in-process against the moto account of the autouse `aws` fixture, then
checks the table directly and through the handlers (registration, password login, /auth/me).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import bcrypt
import boto3
import pytest

from ops import import_users
from ops.import_users import ImportReport, import_file, main, progress, writing
from phone_auth.store import imports as store
from phone_auth.store.marshalling import from_item
from phone_auth.store.records import UserRecord
from phone_auth.user_import import hashing
from tests.helpers import (
    Api,
    FakeClock,
    SetEnv,
    existing_user,
    password_hash,
    password_login,
    put_user,
    register,
    stored_password_hash,
    stored_user,
    user_id_of,
)

PHONE = "+66812345678"
OTHER = "+66891234567"
THIRD = "+66620001111"
HEADER = "phone,first_name,last_name,employee_id,password_hash,password"
ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ helpers
def table() -> str:
    return os.environ["USERS_TABLE_NAME"]


def csv_file(tmp_path: Path, *lines: str, bom: bool = False, name: str = "users.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig" if bom else "utf-8")
    return path


def run(path: Path, **kwargs: Any) -> tuple[ImportReport, list[str]]:
    lines: list[str] = []
    kwargs.setdefault("bcrypt_rounds", 4)
    table_name = kwargs.pop("table_name", table())
    report = import_file(path, table_name, progress=lines.append, **kwargs)
    return report, lines


def counts(report: ImportReport) -> tuple[int, int, int, int]:
    return report.created, report.updated, report.unchanged, report.rejected


def scan() -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName=table())["Items"]
    return sorted((from_item(item) or {} for item in items), key=lambda item: item["phone"])


def python_from_the_repo_root(*args: str) -> subprocess.CompletedProcess[str]:
    """This interpreter, from the repository root, with no PYTHONPATH (as a developer types it)."""
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    return subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
        [sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=False
    )


# ------------------------------------------------------------------ counts and idempotency
def test_reports_created_updated_unchanged_and_rejected_rows(tmp_path: Path, clock: FakeClock) -> None:
    put_user(OTHER)  # exists without a profile: the file adds one -> updated
    put_user(THIRD, profile={"first_name": "Suda", "last_name": "Rakthai", "employee_id": "E3"})  # same -> unchanged
    path = csv_file(
        tmp_path,
        HEADER,
        "0812345678,Somchai,Jaidee,E1,,",
        "+66891234567,Anan,Srisuk,E2,,",
        "+66620001111,Suda,Rakthai,E3,,",
        "not-a-phone,Bad,Row,E4,,",
    )

    report, lines = run(path)

    assert counts(report) == (1, 1, 1, 1)
    assert report.rejections == [(5, "phone is not a valid phone number")]
    assert lines == ["row 5: phone is not a valid phone number", "created=1 updated=1 unchanged=1 rejected=1"]
    assert report.exit_code == 2
    created = stored_user(PHONE)
    assert created is not None
    assert created.profile == {"first_name": "Somchai", "last_name": "Jaidee", "employee_id": "E1"}
    assert (created.is_active, created.is_verified, created.session_epoch, created.source) == (
        False,
        False,
        0,
        "import",
    )
    assert created.created_at == created.updated_at == "2027-01-15T08:00:00.000Z"
    assert created.password_hash is None
    updated = stored_user(OTHER)
    assert updated is not None
    assert updated.profile == {"first_name": "Anan", "last_name": "Srisuk", "employee_id": "E2"}
    assert updated.id == user_id_of(OTHER)  # an update never replaces who the user is
    assert updated.updated_at == "2027-01-15T08:00:00.000Z"
    unchanged = stored_user(THIRD)
    assert unchanged is not None
    assert unchanged.updated_at == "2026-01-01T00:00:00.000Z"


def test_new_user_has_a_fresh_uuid_id(tmp_path: Path) -> None:
    import uuid

    run(csv_file(tmp_path, "phone", PHONE, OTHER))

    ids = [item["id"] for item in scan()]
    assert len(set(ids)) == 2
    assert all(uuid.UUID(value).version == 4 for value in ids)


def test_new_users_have_the_stored_user_shape(tmp_path: Path, clock: FakeClock) -> None:
    hashed = password_hash("Hashed-pass-1357", rounds=4)
    run(csv_file(tmp_path, "phone,first_name,password_hash", f"{PHONE},Somchai,{hashed}"))
    run(csv_file(tmp_path, "phone", OTHER, name="no_profile.csv"))

    for item in scan():
        record = UserRecord.from_item(item)
        assert record.to_item() == item  # every stored attribute is a UserRecord field, nothing else
        assert record.source == "import"
    assert existing_user(OTHER).profile == {}


def test_the_importer_does_not_use_the_lambda_repository() -> None:
    """The layer ships only what functions run: the importer's DynamoDB calls live in devtools."""
    code = "import sys, ops.import_users; print(sorted(m for m in sys.modules if m.startswith('phone_auth.repo')))"

    done = python_from_the_repo_root("-c", code)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_second_run_of_the_same_file_changes_nothing(tmp_path: Path, clock: FakeClock) -> None:
    path = csv_file(
        tmp_path,
        HEADER,
        f"{PHONE},Somchai,Jaidee,E1,,Plain-text-2468",
        f"{OTHER},Anan,Srisuk,E2,{password_hash('Hashed-pass-1357', rounds=4)},",
        f"{THIRD},Suda,Rakthai,E3,,",
    )
    first, _ = run(path)
    assert counts(first) == (3, 0, 0, 0)
    before = scan()
    clock.advance(3600)

    second, lines = run(path)

    assert counts(second) == (0, 0, 3, 0)
    assert lines == ["created=0 updated=0 unchanged=3 rejected=0"]
    assert scan() == before  # not even updated_at or the plaintext's hash moved


def test_a_changed_profile_updates_only_that_user_and_keeps_other_fields(tmp_path: Path, clock: FakeClock) -> None:
    run(csv_file(tmp_path, "phone,first_name,team", f"{PHONE},Somchai,Sales", f"{OTHER},Anan,Ops"))
    clock.advance(60)

    report, _ = run(csv_file(tmp_path, "phone,first_name,nickname", f"{PHONE},Somchai,Chai", f"{OTHER},Anan,"))

    assert counts(report) == (0, 1, 1, 0)
    changed, same = stored_user(PHONE), stored_user(OTHER)
    assert changed is not None and same is not None
    assert changed.profile == {"first_name": "Somchai", "team": "Sales", "nickname": "Chai"}
    assert changed.updated_at == "2027-01-15T08:01:00.000Z"
    assert same.profile == {"first_name": "Anan", "team": "Ops"}
    assert same.updated_at == "2027-01-15T08:00:00.000Z"


# ------------------------------------------------------------------ phones
def test_two_spellings_of_one_number_make_one_user_and_the_second_row_is_a_duplicate(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "phone,first_name", "081-234-5678,Somchai", "+66 81 234 5678,Somsak")

    report, lines = run(path)

    assert counts(report) == (1, 0, 0, 1)
    assert [item["phone"] for item in scan()] == [PHONE]
    assert scan()[0]["profile"] == {"first_name": "Somchai"}
    assert report.rejections == [(3, "duplicate phone: the same number as row 2")]
    assert lines[0] == "row 3: duplicate phone: the same number as row 2"


def test_phones_are_normalised_like_the_api_in_the_default_region(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "phone", "0812345678", "0066891234567", "062 000 1111")

    report, _ = run(path)

    assert counts(report) == (3, 0, 0, 0)
    assert [item["phone"] for item in scan()] == [THIRD, PHONE, OTHER]


def test_default_region_reads_national_numbers_of_another_country(tmp_path: Path) -> None:
    report, _ = run(csv_file(tmp_path, "phone", "(201) 555-0123"), default_region="US")

    assert counts(report) == (1, 0, 0, 0)
    assert [item["phone"] for item in scan()] == ["+12015550123"]


def test_a_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    report, _ = run(csv_file(tmp_path, "phone,first_name", f"{PHONE},สมชาย", bom=True))

    assert counts(report) == (1, 0, 0, 0)
    user = stored_user(PHONE)
    assert user is not None and user.profile == {"first_name": "สมชาย"}


# ------------------------------------------------------------------ header names, delimiters, encoding
@pytest.mark.parametrize("name", ["phone", "PHONE", "mobile", "Mobile", "mobile_phone", "MobilePhone", "mobilePhone"])
def test_phone_column_aliases_in_any_case(tmp_path: Path, name: str) -> None:
    report, _ = run(csv_file(tmp_path, f"{name},first_name", f"{PHONE},Somchai"))

    assert counts(report) == (1, 0, 0, 0)
    assert existing_user(PHONE).profile == {"first_name": "Somchai"}  # the phone is no profile field


@pytest.mark.parametrize(("hash_name", "password_name"), [("password_hash", "password"), ("PasswordHash", "Password")])
def test_password_column_aliases(tmp_path: Path, api: Api, hash_name: str, password_name: str) -> None:
    given = password_hash("Hashed-pass-1357", rounds=4)
    path = csv_file(
        tmp_path, f"MobilePhone,{hash_name},{password_name}", f"{PHONE},{given},", f"{OTHER},,Plain-text-2468"
    )

    report, _ = run(path)

    assert counts(report) == (2, 0, 0, 0)
    assert existing_user(PHONE).password_hash == given
    assert password_login(api, PHONE, "Hashed-pass-1357")[0] == 200
    assert password_login(api, OTHER, "Plain-text-2468")[0] == 200
    assert all("profile" not in item for item in scan())  # no password ends up as a profile field


@pytest.mark.parametrize("delimiter", [";", "\t"], ids=["semicolon", "tab"])
def test_semicolon_and_tab_separated_files(tmp_path: Path, delimiter: str) -> None:
    rows = [
        ["phone", "first_name", "last_name", "password"],
        ["081-234-5678", "Somchai", "Jaidee, Jr.", "Plain-text-2468"],  # a comma is data here
        [OTHER, "Anan", "Srisuk", ""],
        ["12345", "Bad", "Row", ""],
    ]
    path = csv_file(tmp_path, *(delimiter.join(row) for row in rows))

    report, lines = run(path)

    assert counts(report) == (2, 0, 0, 1)
    assert lines[0] == "row 4: phone is not a valid phone number"
    assert existing_user(PHONE).profile == {"first_name": "Somchai", "last_name": "Jaidee, Jr."}
    assert bcrypt.checkpw(b"Plain-text-2468", stored_password_hash(PHONE).encode())
    assert existing_user(OTHER).profile == {"first_name": "Anan", "last_name": "Srisuk"}


def test_a_spreadsheet_export_with_bom_semicolons_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes("\ufeffMobilePhone;Name;Team\r\n0812345678;สมชาย;Sales\r\n".encode())

    report, _ = run(path)

    assert counts(report) == (1, 0, 0, 0)
    assert existing_user(PHONE).profile == {"Name": "สมชาย", "Team": "Sales"}


def test_a_one_column_file_is_read_with_commas(tmp_path: Path) -> None:
    report, _ = run(csv_file(tmp_path, "phone", PHONE, "0891234567"))

    assert counts(report) == (2, 0, 0, 0)


# ------------------------------------------------------------------ passwords
def test_import_never_overwrites_the_password_a_user_registered_with(tmp_path: Path, api: Api, env: SetEnv) -> None:
    env(SIGNUP_MODE="imported")
    run(csv_file(tmp_path, "phone,first_name", f"{PHONE},Somchai", name="first.csv"))
    register(api, PHONE, "My-own-choice-42")
    registered_hash = existing_user(PHONE).password_hash

    report, _ = run(
        csv_file(tmp_path, "phone,first_name,password", f"{PHONE},Somchai,From-the-file-99", name="again.csv")
    )
    assert counts(report) == (0, 0, 1, 0)
    hashed = password_hash("Hash-file-77", rounds=4)
    report, _ = run(csv_file(tmp_path, "phone,first_name,password_hash", f"{PHONE},Somchai,{hashed}", name="h.csv"))
    assert counts(report) == (0, 0, 1, 0)

    assert existing_user(PHONE).password_hash == registered_hash
    assert password_login(api, PHONE, "My-own-choice-42")[0] == 200
    assert password_login(api, PHONE, "From-the-file-99")[1]["error"]["code"] == "INVALID_CREDENTIALS"
    assert password_login(api, PHONE, "Hash-file-77")[1]["error"]["code"] == "INVALID_CREDENTIALS"


def test_a_password_is_set_for_an_existing_user_who_has_none(tmp_path: Path, api: Api) -> None:
    put_user(PHONE, profile={"first_name": "Somchai"})

    report, _ = run(csv_file(tmp_path, "phone,first_name,password", f"{PHONE},Somchai,Given-by-office-5"))

    assert counts(report) == (0, 1, 0, 0)
    assert password_login(api, PHONE, "Given-by-office-5")[0] == 200


def test_a_user_who_registers_during_the_import_keeps_their_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch read says "no such user", but the user signs up before the write: the
    conditional create fails, the row is re-read and computed again, the password stays."""
    real_batch_get = store.batch_get_users
    calls: list[list[str]] = []

    def stale_then_real(table_name: str, phones: list[str], **kwargs: Any) -> dict[str, Any]:
        calls.append(list(phones))
        if len(calls) == 1:
            put_user(PHONE, password_hash=password_hash("Registered-meanwhile-1", rounds=4))  # the user registers now
            return {}
        return real_batch_get(table_name, phones, **kwargs)

    monkeypatch.setattr(store, "batch_get_users", stale_then_real)

    report, _ = run(csv_file(tmp_path, "phone,first_name,password", f"{PHONE},Somchai,From-the-file-99"))

    assert counts(report) == (0, 1, 0, 0)  # the profile was added, nothing else
    assert bcrypt.checkpw(b"Registered-meanwhile-1", stored_password_hash(PHONE).encode())
    user = existing_user(PHONE)
    assert user.id == user_id_of(PHONE)
    assert user.profile == {"first_name": "Somchai"}
    assert calls == [[PHONE], [PHONE]]


def test_a_password_set_between_read_and_update_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_user(PHONE)
    real_batch_get = store.batch_get_users
    calls: list[int] = []

    def stale_then_real(table_name: str, phones: list[str], **kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        found = real_batch_get(table_name, phones, **kwargs)
        if len(calls) == 1:
            put_user(PHONE, password_hash=password_hash("Registered-meanwhile-1", rounds=4))
        return found

    monkeypatch.setattr(store, "batch_get_users", stale_then_real)

    report, _ = run(csv_file(tmp_path, "phone,password", f"{PHONE},From-the-file-99"))

    assert counts(report) == (0, 0, 1, 0)
    assert bcrypt.checkpw(b"Registered-meanwhile-1", stored_password_hash(PHONE).encode())


def test_password_hash_is_stored_verbatim(tmp_path: Path, api: Api) -> None:
    given = password_hash("Hashed-pass-1357", rounds=4)

    run(csv_file(tmp_path, "phone,password_hash", f"{PHONE},{given}"))

    assert existing_user(PHONE).password_hash == given
    assert password_login(api, PHONE, "Hashed-pass-1357")[0] == 200


def test_plaintext_password_is_stored_only_as_a_bcrypt_hash(tmp_path: Path, api: Api) -> None:
    path = csv_file(tmp_path, "phone,password,first_name", f"{PHONE},Plain-text-2468,Somchai")

    report, lines = run(path, bcrypt_rounds=5)

    assert counts(report) == (1, 0, 0, 0)
    dump = json.dumps(scan(), ensure_ascii=False)
    assert "Plain-text-2468" not in dump
    assert "Plain-text-2468" not in "\n".join(lines)
    stored = stored_password_hash(PHONE)
    assert stored.startswith("$2b$05$")
    assert bcrypt.checkpw(b"Plain-text-2468", stored.encode())
    assert "password" not in existing_user(PHONE).profile
    assert password_login(api, PHONE, "Plain-text-2468")[0] == 200


def test_plaintext_passwords_are_hashed_in_parallel_one_thread_per_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth import passwords

    real_hash = passwords.hash_password
    lock = threading.Lock()
    running: list[str] = []
    peak: list[int] = [0]
    threads: set[str] = set()

    def observed_hash(password: str, rounds: int) -> str:
        with lock:
            running.append(password)
            peak[0] = max(peak[0], len(running))
            threads.add(threading.current_thread().name)
        time.sleep(0.2)  # long enough for every worker to be inside at once
        try:
            return real_hash(password, rounds)
        finally:
            with lock:
                running.remove(password)

    monkeypatch.setattr(hashing, "usable_cores", lambda: 4)
    monkeypatch.setattr(passwords, "hash_password", observed_hash)
    given = {f"+668111{n:05d}": f"Parallel-pass-{n:02d}" for n in range(8)}
    path = csv_file(tmp_path, "phone,password", *(f"{phone},{password}" for phone, password in given.items()))

    report, _ = run(path, bcrypt_rounds=5)

    assert counts(report) == (8, 0, 0, 0)
    assert peak[0] == 4  # four hashes at once: one per (pretended) core
    assert all(name.startswith("bcrypt") for name in threads)
    for phone, password in given.items():
        stored = stored_password_hash(phone)
        assert stored.startswith("$2b$05$")
        assert bcrypt.checkpw(password.encode(), stored.encode())
        assert not bcrypt.checkpw(b"Parallel-pass-99", stored.encode())
    assert len({existing_user(phone).password_hash for phone in given}) == 8  # one salt each


def test_the_hash_pool_has_one_thread_per_usable_core() -> None:
    hasher = hashing.Hasher(rounds=4)
    try:
        assert hasher.workers == len(os.sched_getaffinity(0))
    finally:
        hasher.close()


def test_a_second_run_hashes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from phone_auth import passwords

    path = csv_file(tmp_path, "phone,password", f"{PHONE},Plain-text-2468", f"{OTHER},Plain-text-1357")
    run(path)
    hashed: list[str] = []

    def counted(password: str, rounds: int) -> str:
        hashed.append(password)
        return ""

    monkeypatch.setattr(passwords, "hash_password", counted)

    report, _ = run(path)

    assert counts(report) == (0, 0, 2, 0)
    assert hashed == []  # the users have a password: bcrypt's cost is not paid again


# ------------------------------------------------------------------ profile through the API
def test_profile_fields_are_returned_by_me_after_the_imported_user_signs_in(
    tmp_path: Path, api: Api, env: SetEnv
) -> None:
    env(SIGNUP_MODE="imported")
    run(csv_file(tmp_path, "phone,first_name,last_name,employee_id", "081-234-5678,สมชาย,ใจดี,E1001"))

    signed_in = register(api, PHONE, "My-own-choice-42")
    status, body, _ = api.call("me", token=signed_in["access_token"])

    assert status == 200, body
    assert body["user"]["profile"] == {"first_name": "สมชาย", "last_name": "ใจดี", "employee_id": "E1001"}
    assert signed_in["user"]["profile"] == body["user"]["profile"]
    assert body["user"]["phone"] == PHONE


# ------------------------------------------------------------------ dry run
def test_dry_run_writes_nothing_and_counts_like_a_real_run(tmp_path: Path) -> None:
    put_user(OTHER)
    path = csv_file(tmp_path, "phone,first_name,password", f"{PHONE},A,Plain-text-2468", f"{OTHER},B,", "x,C,")

    dry, lines = run(path, dry_run=True)

    assert [item["phone"] for item in scan()] == [OTHER]
    assert existing_user(OTHER).profile == {}
    assert lines[-1] == "created=1 updated=1 unchanged=0 rejected=1 (dry run: nothing written)"
    real, _ = run(path)
    assert counts(dry) == counts(real) == (1, 1, 0, 1)


def no_dynamodb(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) every DynamoDB call the importer makes."""
    calls: list[str] = []

    def refuse(client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
        calls.append(operation)
        raise AssertionError(f"a dry run without a table called {operation}")

    monkeypatch.setattr(store, "_call", refuse)
    monkeypatch.setattr(writing, "make_client", lambda **kwargs: pytest.fail("a client was made"))
    return calls


def test_dry_run_without_a_table_checks_the_rows_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    put_user(OTHER)  # would be "unchanged" or "updated" if the table were read
    calls = no_dynamodb(monkeypatch)
    path = csv_file(tmp_path, "phone,first_name,password", f"{PHONE},A,Plain-text-2468", f"{OTHER},B,", "x,C,")

    report, lines = run(path, dry_run=True, table_name=None)

    assert (report.valid, report.rejected, report.rows) == (2, 1, 3)
    assert counts(report) == (0, 0, 0, 1)
    assert lines == [
        "row 4: phone is not a valid phone number",
        "valid=2 rejected=1 (dry run without a table: rows checked only, not compared with existing users)",
    ]
    assert calls == []


def test_without_a_table_only_a_dry_run_goes_on(tmp_path: Path) -> None:
    with pytest.raises(import_users.ImportFailed, match="no users table"):
        import_file(csv_file(tmp_path, "phone", PHONE), None)


def test_cli_dry_run_without_any_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("USERS_TABLE_NAME")
    calls = no_dynamodb(monkeypatch)

    code = main([str(csv_file(tmp_path, "phone", PHONE, OTHER)), "--dry-run"])

    captured = capsys.readouterr()
    assert code == 0
    assert captured.out.splitlines() == [
        "valid=2 rejected=0 (dry run without a table: rows checked only, not compared with existing users)"
    ]
    assert captured.err == ""
    assert calls == []


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cli_dry_run_with_no_local_stack_running_checks_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = no_dynamodb(monkeypatch)
    url = f"http://127.0.0.1:{closed_port()}"
    path = csv_file(tmp_path, "phone", PHONE, "12345", OTHER)

    code = main([str(path), "--local", url, "--dry-run"])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out.splitlines() == [
        "row 3: phone is not a valid phone number",
        "valid=2 rejected=1 (dry run without a table: rows checked only, not compared with existing users)",
    ]
    assert captured.err.splitlines() == [
        f"import_users: no local stack answers at {url}: checking the file only, without comparing it with "
        "existing users",
        "1 row is invalid (listed above); the other 2 rows are valid. The file was not compared with existing users.",
    ]
    assert calls == []


def test_cli_import_with_no_local_stack_running_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    code = main([str(csv_file(tmp_path, "phone", PHONE)), "--local", url])

    assert code == 1
    assert f"no local stack answers at {url} (start it with `make run`)" in capsys.readouterr().err
    assert scan() == []


# ------------------------------------------------------------------ bad rows
def test_bad_rows_are_skipped_and_reported_by_line_number(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        HEADER,  # line 1
        f"{PHONE},Good,Row,E1,,",  # 2
        ",No,Phone,E2,,",  # 3
        "",  # 4: blank lines are skipped but still counted
        "02-123-4567,Land,Line,E3,,",  # 5
        f"{OTHER},Both,Passwords,E4,{password_hash('Hashed-pass-1357', rounds=4)},Plain-text-2468",  # 6
        f"{OTHER},Bad,Hash,E5,not-a-bcrypt-hash,",  # 7
        f"{THIRD},Short,Password,E6,,short",  # 8
        "+66811112222,Common,Password,E7,,password123",  # 9
        "+66811112223,Phone,Password,E8,,0811112223",  # 10
        "+66811112224,Too,Many,E9,,,extra",  # 11
        '"+66811112225","Multi',  # 12: a quoted field over two lines
        'line",Name,E10,,',  # 13
        f"{PHONE},Dup,Row,E11,,",  # 14
    )

    report, lines = run(path)

    assert counts(report) == (2, 0, 0, 9)
    assert report.rejections == [
        (3, "phone is empty"),
        (5, "phone is not a mobile number (cannot receive SMS)"),
        (6, "both password and password_hash are given; keep one"),
        (7, "duplicate phone: the same number as row 6"),
        (8, "password refused: The password must be at least 8 characters."),
        (9, "password refused: This password is too common. Choose another one."),
        (10, "password refused: The password must not be your phone number."),
        (11, "7 fields but the header has 6"),
        (14, "duplicate phone: the same number as row 2"),
    ]
    assert lines[:-1] == [f"row {line}: {reason}" for line, reason in report.rejections]
    output = "\n".join(lines)
    for secret_or_phone in ("Plain-text-2468", "short", "password123", "0811112223", "6681111222", "123-4567"):
        assert secret_or_phone not in output
    assert [item["phone"] for item in scan()] == ["+66811112225", PHONE]
    assert existing_user("+66811112225").profile["first_name"] == "Multi\nline"


def test_a_bad_password_hash_is_rejected(tmp_path: Path) -> None:
    truncated = password_hash("Hashed-pass-1357", rounds=4)[:-1]

    report, _ = run(csv_file(tmp_path, "phone,password_hash", f"{PHONE},{truncated}", f"{OTHER},$1$md5$crypt"))

    assert report.rejections == [
        (2, "password_hash is not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters)"),
        (3, "password_hash is not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters)"),
    ]
    assert scan() == []


def test_a_password_longer_than_72_bytes_is_rejected(tmp_path: Path) -> None:
    report, _ = run(csv_file(tmp_path, "phone,password", f"{PHONE},{'รหัส' * 8}"))  # 32 characters, 96 bytes

    assert report.rejections == [(2, "password refused: The password must be at most 72 bytes (UTF-8).")]


class SteppingClock:
    """progress.monotonic: each reading is `step` seconds after the previous one."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_off_a_terminal_is_plain_lines_with_rate_and_eta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(progress, "monotonic", SteppingClock(6))  # batches end 6 s apart; plain lines every 10 s
    phones = [f"+668111{n:05d}" for n in range(250)]
    path = csv_file(tmp_path, "phone", *phones)

    code = main([str(path), "--table", table()])

    captured = capsys.readouterr()
    assert code == 0
    assert captured.err.splitlines() == [
        "... 200/250 rows (80 %), 16.7 rows/s, ETA 3 s | created=200 updated=0 unchanged=0 rejected=0",
        "... 250 rows in 24 s, 10.4 rows/s",
    ]
    assert "\r" not in captured.err
    assert not any(phone[1:] in captured.err or phone[-9:] in captured.err for phone in phones)
    assert captured.out.splitlines() == ["created=250 updated=0 unchanged=0 rejected=0"]


def test_progress_on_a_terminal_rewrites_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(progress, "monotonic", SteppingClock(1))
    monkeypatch.setenv("COLUMNS", "200")
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    phones = [f"+668111{n:05d}" for n in range(250)]
    path = csv_file(tmp_path, "phone", *phones[:150], "12345", *phones[150:])  # line 152 is bad

    code = main([str(path), "--table", table()])

    assert code == 2
    status, note = terminal.getvalue().split("\n", 1)  # the status line is ended once, at the end
    assert note.startswith("1 row was rejected (listed above); the other 250 rows were imported.")
    shown = [part.removesuffix("\x1b[K") for part in status.split("\r") if part]
    assert shown == [
        "... 100/251 rows (39 %), 100.0 rows/s, ETA 2 s | created=100 updated=0 unchanged=0 rejected=0",
        "",  # cleared for "row 152: ..." on stdout
        "... 200/251 rows (79 %), 100.0 rows/s, ETA 1 s | created=199 updated=0 unchanged=0 rejected=1",
        "... 251/251 rows (100 %), 83.7 rows/s, ETA 0 s | created=250 updated=0 unchanged=0 rejected=1",
        "... 251 rows in 4 s, 62.8 rows/s",
    ]
    assert capsys.readouterr().out.splitlines() == [
        "row 152: phone is not a valid phone number",
        "created=250 updated=0 unchanged=0 rejected=1",
    ]


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0 s"), (42, "42 s"), (185, "3 min 05 s"), (3725, "1 h 02 min")])
def test_durations_read_like_a_person_writes_them(seconds: float, text: str) -> None:
    assert progress.duration(seconds) == text


def test_batches_of_one_hundred_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real_batch_get = store.batch_get_users

    def counting(table_name: str, phones: list[str], **kwargs: Any) -> dict[str, Any]:
        sizes.append(len(phones))
        return real_batch_get(table_name, phones, **kwargs)

    monkeypatch.setattr(store, "batch_get_users", counting)
    path = csv_file(tmp_path, "phone", *[f"+668111{n:05d}" for n in range(250)])

    report, _ = run(path)

    assert counts(report) == (250, 0, 0, 0)
    assert sizes == [100, 100, 50]
    assert len(scan()) == 250


def test_a_fatal_dynamodb_error_stops_the_run_and_says_how_far_it_got(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_batch_get = store.batch_get_users
    calls: list[int] = []

    def second_read_fails(table_name: str, phones: list[str], **kwargs: Any) -> dict[str, Any]:
        calls.append(len(phones))
        if len(calls) == 2:
            raise store.ImportStoreError("AccessDeniedException", "not allowed", fatal=True)
        return real_batch_get(table_name, phones, **kwargs)

    monkeypatch.setattr(store, "batch_get_users", second_read_fails)
    path = csv_file(tmp_path, "phone,password", *[f"+668111{n:05d},Plain-text-{n:04d}" for n in range(250)])

    code = main([str(path), "--table", table(), "--bcrypt-rounds", "4"])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.splitlines()[-1] == (
        "import_users: error: DynamoDB: AccessDeniedException: not allowed after 100 rows (re-running the file is safe)"
    )
    assert calls == [100, 100]
    assert len(scan()) == 100  # the first batch, written and counted before the run stopped
    assert captured.out == ""


def test_local_stack_signature_path_and_table_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = import_file(str(csv_file(tmp_path, "phone,first_name", f"{PHONE},Somchai")), table())

    assert counts(report) == (1, 0, 0, 0)
    assert capsys.readouterr().out.strip().splitlines()[-1] == "created=1 updated=0 unchanged=0 rejected=0"


def test_sample_file_imports_with_one_rejection(api: Api) -> None:
    sample = ROOT / "devtools" / "sample_users.csv"

    report, lines = run(sample)

    assert counts(report) == (5, 0, 0, 1)
    assert lines[0].startswith("row 7: ")
    assert password_login(api, "+66891234567", "Siam-demo-2468")[0] == 200
    assert password_login(api, "+66898887777", "Bangkok-demo-1357")[0] == 200
    assert password_login(api, "0811112222", "whatever-it-is")[1]["error"]["code"] == "REGISTRATION_REQUIRED"
    assert stored_user("+66620001111") is not None


# ------------------------------------------------------------------ command line
def test_help_works_from_the_repo_root_without_pythonpath() -> None:
    done = python_from_the_repo_root("-m", "ops.import_users", "--help")

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m ops.import_users")
    assert "--dry-run" in done.stdout


def test_cli_exit_code_0_and_one_summary_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = csv_file(tmp_path, "phone,first_name", f"{PHONE},Somchai")

    code = main([str(path), "--table", table(), "--bcrypt-rounds", "4"])

    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines() == ["created=1 updated=0 unchanged=0 rejected=0"]


def test_cli_exit_code_2_when_rows_are_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = csv_file(tmp_path, "phone", PHONE, "12345")

    code = main([str(path), "--table", table()])

    assert code == 2
    assert capsys.readouterr().out.splitlines() == [
        "row 3: phone is not a valid phone number",
        "created=1 updated=0 unchanged=0 rejected=1",
    ]


def test_cli_says_plainly_that_the_other_rows_were_imported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = csv_file(tmp_path, "phone", PHONE, "12345", OTHER, "", "not-a-phone", THIRD, "0812345678")

    code = main([str(path), "--table", table()])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out.splitlines() == [
        "row 3: phone is not a valid phone number",
        "row 6: phone is not a valid phone number",
        "row 8: duplicate phone: the same number as row 2",
        "created=3 updated=0 unchanged=0 rejected=3",
    ]
    assert captured.err.splitlines() == [
        "3 rows were rejected (listed above); the other 3 rows were imported. "
        "Fix them and run the same file again: rows already imported stay unchanged."
    ]
    assert "Traceback" not in captured.err
    assert len(scan()) == 3


@pytest.mark.parametrize(
    ("report", "note"),
    [
        (ImportReport(created=4), None),
        (
            ImportReport(created=3, unchanged=1, rejected=1),
            "1 row was rejected (listed above); the other 4 rows were imported. "
            "Fix it and run the same file again: rows already imported stay unchanged.",
        ),
        (
            ImportReport(updated=1, rejected=2),
            "2 rows were rejected (listed above); the other row was imported. "
            "Fix them and run the same file again: rows already imported stay unchanged.",
        ),
        (
            ImportReport(rejected=2),
            "2 rows were rejected (listed above); no other row was imported. "
            "Fix them and run the same file again: rows already imported stay unchanged.",
        ),
        (
            ImportReport(created=2, rejected=1, dry_run=True),
            "1 row would be rejected (listed above); the other 2 rows would be imported. "
            "Nothing was written (dry run).",
        ),
        (
            ImportReport(valid=1, rejected=2, dry_run=True, compared=False),
            "2 rows are invalid (listed above); the other row is valid. The file was not compared with existing users.",
        ),
    ],
)
def test_the_closing_note_counts_the_rows(report: ImportReport, note: str | None) -> None:
    assert report.closing_note() == note


def test_make_import_uses_the_local_stack_on_port_and_dry_run() -> None:
    def command(*variables: str) -> str:
        done = subprocess.run(  # noqa: S603 (fixed arguments)
            ["make", "-s", "-n", "import", *variables],  # noqa: S607 (make on PATH, as a developer runs it)
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.splitlines()[-1]

    assert "-m ops.import_users" in command("FILE=users.csv")
    assert "--local http://127.0.0.1:3000" in command("FILE=users.csv")
    assert "--local http://127.0.0.1:3123" in command("FILE=users.csv", "PORT=3123")
    assert command("FILE=users.csv", "DRY_RUN=1").endswith("--dry-run")
    assert "--dry-run" not in command("FILE=users.csv", "DRY_RUN=0")
    staged = command("FILE=users.csv", "STACK=phone-auth-th-dev", "DRY_RUN=1")
    assert "--stack phone-auth-th-dev" in staged and "--local" not in staged and staged.endswith("--dry-run")
    assert command("FILE=users.csv", "VIA_API=1").split()[-3:] == ["--local", "http://127.0.0.1:3000", "--via-api"]
    assert "--via-api" not in command("FILE=users.csv", "VIA_API=0")
    given = command("FILE=users.csv", "ADMIN_API=https://a1.execute-api.ap-southeast-1.amazonaws.com/admin")
    assert "--admin-api https://a1.execute-api.ap-southeast-1.amazonaws.com/admin" in given and "--local" not in given


def test_cli_dry_run_says_so_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(csv_file(tmp_path, "phone", PHONE)), "--table", table(), "--dry-run"])

    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "created=1 updated=0 unchanged=0 rejected=0 (dry run: nothing written)"
    ]
    assert scan() == []


def test_cli_reads_the_table_from_the_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(csv_file(tmp_path, "phone", PHONE))])

    assert code == 0
    assert [item["phone"] for item in scan()] == [PHONE]


def test_cli_exit_code_1_for_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(tmp_path / "nope.csv"), "--table", table()])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert "no such file" in captured.err


def test_cli_exit_code_1_for_a_missing_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(csv_file(tmp_path, "phone", PHONE)), "--table", "no-such-table"])

    captured = capsys.readouterr()
    assert code == 1
    assert "no-such-table does not exist" in captured.err
    assert captured.out == ""


def test_cli_exit_code_1_for_a_table_with_another_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(csv_file(tmp_path, "phone", PHONE)), "--table", os.environ["OTP_TABLE_NAME"]])

    assert code == 1
    assert "ValidationException" in capsys.readouterr().err


def test_cli_exit_code_1_without_a_phone_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(csv_file(tmp_path, "tel,first_name", f"{PHONE},A")), "--table", table()])

    assert code == 1
    assert "no phone column (phone, mobile, mobile_phone, MobilePhone or mobilePhone" in capsys.readouterr().err
    assert scan() == []


def test_cli_exit_code_1_when_two_columns_are_the_phone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(csv_file(tmp_path, "phone,first_name,Mobile", f"{PHONE},A,{OTHER}")), "--table", table()])

    assert code == 1
    assert "the header names the phone column twice ('phone' and 'Mobile')" in capsys.readouterr().err
    assert scan() == []


def test_cli_exit_code_1_for_a_file_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("phone,first_name\n+66812345678,Andr\xe9\n".encode("latin-1"))

    code = main([str(path), "--table", table()])

    assert code == 1
    assert "not UTF-8" in capsys.readouterr().err
