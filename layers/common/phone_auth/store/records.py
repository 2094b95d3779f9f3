"""The stored shapes: a user (with their sessions) and a one-time code.

One user shape serves the API, the importer and the tests. An attribute that is absent
means "not set" (no password, never signed in); conditions such as
``attribute_not_exists(password_hash)`` rely on that, so ``to_item`` leaves out what is None.

Each live session is an attribute of its own on the user item, ``session#<id>``, so that the
authorizer's one read of the user also says whether the token's session is still live, and
a sign-in can add a session to a user that does not exist yet in the same write.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

UserSource = Literal["import", "signup"]
SESSION_PREFIX = "session#"
DEVICE_PREFIX = "device#"


@dataclass(frozen=True)
class DeviceRecord:
    """A device that signed in: its device credential, only as a keyed hash (phone_auth.devices).

    Kept on the user item as ``device#<id>`` (bound to the user, not the phone number), across
    logout, until it is idle past its expiry or the least recently used past the cap."""

    id: str
    hash: str
    kid: str | None
    created_at: str  # ISO 8601 UTC
    last_used_at: str
    idle_expires_at: int  # epoch seconds: DEVICE_TOKEN_IDLE_DAYS after its last sign-in

    @property
    def attribute(self) -> str:
        return self.attribute_of(self.id)

    @staticmethod
    def attribute_of(device_id: str) -> str:
        return DEVICE_PREFIX + device_id

    @classmethod
    def from_value(cls, device_id: str, value: dict[str, Any]) -> DeviceRecord:
        return cls(
            id=device_id,
            hash=str(value["hash"]),
            kid=value.get("kid"),
            created_at=str(value["created_at"]),
            last_used_at=str(value["last_used_at"]),
            idle_expires_at=int(value["idle_expires_at"]),
        )

    def to_value(self) -> dict[str, Any]:
        values = asdict(self)
        del values["id"]
        return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class SessionRecord:
    """One signed-in device: its refresh token (only as keyed hashes) and what the user sees."""

    id: str
    created_at: str  # ISO 8601 UTC
    last_used_at: str
    method: str  # sms_code | password | registration
    user_agent: str
    ip: str  # masked
    expires_at: int  # epoch seconds: SESSION_MAX_AGE_SECONDS after the sign-in, never extended
    idle_expires_at: int  # epoch seconds: REFRESH_TOKEN_TTL_SECONDS after the last refresh
    refresh_hash: str
    refresh_kid: str | None = None  # the key the refresh hash was made with
    previous_refresh_hash: str | None = None
    rotated_at: int | None = None  # epoch seconds of the last refresh
    signed_in_at: int | None = None  # epoch seconds of the sign-in that started it; a refresh keeps it

    @property
    def auth_time(self) -> int:
        """When the session signed in (epoch seconds): the access tokens' ``auth_time``. A session
        stored before ``signed_in_at`` existed started at its ``created_at``."""
        if self.signed_in_at is not None:
            return self.signed_in_at
        return int(datetime.fromisoformat(self.created_at.replace("Z", "+00:00")).timestamp())

    @property
    def attribute(self) -> str:
        return self.attribute_of(self.id)

    @staticmethod
    def attribute_of(session_id: str) -> str:
        return SESSION_PREFIX + session_id

    def is_live(self, now: float) -> bool:
        return self.expires_at > now and self.idle_expires_at > now

    @classmethod
    def from_value(cls, session_id: str, value: dict[str, Any]) -> SessionRecord:
        return cls(
            id=session_id,
            created_at=str(value["created_at"]),
            last_used_at=str(value["last_used_at"]),
            method=str(value["method"]),
            user_agent=str(value.get("user_agent", "")),
            ip=str(value.get("ip", "")),
            expires_at=int(value["expires_at"]),
            idle_expires_at=int(value["idle_expires_at"]),
            refresh_hash=str(value["refresh_hash"]),
            refresh_kid=value.get("refresh_kid"),
            previous_refresh_hash=value.get("previous_refresh_hash"),
            rotated_at=None if value.get("rotated_at") is None else int(value["rotated_at"]),
            signed_in_at=None if value.get("signed_in_at") is None else int(value["signed_in_at"]),
        )

    def to_value(self) -> dict[str, Any]:
        values = asdict(self)
        del values["id"]
        return {key: value for key, value in values.items() if value is not None}


def _devices(item: dict[str, Any]) -> dict[str, DeviceRecord]:
    """The device credentials of a user item; a ``device#`` attribute of another shape (not one
    this version wrote) is no credential, and is left alone."""
    devices = {}
    for name, value in item.items():
        if name.startswith(DEVICE_PREFIX):
            device_id = name[len(DEVICE_PREFIX) :]
            try:
                devices[device_id] = DeviceRecord.from_value(device_id, value)
            except (KeyError, TypeError, ValueError):
                continue
    return devices


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
    sign_in_count: int = 0  # every sign-in adds one: a write that must not miss a new session checks it
    #: The back office disabled the user: stored only while true (sign-in writes hold while it is absent).
    disabled: bool = False
    sessions: dict[str, SessionRecord] = field(default_factory=dict)  # by session id
    devices: dict[str, DeviceRecord] = field(default_factory=dict)  # by device id

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
            sign_in_count=int(item.get("sign_in_count", 0)),
            disabled=bool(item.get("disabled", False)),
            sessions={
                name[len(SESSION_PREFIX) :]: SessionRecord.from_value(name[len(SESSION_PREFIX) :], value)
                for name, value in item.items()
                if name.startswith(SESSION_PREFIX)
            },
            devices=_devices(item),
        )

    def to_item(self) -> dict[str, Any]:
        """The item to store (plain values; ``marshalling.to_item`` makes attribute values)."""
        values = asdict(self)
        del values["sessions"]
        del values["devices"]
        if not values["profile"]:
            del values["profile"]
        if not values["disabled"]:
            del values["disabled"]
        item = {key: value for key, value in values.items() if value is not None}
        item.update({session.attribute: session.to_value() for session in self.sessions.values()})
        item.update({device.attribute: device.to_value() for device in self.devices.values()})
        return item

    def devices_to_forget(self, *, keep: str, cap: int, now: float) -> list[str]:
        """Devices idle past their expiry, and the least recently used past ``cap`` counting ``keep``."""
        live = sorted(
            (device for device in self.devices.values() if device.idle_expires_at > now and device.id != keep),
            key=lambda device: (device.last_used_at, device.id),
            reverse=True,
        )
        idle = [device.id for device in self.devices.values() if device.idle_expires_at <= now]
        return idle + [device.id for device in live[max(cap - 1, 0) :]]

    def live_sessions(self, now: float) -> list[SessionRecord]:
        """Sessions whose refresh token may still be used, most recently used first."""
        live = [session for session in self.sessions.values() if session.is_live(now)]
        # Ties broken by id, so concurrent writers agree on which session is least recently used.
        return sorted(live, key=lambda session: (session.last_used_at, session.id), reverse=True)

    def sessions_to_end(self, *, keep: str, cap: int, now: float) -> tuple[list[str], list[SessionRecord]]:
        """(dead session ids, live sessions past ``cap`` counting ``keep``, least recently used)."""
        dead = [session.id for session in self.sessions.values() if not session.is_live(now)]
        others = [session for session in self.live_sessions(now) if session.id != keep]
        return dead, others[max(cap - 1, 0) :]


@dataclass(frozen=True)
class StoredUser:
    """A user as read for a write that copies the whole item: the record, and every stored
    attribute as DynamoDB holds it (those this version does not know included)."""

    user: UserRecord
    attributes: dict[str, Any]


@dataclass(frozen=True)
class SignIn:
    """A recorded sign-in: the user as now stored, whether it was their first, its session."""

    user: UserRecord
    is_new_user: bool
    session: SessionRecord


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
    code_hash: str | None  # None for a decoy (no code was ever sent)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> StoredCode:
        return cls(
            code_id=str(item["code_id"]),
            sent_at=int(item["sent_at"]),
            expires_at=int(item["expires_at"]),
            attempts=int(item.get("attempts", 0)),
            used="used_at" in item,
            code_hash=item.get("code_hash"),
        )

    def may_accept(self, code_hashes: list[str], *, now: int, max_attempts: int) -> bool:
        """Whether spending it with a code of these hashes could succeed (a cheap pre-check)."""
        return (
            self.code_hash in code_hashes and not self.used and self.expires_at > now and self.attempts < max_attempts
        )


@dataclass(frozen=True)
class RegistrationToken:
    """The single-use token a verified registration code leads to (only its keyed hash)."""

    token_hash: str
    expires_at: int
    used: bool

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> RegistrationToken:
        return cls(token_hash=str(item["token_hash"]), expires_at=int(item["expires_at"]), used="used_at" in item)

    def may_accept(self, token_hashes: list[str], *, now: int) -> bool:
        return self.token_hash in token_hashes and not self.used and self.expires_at > now
