"""Reading the file: its records with their line numbers, the header, and each row's checks.

The file is UTF-8 with or without a BOM; its delimiter (``,`` ``;`` or tab) is the one
that splits the header line into the most columns. Header names are matched without
regard to case, with the aliases spreadsheets and other systems use
(``phone_auth.user_import.ALIASES``). A row that passes becomes a ``Row`` (phone in E.164,
then ``phone_auth.user_import.check_row``: the checks the admin API's PUT makes too); one
that does not raises ``RowRejected`` with the reason the operator sees.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from phone_auth import user_import
from phone_auth.errors import InvalidPhone, NotAMobilePhone
from phone_auth.phones import normalize_phone
from phone_auth.user_import import PASSWORD, PASSWORD_HASH, PHONE, HeaderRejected, Row, RowRejected, check_row
from phone_auth.user_import.report import ImportFailed

DELIMITERS = (",", ";", "\t")  # the first wins a tie


def _open(path: Path) -> TextIO:
    try:
        return path.open("r", encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise ImportFailed(f"{path}: no such file") from None
    except OSError as exc:
        raise ImportFailed(f"{path}: {exc.strerror or exc}") from None


def sniff_delimiter(path: Path) -> str:
    """The delimiter that splits the first line into the most fields (``,`` if none does)."""
    with _open(path) as handle:
        try:
            first_line = handle.readline()
        except UnicodeDecodeError:
            raise ImportFailed(f"{path}: not UTF-8 text (near line 1)") from None
    best, most = DELIMITERS[0], 1
    for delimiter in DELIMITERS:
        fields = next(csv.reader([first_line], delimiter=delimiter), [])
        if len(fields) > most:
            best, most = delimiter, len(fields)
    return best


def read_records(path: Path, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """(line number where the record starts, fields) for each non-blank record, the header
    first (line 1 when the file starts with it)."""
    with _open(path) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
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


def count_rows(path: Path, delimiter: str = ",") -> int | None:
    """How many non-blank records follow the header (for the time left); None if the file
    cannot be read to the end (the import itself then reports where and why)."""
    try:
        return max(0, sum(1 for _ in read_records(path, delimiter)) - 1)
    except ImportFailed:
        return None


def header(fields: list[str]) -> list[str]:
    """The column names (``phone_auth.user_import.header``); ImportFailed when it refuses them."""
    try:
        return user_import.header(fields)
    except HeaderRejected as exc:
        raise ImportFailed(str(exc)) from None


class Validator:
    """Checks rows in file order; remembers each phone's first row to reject duplicates."""

    def __init__(self, header: list[str], default_region: str) -> None:
        self.header = header
        self.default_region = default_region
        self.first_row_of: dict[str, int] = {}
        #: The phone of the row checked last, once it was read (None before that).
        self.last_phone: str | None = None

    def row(self, line: int, fields: list[str]) -> Row:
        self.last_phone = None
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
        self.last_phone = phone
        first = self.first_row_of.setdefault(phone, line)
        if first != line:
            raise RowRejected(f"duplicate phone: the same number as row {first}")
        password, password_hash = values.pop(PASSWORD, None), values.pop(PASSWORD_HASH, None)
        return check_row(line, phone, values, password=password, password_hash=password_hash)
