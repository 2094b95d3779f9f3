"""The users table: read a user, record sign-ins, rotate refresh tokens, end sessions.

Every write states its precondition and its round trips. A sign-in never reads and then
writes: ``id``, ``first_login_id`` and ``created_at`` are set with ``if_not_exists``, so the
first writer's values stick whatever the concurrency, and a caller learns that its sign-in
created the user by finding its own proposed id as ``first_login_id`` afterwards.

Sessions are attributes of the user item (``session#<id>``, see records.py). A write that
ends every session must know them all, so it reads the user first and then holds only if
``sign_in_count`` (bumped by every sign-in) is unchanged: a session started in between makes
it read again instead of surviving. Such a write also records why the sessions ended
(``sessions_ended_reason``: ``logout``, ``password_reset``, ``phone_change``), which the
lifecycle events read from the table's stream.

A user may be erased between a read and a write (DELETE /auth/me): an UpdateItem creates a
missing item, so every update of an existing user holds only while the item exists.

A user the back office disabled (``disabled`` stored as true; absent otherwise) gets no new
session: every sign-in write, a password reset and a number change hold only while
``disabled`` is absent, and disabling ends every session in the same write that sets it
(``set_disabled``), so no session survives a disable whatever races it.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from phone_auth.errors import ServiceUnavailable
from phone_auth.settings import get_settings
from phone_auth.store import limits
from phone_auth.store.calls import ConditionFailed, batch_get, call
from phone_auth.store.expressions import one_of, session_removal
from phone_auth.store.marshalling import from_item, to_item, to_values
from phone_auth.store.records import SESSION_PREFIX, DeviceRecord, SessionRecord, SignIn, StoredUser, UserRecord
from phone_auth.store.refusals import (
    PasswordChanged,
    RefreshRejected,
    SessionMissing,
    SessionsAlreadyEnded,
    UserChanged,
    UserDisabled,
    UserMissing,
)

#: The condition every write that signs a user in (or replaces its password, or moves it) adds.
NOT_DISABLED = "attribute_not_exists(disabled)"

_RETRIES = 3


def table() -> str:
    return get_settings().users_table_name


def key(phone: str) -> dict[str, Any]:
    return {"phone": {"S": phone}}


def _user(item: dict[str, Any] | None) -> UserRecord | None:
    return None if item is None else UserRecord.from_item(item)


def get_user(phone: str) -> UserRecord | None:
    """One strongly consistent read."""
    return _user(from_item(call("get_item", TableName=table(), Key=key(phone), ConsistentRead=True).get("Item")))


def get_stored_user(phone: str) -> StoredUser | None:
    """The user and every attribute as stored (for a write that copies the item): one
    strongly consistent read."""
    raw: dict[str, Any] = call("get_item", TableName=table(), Key=key(phone), ConsistentRead=True).get("Item") or {}
    user = _user(from_item(raw))
    return None if user is None else StoredUser(user=user, attributes=raw)


def get_user_and_guards(
    phone: str, *, counters: list[limits.Counter], locks: list[limits.Lock], now: int
) -> tuple[UserRecord | None, dict[str, int], dict[str, int]]:
    """The user, the counters' values (by name) and the locks' ``locked_until`` (by name):
    one strongly consistent BatchGetItem."""
    guard_ids = [counter.item_id(now) for counter in counters] + [lock.item_id for lock in locks]
    request: dict[str, Any] = {table(): {"Keys": [key(phone)], "ConsistentRead": True}}
    if guard_ids:
        request[limits.table()] = {"Keys": [limits.key(item_id) for item_id in guard_ids], "ConsistentRead": True}
    found = batch_get(request)
    user_item = next(iter(found[table()]), None)
    guard_items = {str(item.get("id")): item for item in found.get(limits.table(), [])}
    hits, locked_until = limits.values_from(guard_items, counters, locks, now)
    return _user(user_item), hits, locked_until


def _update(phone: str, **kwargs: Any) -> UserRecord:
    """One UpdateItem returning the user as it now is (ConditionFailed carries the old item)."""
    response = call(
        "update_item",
        TableName=table(),
        Key=key(phone),
        ReturnValues="ALL_NEW",
        ReturnValuesOnConditionCheckFailure="ALL_OLD",
        **kwargs,
    )
    return _written(response)


def _written(response: dict[str, Any]) -> UserRecord:
    """The user an UpdateItem with ReturnValues=ALL_NEW wrote (UserMissing if it returned none)."""
    user = _user(from_item(response.get("Attributes")))
    if user is None:
        raise UserMissing()
    return user


def _unchanged_sign_ins(user: UserRecord, values: dict[str, Any]) -> str:
    """A condition that no sign-in (so no new session) happened since ``user`` was read."""
    values[":seen_sign_ins"] = user.sign_in_count
    if user.sign_in_count == 0:
        return "(attribute_not_exists(sign_in_count) OR sign_in_count = :seen_sign_ins)"
    return "sign_in_count = :seen_sign_ins"


# ---------------------------------------------------------------- device credentials
@dataclass(frozen=True)
class DeviceCheck:
    """A presented device credential: holds only while the user item stores one of ``hashes`` in
    ``attribute`` (``device#<id>``), not idle past its expiry at ``now``."""

    attribute: str
    hashes: tuple[str, ...]
    now: int

    def condition(self, names: dict[str, str], values: dict[str, Any]) -> str:
        names.update({"#device": self.attribute, "#device_hash": "hash"})
        values[":device_now"] = self.now
        matches = one_of("#device.#device_hash", "device", self.hashes, values)
        return f"{matches} AND #device.idle_expires_at > :device_now"

    def holds_on(self, item: dict[str, Any] | None) -> bool:
        """Whether the user item (as a failed write returned it) satisfies this check's own condition."""
        stored = (item or {}).get(self.attribute)
        if not isinstance(stored, dict):
            return False
        return stored.get("hash") in self.hashes and int(stored.get("idle_expires_at") or 0) > self.now

    def condition_check(self, phone: str, also: str | None = None) -> dict[str, Any]:
        """A transaction's ConditionCheck on the user (``also``: a further condition, e.g. a recipient rule)."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        condition = self.condition(names, values)
        if also:
            condition = f"({condition}) AND ({also})"
        return {
            "ConditionCheck": {
                "TableName": table(),
                "Key": key(phone),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_values(values),
            }
        }


@dataclass(frozen=True)
class DeviceUse:
    """What a sign-in writes about its device: a ``new`` credential to store, or a presented one
    (``check``) whose last use is recorded, the write holding only while it is valid."""

    new: DeviceRecord | None = None
    check: DeviceCheck | None = None
    last_used_at: str = ""
    idle_expires_at: int = 0

    def apply(self, sets: list[str], names: dict[str, str], values: dict[str, Any], conditions: list[str]) -> None:
        if self.new is not None:
            names["#new_device"] = self.new.attribute
            values[":new_device"] = self.new.to_value()
            sets.append("#new_device = :new_device")
        if self.check is not None:
            conditions.append(self.check.condition(names, values))
            values.update({":device_used": self.last_used_at, ":device_idle": self.idle_expires_at})
            sets.append("#device.last_used_at = :device_used, #device.idle_expires_at = :device_idle")


def forget_devices(user: UserRecord, device_ids: list[str]) -> None:
    """Remove device credentials (idle, or past the cap): one UpdateItem, best effort (the next
    sign-in tries again)."""
    if not device_ids:
        return
    names = {f"#d{index}": DeviceRecord.attribute_of(device_id) for index, device_id in enumerate(device_ids)}
    with contextlib.suppress(ServiceUnavailable):
        call(
            "update_item",
            TableName=table(),
            Key=key(user.phone),
            UpdateExpression="REMOVE " + ", ".join(names),
            ExpressionAttributeNames=names,
        )


# ---------------------------------------------------------------- signing in
@dataclass
class SignInWrite:
    """The UpdateItem that records a sign-in and starts its session (package-internal).

    ``create_user``: the user may be created by this write (open sign-up); otherwise it must
    exist. ``verified``: the sign-in proved possession of the phone (an SMS code).
    ``also_set`` and ``conditions`` let an operation set more attributes (a password) and
    add preconditions in the same atomic write; ``end_sessions`` are removed in it too.
    """

    phone: str
    now_iso: str
    create_user: bool
    verified: bool
    session: SessionRecord
    also_set: dict[str, Any] = field(default_factory=dict)
    conditions: list[str] = field(default_factory=list)
    condition_values: dict[str, Any] = field(default_factory=dict)
    end_sessions: list[str] = field(default_factory=list)
    device: DeviceUse | None = None
    proposed_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def update(self) -> dict[str, Any]:
        names = {"#id": "id", "#session": self.session.attribute}
        values: dict[str, Any] = {
            ":id": self.proposed_id,
            ":now": self.now_iso,
            ":true": True,
            ":zero": 0,
            ":one": 1,
            ":session": self.session.to_value(),
        }
        sets = [
            "#id = if_not_exists(#id, :id)",
            "first_login_id = if_not_exists(first_login_id, :id)",
            "created_at = if_not_exists(created_at, :now)",
            "session_epoch = if_not_exists(session_epoch, :zero)",
            "is_active = :true",
            "last_login = :now",
            "updated_at = :now",
            "#session = :session",
        ]
        if self.verified:
            sets.append("is_verified = :true")
        else:
            values[":false"] = False
            sets.append("is_verified = if_not_exists(is_verified, :false)")
        for index, (name, value) in enumerate(self.also_set.items()):
            names[f"#s{index}"] = name
            values[f":s{index}"] = value
            sets.append(f"#s{index} = :s{index}")
        conditions = [NOT_DISABLED, *self.conditions]
        if self.device is not None:
            self.device.apply(sets, names, values, conditions)
        expression = "SET " + ", ".join(sets) + " ADD sign_in_count :one"
        removal = session_removal([session_id for session_id in self.end_sessions if session_id != self.session.id])
        if removal.clause:
            names.update(removal.names)
            expression += " " + removal.clause
        if not self.create_user:
            conditions.insert(0, "attribute_exists(phone)")
        values.update(self.condition_values)
        update: dict[str, Any] = {
            "TableName": table(),
            "Key": key(self.phone),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_values(values),
        }
        if conditions:
            update["ConditionExpression"] = " AND ".join(f"({condition})" for condition in conditions)
        return update

    def result(self, user: UserRecord) -> SignIn:
        return SignIn(user=user, is_new_user=user.first_login_id == self.proposed_id, session=self.session)


def record_sign_in(write: SignInWrite) -> SignIn:
    """Run a sign-in write on its own: one conditional UpdateItem returning the new item.

    Raises UserDisabled when the user is disabled, ConditionFailed (package-internal) when
    another precondition of the write fails.
    """
    try:
        response = call(
            "update_item", **write.update(), ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD"
        )
    except ConditionFailed as failed:
        if is_disabled(failed.item):
            raise UserDisabled() from None
        raise
    return write.result(_written(response))


def is_disabled(item: dict[str, Any] | None) -> bool:
    """Whether a stored item (as a failed condition returned it) is a disabled user."""
    return bool(item and item.get("disabled"))


def record_password_sign_in(
    user: UserRecord,
    *,
    checked_hash: str,
    upgraded_hash: str | None,
    now_iso: str,
    session: SessionRecord,
    end_sessions: list[str],
    device: DeviceUse | None = None,
) -> SignIn:
    """Record a password sign-in with its ``device`` credential and start its session: one
    conditional UpdateItem.

    Precondition: the user exists, is not disabled (else UserDisabled) and its password hash
    is still ``checked_hash`` (the one the caller just verified against ``user``, as read).
    ``upgraded_hash`` replaces a hash made with a lower bcrypt cost, and ``end_sessions``
    (dead ones, and the least recently used past the cap) are removed, in the same write.
    Raises PasswordChanged.
    """
    write = SignInWrite(
        user.phone,
        now_iso=now_iso,
        create_user=False,
        verified=False,
        session=session,
        also_set={"password_hash": upgraded_hash} if upgraded_hash else {},
        conditions=["password_hash = :checked_hash"],
        condition_values={":checked_hash": checked_hash},
        end_sessions=end_sessions,
        device=device,
    )
    try:
        return record_sign_in(write)
    except ConditionFailed:
        raise PasswordChanged() from None


def end_sessions_past_the_cap(user: UserRecord, *, keep: str, cap: int, now: float) -> UserRecord:
    """Remove ``user``'s dead sessions and, past ``cap`` live ones, the least recently used.

    One conditional UpdateItem when there is anything to remove (nothing otherwise). Each
    session removed for the cap must still be unused since ``user`` was read, so a session
    refreshed meanwhile is kept (the next sign-in removes one again). ``keep`` (the session
    just started) is never removed.
    """
    dead, surplus = user.sessions_to_end(keep=keep, cap=cap, now=now)
    if not dead and not surplus:
        return user
    removal = session_removal([*dead, *(session.id for session in surplus)])
    values: dict[str, Any] = {}
    conditions = ["attribute_exists(phone)"]  # erased meanwhile: nothing to end, nothing to create
    for index, session in enumerate(surplus, start=len(dead)):
        name = removal.placeholders[index]
        values[f":used{index}"] = session.last_used_at
        # Gone already (another sign-in ended it) is fine; refreshed meanwhile is not.
        conditions.append(f"(attribute_not_exists({name}) OR {name}.last_used_at = :used{index})")
    kwargs: dict[str, Any] = {
        "UpdateExpression": removal.clause,
        "ExpressionAttributeNames": removal.names,
        "ConditionExpression": " AND ".join(conditions),
    }
    if values:
        kwargs["ExpressionAttributeValues"] = to_values(values)
    try:
        return _update(user.phone, **kwargs)
    except (ConditionFailed, ServiceUnavailable):
        # Refreshed meanwhile, or no time or DynamoDB left for it: the sign-in has happened and
        # stands; the next sign-in ends what is still past the cap.
        return user


# ---------------------------------------------------------------- refresh tokens
def rotate_refresh_token(
    phone: str,
    session_id: str,
    *,
    presented_hashes: list[str],
    new_hash: str,
    new_kid: str,
    now: int,
    now_iso: str,
    idle_expires_at: int,
    ip: str | None = None,
    user_agent: str | None = None,
) -> UserRecord:
    """Spend a refresh token and store its successor: one conditional UpdateItem, which also
    records where (``ip``, masked) and from what (``user_agent``) the session was used.

    Precondition: the session exists, is live (both lifetimes) and its current refresh hash
    is one of ``presented_hashes`` (the presented token under each live key). The old hash
    is kept as ``previous_refresh_hash`` with ``rotated_at`` for the reuse grace window.
    Concurrent refreshes with one token leave exactly one successor. Raises RefreshRejected
    carrying the user and session as they were.
    """
    names = {"#s": SessionRecord.attribute_of(session_id)}
    values: dict[str, Any] = {
        ":now": now,
        ":iso": now_iso,
        ":new": new_hash,
        ":kid": new_kid,
        ":idle": idle_expires_at,
    }
    matches = one_of("#s.refresh_hash", "h", presented_hashes, values)
    where = ""
    if ip is not None:
        values[":ip"] = ip
        where += ", #s.ip = :ip"
    if user_agent is not None:
        values[":ua"] = user_agent
        where += ", #s.user_agent = :ua"
    try:
        return _update(
            phone,
            UpdateExpression=(
                "SET #s.previous_refresh_hash = #s.refresh_hash, #s.refresh_hash = :new, #s.refresh_kid = :kid,"
                " #s.rotated_at = :now, #s.last_used_at = :iso, #s.idle_expires_at = :idle" + where
            ),
            ConditionExpression=(f"{matches} AND #s.expires_at > :now AND #s.idle_expires_at > :now"),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_values(values),
        )
    except ConditionFailed as failed:
        user = _user(failed.item)
        raise RefreshRejected(user, None if user is None else user.sessions.get(session_id)) from None


# ---------------------------------------------------------------- ending sessions
def end_session(phone: str, session_id: str, *, only_if_refresh_hash: str | None = None) -> UserRecord:
    """End one session: one conditional UpdateItem removing it; returns the user as now stored.

    Precondition: the session exists (and, with ``only_if_refresh_hash``, its refresh hash is
    still that one, so a reuse alarm cannot end a session that moved on). Raises SessionMissing.
    """
    names = {"#s": SessionRecord.attribute_of(session_id)}
    condition = "attribute_exists(#s)"
    extra: dict[str, Any] = {}
    if only_if_refresh_hash is not None:
        condition += " AND #s.refresh_hash = :current"
        extra["ExpressionAttributeValues"] = to_values({":current": only_if_refresh_hash})
    try:
        return _update(
            phone, UpdateExpression="REMOVE #s", ConditionExpression=condition, ExpressionAttributeNames=names, **extra
        )
    except ConditionFailed:
        raise SessionMissing() from None


def mark_inactive_if_no_session(user: UserRecord, *, now: float, now_iso: str) -> None:
    """Set ``is_active`` false when ``user`` (as just stored) has no live session left.

    One conditional UpdateItem, only then; it holds only if no sign-in happened since, so a
    session started meanwhile keeps the user active.
    """
    if user.live_sessions(now) or not user.is_active:
        return
    values: dict[str, Any] = {":false": False, ":now": now_iso}
    condition = "attribute_exists(phone) AND " + _unchanged_sign_ins(user, values)
    # A failure here leaves the user marked active with no session: harmless, and what the
    # ended session meant is done already, so it must not turn into an error.
    with contextlib.suppress(ConditionFailed, ServiceUnavailable):
        _update(
            user.phone,
            UpdateExpression="SET is_active = :false, updated_at = :now",
            ConditionExpression=condition,
            ExpressionAttributeValues=to_values(values),
        )


def end_all_sessions(
    phone: str, *, expected_epoch: int, now_iso: str, reason: str = "logout", seen: UserRecord | None = None
) -> None:
    """Logout everywhere: remove every session, mark the user inactive and bump the session
    epoch, which also revokes every access token issued before.

    A read and one conditional UpdateItem (again only if a sign-in raced it). Precondition:
    the epoch is still the one the caller's token carries, so a token revoked a moment ago
    cannot end the sessions that started after it (SessionsAlreadyEnded). ``reason`` is what
    the SessionsEnded event says (logout; admin_sign_out for the back office's). ``seen``: the
    user as the caller just read it, which spares the first read.
    """
    for attempt in range(_RETRIES):
        user = seen if attempt == 0 and seen is not None else get_user(phone)
        if user is None or user.session_epoch != expected_epoch:
            raise SessionsAlreadyEnded()
        values: dict[str, Any] = {
            ":false": False,
            ":now": now_iso,
            ":one": 1,
            ":epoch": expected_epoch,
            ":reason": reason,
        }
        condition = "session_epoch = :epoch AND " + _unchanged_sign_ins(user, values)
        removal = session_removal(list(user.sessions))
        sets = "SET is_active = :false, updated_at = :now, sessions_ended_reason = :reason ADD session_epoch :one"
        expression = " ".join(filter(None, [sets, removal.clause]))
        try:
            _update(
                phone,
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues=to_values(values),
                **({"ExpressionAttributeNames": removal.names} if removal.names else {}),
            )
            return
        except ConditionFailed:
            continue
    raise SessionsAlreadyEnded()


def password_replacement(user: UserRecord, *, password_hash: str, now_iso: str) -> dict[str, Any]:
    """The UpdateItem of a password reset (package-internal): set the new hash, end every
    session (remove them all, bump the epoch) and mark the phone verified.

    Precondition: the user exists, is not disabled and signed in no more since ``user`` was read.
    """
    values: dict[str, Any] = {
        ":hash": password_hash,
        ":now": now_iso,
        ":false": False,
        ":true": True,
        ":one": 1,
        ":reason": "password_reset",
    }
    condition = f"attribute_exists(phone) AND {NOT_DISABLED} AND " + _unchanged_sign_ins(user, values)
    removal = session_removal(list(user.sessions))
    expression = (
        "SET password_hash = :hash, password_changed_at = :now, updated_at = :now,"
        " is_active = :false, is_verified = :true, sessions_ended_reason = :reason ADD session_epoch :one"
    )
    if removal.clause:
        expression += " " + removal.clause
    update: dict[str, Any] = {
        "TableName": table(),
        "Key": key(user.phone),
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeValues": to_values(values),
    }
    if removal.names:
        update["ExpressionAttributeNames"] = removal.names
    return update


# ---------------------------------------------------------------- moving to another phone
def _same_epoch(epoch: int, values: dict[str, Any]) -> str:
    """A condition that the session epoch is still ``epoch`` (absent counts as 0)."""
    values[":seen_epoch"] = epoch
    if epoch == 0:
        return "(attribute_not_exists(session_epoch) OR session_epoch = :seen_epoch)"
    return "session_epoch = :seen_epoch"


def user_move(
    stored: StoredUser, new_phone: str, *, session: SessionRecord, now_iso: str, device: DeviceRecord | None = None
) -> tuple[dict[str, Any], dict[str, Any], UserRecord]:
    """The Put and the Delete (package-internal) that move ``stored`` to ``new_phone``, and the
    user as the Put stores it.

    The Put copies every attribute (those this version does not know included) but the
    sessions, with ``previous_phone``, a sign-in (``session``, this device's only one) and the
    session epoch moved on, so every earlier token is refused; it holds only while no user has
    ``new_phone``. The Delete holds only while the old item is the one read: the same id, the
    same session epoch and no sign-in since (a logout, a reset or a sign-in in between makes the
    caller read again).
    """
    user = stored.user
    kept = {name: value for name, value in stored.attributes.items() if not name.startswith(SESSION_PREFIX)}
    moved = {
        "phone": new_phone,
        "previous_phone": user.phone,
        "phone_changed_at": now_iso,
        "session_epoch": user.session_epoch + 1,
        "sessions_ended_reason": "phone_change",
        "sign_in_count": user.sign_in_count + 1,
        "is_active": True,
        "is_verified": True,
        "last_login": now_iso,
        "updated_at": now_iso,
        session.attribute: session.to_value(),
    }
    if device is not None:  # this device's new credential, beside those the account already has
        moved[device.attribute] = device.to_value()
    item = {**kept, **to_item(moved)}
    put = {"TableName": table(), "Item": item, "ConditionExpression": "attribute_not_exists(phone)"}
    values: dict[str, Any] = {":id": user.id}
    same_user = ["#id = :id", NOT_DISABLED, _same_epoch(user.session_epoch, values), _unchanged_sign_ins(user, values)]
    condition = " AND ".join(same_user)
    delete = {
        "TableName": table(),
        "Key": key(user.phone),
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#id": "id"},
        "ExpressionAttributeValues": to_values(values),
    }
    record = UserRecord.from_item(from_item(item) or {})
    return put, delete, record


# ---------------------------------------------------------------- the back office
def set_disabled(user: UserRecord, *, now_iso: str) -> UserRecord:
    """Disable ``user`` (as read) and end every session: one conditional UpdateItem that sets
    ``disabled``, removes each session, marks the user inactive and moves the session epoch on
    (``sessions_ended_reason`` disabled), so every token issued before is refused at once.

    Precondition: the item is still that user (same id) and no sign-in happened since it was
    read (UserChanged: read again; a sign-in that comes after this write is refused by its own
    condition). UserMissing when the user is gone. Returns the user as now stored.
    """
    values: dict[str, Any] = {
        ":id": user.id,
        ":true": True,
        ":false": False,
        ":now": now_iso,
        ":one": 1,
        ":reason": "disabled",
    }
    condition = "attribute_exists(phone) AND #id = :id AND " + _unchanged_sign_ins(user, values)
    removal = session_removal(list(user.sessions))
    sets = (
        "SET disabled = :true, is_active = :false, updated_at = :now, sessions_ended_reason = :reason"
        " ADD session_epoch :one"
    )
    try:
        return _update(
            user.phone,
            UpdateExpression=" ".join(filter(None, [sets, removal.clause])),
            ConditionExpression=condition,
            ExpressionAttributeNames={"#id": "id", **removal.names},
            ExpressionAttributeValues=to_values(values),
        )
    except ConditionFailed as failed:
        raise (UserMissing() if failed.item is None or failed.item.get("id") != user.id else UserChanged()) from None


def set_enabled(user: UserRecord, *, now_iso: str) -> UserRecord:
    """Enable ``user`` again: one conditional UpdateItem removing ``disabled`` (its sessions
    stay ended; the user signs in again). UserMissing when the item is no longer that user."""
    try:
        return _update(
            user.phone,
            UpdateExpression="REMOVE disabled SET updated_at = :now",
            ConditionExpression="attribute_exists(phone) AND #id = :id",
            ExpressionAttributeNames={"#id": "id"},
            ExpressionAttributeValues=to_values({":id": user.id, ":now": now_iso}),
        )
    except ConditionFailed:
        raise UserMissing() from None


def scan_page(limit: int, start_key: dict[str, Any] | None) -> tuple[list[UserRecord], dict[str, Any] | None]:
    """One page of users in the table's order: one Scan of at most ``limit`` items (strongly
    consistent), and the key to start the next page from (None: the last page)."""
    request: dict[str, Any] = {"TableName": table(), "Limit": limit, "ConsistentRead": True}
    if start_key:
        request["ExclusiveStartKey"] = start_key
    response = call("scan", **request)
    found = [UserRecord.from_item(item) for raw in response.get("Items", []) if (item := from_item(raw))]
    return found, response.get("LastEvaluatedKey") or None
