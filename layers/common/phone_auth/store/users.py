"""The users table: read a user, record sign-ins, end sessions, set passwords.

Every write states its precondition and its round trips. A sign-in never reads and then
writes: ``id``, ``first_login_id`` and ``created_at`` are set with ``if_not_exists``, so the
first writer's values stick whatever the concurrency, and a caller learns that its sign-in
created the user by finding its own proposed id as ``first_login_id`` afterwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from phone_auth.settings import get_settings
from phone_auth.store.calls import ConditionFailed, call
from phone_auth.store.marshalling import from_item, to_values
from phone_auth.store.records import SignIn, UserRecord
from phone_auth.store.refusals import PasswordChanged, SessionsAlreadyEnded


def table() -> str:
    return get_settings().users_table_name


def key(phone: str) -> dict[str, Any]:
    return {"phone": {"S": phone}}


def get_user(phone: str) -> UserRecord | None:
    """One strongly consistent read."""
    item = from_item(call("get_item", TableName=table(), Key=key(phone), ConsistentRead=True).get("Item"))
    return None if item is None else UserRecord.from_item(item)


@dataclass
class SignInWrite:
    """The UpdateItem that records a sign-in (package-internal: operations add their own parts).

    ``create_user``: the user may be created by this write (open sign-up); otherwise it must
    exist. ``verified``: the sign-in proved possession of the phone (an SMS code).
    ``also_set`` and ``conditions`` let an operation set more attributes (a password) and
    add preconditions in the same atomic write.
    """

    phone: str
    now_iso: str
    create_user: bool
    verified: bool
    also_set: dict[str, Any] = field(default_factory=dict)
    conditions: list[str] = field(default_factory=list)
    condition_values: dict[str, Any] = field(default_factory=dict)
    proposed_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def update(self) -> dict[str, Any]:
        names = {"#id": "id"}
        values: dict[str, Any] = {":id": self.proposed_id, ":now": self.now_iso, ":true": True, ":zero": 0}
        sets = [
            "#id = if_not_exists(#id, :id)",
            "first_login_id = if_not_exists(first_login_id, :id)",
            "created_at = if_not_exists(created_at, :now)",
            "session_epoch = if_not_exists(session_epoch, :zero)",
            "is_active = :true",
            "last_login = :now",
            "updated_at = :now",
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
        conditions = list(self.conditions)
        if not self.create_user:
            conditions.insert(0, "attribute_exists(phone)")
        values.update(self.condition_values)
        update: dict[str, Any] = {
            "TableName": table(),
            "Key": key(self.phone),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_values(values),
        }
        if conditions:
            update["ConditionExpression"] = " AND ".join(f"({condition})" for condition in conditions)
        return update

    def result(self, user: UserRecord) -> SignIn:
        return SignIn(user=user, is_new_user=user.first_login_id == self.proposed_id)


def record_sign_in(write: SignInWrite) -> SignIn:
    """Run a sign-in write on its own: one conditional UpdateItem returning the new item.

    Raises ConditionFailed (package-internal) when a precondition of the write fails.
    """
    response = call("update_item", **write.update(), ReturnValues="ALL_NEW")
    item = from_item(response.get("Attributes"))
    assert item is not None
    return write.result(UserRecord.from_item(item))


def record_password_sign_in(phone: str, *, checked_hash: str, upgraded_hash: str | None, now_iso: str) -> SignIn:
    """Record a password sign-in: one conditional UpdateItem, returning the user as now stored.

    Precondition: the user exists and its password hash is still ``checked_hash`` (the
    one the caller just verified). ``upgraded_hash`` replaces a hash made with a lower
    bcrypt cost in the same write. Raises PasswordChanged when the hash moved meanwhile.
    """
    write = SignInWrite(
        phone,
        now_iso=now_iso,
        create_user=False,
        verified=False,
        also_set={"password_hash": upgraded_hash} if upgraded_hash else {},
        conditions=["password_hash = :checked_hash"],
        condition_values={":checked_hash": checked_hash},
    )
    try:
        return record_sign_in(write)
    except ConditionFailed:
        raise PasswordChanged() from None


def end_all_sessions(phone: str, *, expected_epoch: int, now_iso: str) -> None:
    """Logout: mark the user inactive and bump the session epoch, revoking every earlier token.

    One conditional UpdateItem. Precondition: the epoch is still the one the caller's
    token carries, so a token revoked a moment ago cannot end the sessions that started
    after it (SessionsAlreadyEnded).
    """
    try:
        call(
            "update_item",
            TableName=table(),
            Key=key(phone),
            UpdateExpression="SET is_active = :false, updated_at = :now ADD session_epoch :one",
            ConditionExpression="attribute_exists(phone) AND session_epoch = :epoch",
            ExpressionAttributeValues=to_values(
                {":false": False, ":now": now_iso, ":one": 1, ":epoch": expected_epoch}
            ),
        )
    except ConditionFailed:
        raise SessionsAlreadyEnded() from None


def password_replacement(phone: str, *, password_hash: str, now_iso: str) -> dict[str, Any]:
    """The UpdateItem of a password reset (package-internal): set the new hash, end every
    session (epoch bump) and mark the phone verified. Precondition: the user exists."""
    return {
        "TableName": table(),
        "Key": key(phone),
        "UpdateExpression": (
            "SET password_hash = :hash, password_changed_at = :now, updated_at = :now,"
            " is_active = :false, is_verified = :true ADD session_epoch :one"
        ),
        "ConditionExpression": "attribute_exists(phone)",
        "ExpressionAttributeValues": to_values(
            {":hash": password_hash, ":now": now_iso, ":false": False, ":true": True, ":one": 1}
        ),
    }
