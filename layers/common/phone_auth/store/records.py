"""The stored shape of a user: one definition for the API, the importer and the tests.

An attribute that is absent means "not set" (no password, never signed in); conditions
such as ``attribute_not_exists(password_hash)`` rely on that, so ``to_item`` leaves out
what is None.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

UserSource = Literal["import", "signup"]


@dataclass(frozen=True)
class UserRecord:
    phone: str  # E.164, the table's key
    id: str
    created_at: str  # ISO 8601 UTC, as phone_auth.clock.iso writes it
    updated_at: str
    is_active: bool = False
    is_verified: bool = False
    last_login: str | None = None
    session_epoch: int = 0  # bumped by logout and password reset; every token carries it
    password_hash: str | None = None  # bcrypt
    password_changed_at: str | None = None
    first_login_id: str | None = None  # the id proposed by the sign-in that created the user
    source: UserSource | None = None
    profile: dict[str, str] = field(default_factory=dict)  # the back office's extra columns

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> UserRecord:
        """From a deserialized item; attributes this version does not know are ignored."""
        profile = item.get("profile") or {}
        return cls(
            phone=str(item["phone"]),
            id=str(item["id"]),
            created_at=str(item["created_at"]),
            updated_at=str(item.get("updated_at", item["created_at"])),
            is_active=bool(item.get("is_active", False)),
            is_verified=bool(item.get("is_verified", False)),
            last_login=item.get("last_login"),
            session_epoch=int(item.get("session_epoch", 0)),
            password_hash=item.get("password_hash"),
            password_changed_at=item.get("password_changed_at"),
            first_login_id=item.get("first_login_id"),
            source=item.get("source"),
            profile={str(key): str(value) for key, value in profile.items()},
        )

    def to_item(self) -> dict[str, Any]:
        """The item to store (plain values; ``marshalling.to_item`` makes attribute values)."""
        values = asdict(self)
        if not values["profile"]:
            del values["profile"]
        return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class SignIn:
    """A recorded sign-in: the user as now stored, and whether this sign-in was their first."""

    user: UserRecord
    is_new_user: bool


@dataclass(frozen=True)
class NewCode:
    """A one-time code about to be stored (only its keyed hash, never the code)."""

    phone: str
    purpose: str
    code_id: str
    code_hash: str
    sent_at: int
    expires_at: int


@dataclass(frozen=True)
class StoredCode:
    """What the codes table says about a phone's code for one purpose."""

    code_id: str
    sent_at: int
    expires_at: int
    attempts: int
    used: bool

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> StoredCode:
        return cls(
            code_id=str(item["code_id"]),
            sent_at=int(item["sent_at"]),
            expires_at=int(item["expires_at"]),
            attempts=int(item.get("attempts", 0)),
            used="used_at" in item,
        )
