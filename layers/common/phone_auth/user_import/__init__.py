"""Back-office users in: the one validation and write planning behind ``make import``, the
admin API's ``PUT /admin/users/{phone}`` and the import jobs.

- ``header`` names a file's columns (``phone``, ``password``, ``password_hash`` under any of
  their ``ALIASES``, any case; every other column is a profile field).
- ``check_row`` turns one row's values (a phone already in E.164, the other columns by name)
  into a ``Row``: the password policy, a bcrypt hash's shape, both given, the profile's sizes.
  ``RowRejected`` carries the reason an operator reads.
- ``plan`` says what a row changes for the user as read: create, update (profile fields one
  by one, a first password) or nothing. A password the user already has is never replaced.
- ``new_user`` is the ``UserRecord`` a row creates; ``phone_auth.store.back_office`` holds the
  writes (a Put only while the phone is free, a conditional UpdateItem) and runs them on the
  Lambda's client, ``ops.import_users`` runs the same requests on the operator's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from phone_auth import passwords
from phone_auth.errors import AuthError
from phone_auth.messages import message
from phone_auth.store.records import UserRecord, UserSource

PHONE, PASSWORD, PASSWORD_HASH = "phone", "password", "password_hash"
# Header names (any case) -> the column they are; every other name is a profile field.
ALIASES = {
    PHONE: ("phone", "mobile", "mobile_phone", "MobilePhone", "mobilePhone"),
    PASSWORD_HASH: ("password_hash", "PasswordHash"),
    PASSWORD: ("password", "Password"),
}
COLUMN_OF = {alias.lower(): column for column, aliases in ALIASES.items() for alias in aliases}
MAX_PROFILE_KEY = 64
MAX_PROFILE_VALUE = 1024
MAX_PROFILE_FIELDS = 100
SOURCE: UserSource = "import"


class RowRejected(Exception):
    """The row is skipped; the message is the reason shown as ``row N: reason``."""


class HeaderRejected(ValueError):
    """The header row cannot be read as an import's (no phone column, a column twice)."""


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


def header(fields: list[str]) -> list[str]:
    """The column names: phone, password and password_hash for those columns (whichever
    alias the file uses), profile field names as written. HeaderRejected when a column is
    named twice or there is no phone column."""
    names = [name.strip() for name in fields]
    columns = [COLUMN_OF.get(name.lower(), name) for name in names]
    first_name_of: dict[str, str] = {}
    for name, column in zip(names, columns, strict=True):
        if not name:
            continue
        if column in first_name_of:
            first = first_name_of[column]
            twice = f"column {name!r} twice" if first == name else f"the {column} column twice ({first!r} and {name!r})"
            raise HeaderRejected(f"the header names {twice}")
        first_name_of[column] = name
    if PHONE not in first_name_of:
        raise HeaderRejected(f"the header has no phone column ({_either(ALIASES[PHONE])}; header row required)")
    return columns


def _either(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1]


def check_row(
    line: int, phone: str, profile: dict[str, str], *, password: str | None, password_hash: str | None
) -> Row:
    """The row of ``phone`` (E.164) with these values, checked; RowRejected says why not."""
    if password is not None and password_hash is not None:
        raise RowRejected("both password and password_hash are given; keep one")
    if password_hash is not None and not passwords.is_bcrypt_hash(password_hash):
        raise RowRejected("password_hash is not a bcrypt hash ($2a$/$2b$/$2y$, 60 characters)")
    if password is not None:
        try:
            passwords.check_policy(password, phone)
        except AuthError as exc:
            raise RowRejected(f"password refused: {message(exc.code)}") from None
    if len(profile) > MAX_PROFILE_FIELDS:
        raise RowRejected(f"more than {MAX_PROFILE_FIELDS} profile fields")
    for name, value in profile.items():
        if not name:
            raise RowRejected("a profile field without a name")
        if name.lower() in COLUMN_OF:
            raise RowRejected(f"{name} is a column of its own, not a profile field")
        if len(name) > MAX_PROFILE_KEY:
            raise RowRejected(f"column name longer than {MAX_PROFILE_KEY} characters")
        if len(value) > MAX_PROFILE_VALUE:
            raise RowRejected(f"{name} is longer than {MAX_PROFILE_VALUE} characters")
    return Row(line=line, phone=phone, profile=dict(profile), password=password, password_hash=password_hash)


# ---------------------------------------------------------------- what a row changes
@dataclass(frozen=True)
class Plan:
    outcome: str  # "created" | "updated" | "unchanged"
    create: bool = False
    profile_fields: dict[str, str] = field(default_factory=dict)
    profile_exists: bool = True
    set_password: bool = False


def plan(row: Row, existing: dict[str, Any] | None) -> Plan:
    """What the row changes for the user as read (a deserialized item; None: no such user)."""
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


# ---------------------------------------------------------------- the writes
def new_user(row: Row, *, password_hash: str | None, now_iso: str) -> UserRecord:
    """The user a row creates: a fresh uuid4 id, not active, not verified, session_epoch 0,
    source "import", the row's profile (the shape sign-in writes too)."""
    return UserRecord(
        phone=row.phone,
        id=str(uuid.uuid4()),
        created_at=now_iso,
        updated_at=now_iso,
        password_hash=password_hash,
        source=SOURCE,
        profile=dict(row.profile),
    )
