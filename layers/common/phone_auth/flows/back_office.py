"""The back office's user management (the admin API): create or update, read, list, disable
and enable, sign out everywhere, erase.

The phone comes from the path in any spelling the public API accepts (URL-encoded or not),
normalised with the market's region: INVALID_PHONE or PHONE_NOT_MOBILE otherwise. Each flow
names the user it acts on to the audit trail (phone_auth.audit).

- ``put_user``: the row the importer would read, checked by the importer's own checks
  (``user_import.check_row``: VALIDATION_ERROR with the importer's reason), planned by its
  ``plan`` and written by the same requests (``store.back_office``). Create, update or
  unchanged, idempotent. Round trips: a GetItem and a conditional write; a race (a sign-up or
  another PUT first) reads and plans once more.
- ``disable_user``: one read and one conditional write that sets ``disabled`` and ends every
  session (``users.set_disabled``); a sign-in racing it reads again. Idempotent.
- ``sign_out_user``: logout everywhere's own write (``users.end_all_sessions``, reason
  ``admin_sign_out``): one read and one conditional write.
- ``delete_user``: one read (the user's id and session epoch), then the self-service
  erasure's own function (``account.erase_user``: a Query and one transaction);
  USER_NOT_FOUND once erased.
- ``list_users``: a Scan page; its cursor is the Scan's ExclusiveStartKey sealed with a keyed
  hash (the key ring's current key), so a client can neither forge nor alter it into another
  table read (INVALID_CURSOR).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from phone_auth import audit, clock, passwords, user_import
from phone_auth.errors import InvalidCursor, ServiceUnavailable, UserNotFound, ValidationFailed
from phone_auth.flows.account import erase_user
from phone_auth.keys import key_ring
from phone_auth.messages import Outcome
from phone_auth.observability import logger
from phone_auth.phones import mask_phone, normalize_phone
from phone_auth.settings import get_settings
from phone_auth.store import back_office, users
from phone_auth.store.records import UserRecord
from phone_auth.store.refusals import SessionsAlreadyEnded, UserChanged, UserMissing

_RETRIES = 3
PutOutcome = Literal["created", "updated", "unchanged"]
#: The domain of a cursor's keyed hash (never rename it: issued cursors depend on it).
_CURSOR_DOMAIN = "admin-users-cursor"
DEFAULT_PAGE = 50
MAX_PAGE = 100


@dataclass(frozen=True)
class AdminUser:
    """A user as the back office sees it: the record and its live sessions now."""

    user: UserRecord
    live_sessions: int


@dataclass(frozen=True)
class PutResult:
    outcome: PutOutcome
    user: AdminUser


@dataclass(frozen=True)
class UserPage:
    users: list[AdminUser]
    cursor: str | None


def path_phone(raw: str) -> str:
    """The E.164 phone a path segment names (URL-decoded once more if it still is encoded)."""
    phone = normalize_phone(urllib.parse.unquote(raw), get_settings().default_region)
    audit.note_user(phone)
    return phone


def _seen(user: UserRecord) -> AdminUser:
    return AdminUser(user=user, live_sessions=len(user.live_sessions(clock.now())))


def _existing(phone: str) -> UserRecord:
    user = users.get_user(phone)
    if user is None:
        raise UserNotFound()
    audit.note_user(phone, user.id)
    return user


# ---------------------------------------------------------------- create or update
def put_user(raw_phone: str, *, profile: dict[str, str], password: str | None, password_hash: str | None) -> PutResult:
    """Create the user, or update its profile and first password, as an import row would."""
    phone = path_phone(raw_phone)
    try:
        row = user_import.check_row(0, phone, profile, password=password, password_hash=password_hash)
    except user_import.RowRejected as rejected:
        raise ValidationFailed(details={"fields": [{"field": "", "problem": str(rejected)}]}) from None
    hashed: str | None = row.password_hash
    for _ in range(_RETRIES):
        existing = back_office.get_item(phone)
        plan = user_import.plan(row, existing)
        if existing is not None:
            audit.note_user(phone, str(existing.get("id")))
        if plan.outcome == "unchanged":
            assert existing is not None
            return PutResult("unchanged", _seen(UserRecord.from_item(existing)))
        if plan.set_password and hashed is None and row.password is not None:
            hashed = passwords.hash_password(row.password, get_settings().bcrypt_rounds)
        now_iso = clock.iso(clock.now())
        try:
            if plan.create:
                written = back_office.create_user(user_import.new_user(row, password_hash=hashed, now_iso=now_iso))
            else:
                written = back_office.update_user(
                    phone,
                    now_iso=now_iso,
                    profile_fields=plan.profile_fields,
                    profile_exists=plan.profile_exists,
                    password_hash=hashed if plan.set_password else None,
                )
        except UserChanged:
            continue  # signed up, imported or updated meanwhile: read and plan again
        audit.note_user(phone, written.id)
        logger.info("user written by the back office", extra={"phone": mask_phone(phone), "outcome": plan.outcome})
        return PutResult("created" if plan.create else "updated", _seen(written))
    raise ServiceUnavailable(details={"dependency": "dynamodb"})


# ---------------------------------------------------------------- reading
def get_user(raw_phone: str) -> AdminUser:
    """The user and its live session count: one strongly consistent read."""
    return _seen(_existing(path_phone(raw_phone)))


def _seal(start_key: dict[str, object]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(start_key, sort_keys=True).encode()).decode().rstrip("=")
    return f"{payload}.{key_ring().hash(_CURSOR_DOMAIN, get_settings().market, payload)}"


def _unseal(cursor: str) -> dict[str, object]:
    payload, _, mac = cursor.partition(".")
    expected = key_ring().hashes(_CURSOR_DOMAIN, get_settings().market, payload)
    if not payload or not any(hmac.compare_digest(mac, candidate) for candidate in expected):
        raise InvalidCursor()
    try:
        start_key = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    if not isinstance(start_key, dict) or set(start_key) != {"phone"} or not isinstance(start_key["phone"], str):
        raise InvalidCursor()
    return start_key


def page_size(raw: str | None) -> int:
    """The ``limit`` query parameter: 1 to 100, 50 when absent (VALIDATION_ERROR otherwise)."""
    if raw is None or raw == "":
        return DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        problem = f"limit must be a whole number from 1 to {MAX_PAGE}"
        raise ValidationFailed(details={"fields": [{"field": "limit", "problem": problem}]})
    return int(raw)


def list_users(limit: int, cursor: str | None) -> UserPage:
    """One page of users (one Scan) and the sealed cursor of the next (None: the last page)."""
    start = _unseal(cursor) if cursor else None
    found, next_key = users.scan_page(limit, {"phone": {"S": str(start["phone"])}} if start else None)
    next_cursor = None
    if next_key is not None:
        next_cursor = _seal({"phone": next_key["phone"]["S"]})
    return UserPage(users=[_seen(user) for user in found], cursor=next_cursor)


# ---------------------------------------------------------------- disabling, signing out
def disable_user(raw_phone: str) -> Outcome:
    """Disable the user and end every session at once (its tokens are refused from now on)."""
    phone = path_phone(raw_phone)
    for _ in range(_RETRIES):
        user = _existing(phone)
        if user.disabled:
            return "USER_DISABLED"
        try:
            users.set_disabled(user, now_iso=clock.iso(clock.now()))
        except UserChanged:
            continue  # a sign-in since the read: read its session too
        except UserMissing:
            raise UserNotFound() from None
        logger.info("user disabled", extra={"user_id": user.id})
        return "USER_DISABLED"
    raise ServiceUnavailable(details={"dependency": "dynamodb"})


def enable_user(raw_phone: str) -> Outcome:
    """Enable the user again (its ended sessions stay ended): one read and one write."""
    phone = path_phone(raw_phone)
    user = _existing(phone)
    if user.disabled:
        try:
            users.set_enabled(user, now_iso=clock.iso(clock.now()))
        except UserMissing:
            raise UserNotFound() from None
        logger.info("user enabled", extra={"user_id": user.id})
    return "USER_ENABLED"


def sign_out_user(raw_phone: str) -> Outcome:
    """End every session of the user, as logout everywhere does (reason admin_sign_out)."""
    phone = path_phone(raw_phone)
    for _ in range(_RETRIES):
        user = _existing(phone)
        try:
            users.end_all_sessions(
                phone,
                expected_epoch=user.session_epoch,
                now_iso=clock.iso(clock.now()),
                reason="admin_sign_out",
                seen=user,
            )
        except SessionsAlreadyEnded:
            continue  # another logout everywhere, a reset or a disable moved the epoch on: again
        logger.info("user signed out everywhere", extra={"user_id": user.id})
        return "USER_SIGNED_OUT"
    raise ServiceUnavailable(details={"dependency": "dynamodb"})


# ---------------------------------------------------------------- erasing
def delete_user(raw_phone: str) -> Outcome:
    """Erase the user through the self-service erasure's own function; USER_NOT_FOUND after."""
    phone = path_phone(raw_phone)
    for _ in range(_RETRIES):
        user = _existing(phone)
        try:
            erase_user(phone, user.id, session_epoch=user.session_epoch)
        except UserNotFound:
            continue  # erased, logged out or moved since the read: read again
        return "USER_DELETED"
    raise UserNotFound()
