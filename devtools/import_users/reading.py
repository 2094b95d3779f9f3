"""Reading the file: its records with their line numbers, the header, and each row's checks.

A row that passes becomes a ``Row`` (phone in E.164, password policy checked, profile
fields sized); one that does not raises ``RowRejected`` with the reason the operator sees.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devtools.import_users.report import ImportFailed
from phone_auth import passwords
from phone_auth.errors import AuthError, InvalidPhone, NotAMobilePhone
from phone_auth.messages import message
from phone_auth.phones import normalize_phone

PHONE, PASSWORD, PASSWORD_HASH = "phone", "password", "password_hash"
RESERVED = (PHONE, PASSWORD, PASSWORD_HASH)
MAX_PROFILE_KEY = 64
MAX_PROFILE_VALUE = 1024


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
    """The row is skipped; the message is the reason shown as ``row N: reason``."""


def read_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number where the record starts, fields) for each non-blank record, the header
    first (line 1 when the file starts with it)."""
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


def header(fields: list[str]) -> list[str]:
    """The column names; the reserved ones (phone, password, password_hash) in lower case."""
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


class Validator:
    """Checks rows in file order; remembers each phone's first row to reject duplicates."""

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
