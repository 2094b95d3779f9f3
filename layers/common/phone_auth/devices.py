"""Device credentials (OWASP's "device cookies"): a device that signed in is trusted later.

Every successful sign-in returns ``device_token``: ``<device id>.<secret>`` (16 hex digits, then
256 random bits), stored only as a keyed hash (key ring, kid recorded) in the attribute
``device#<id>`` of the user item, with its created and last-used times and an idle expiry
(DEVICE_TOKEN_IDLE_DAYS); a user keeps at most MAX_DEVICES_PER_USER, the least recently used
forgotten first. A sign-in that presented a valid token returns that same token. Logout keeps
device credentials; deleting the account erases them with the item.

A request that presents a valid token is *trusted*: its wrong codes and passwords count against
that device alone, locks caused by other clients never refuse it, its SMS count against its own
budget and its codes live in an item of their own (``<purpose>#<device id>``). A token that is
malformed, unknown, expired or another user's is ignored: the request is untrusted, nothing says
why. Trust is checked inside the write (or read) the step makes anyway, so it costs no round
trip on the success path.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from phone_auth import clock
from phone_auth.keys import key_ring
from phone_auth.settings import get_settings
from phone_auth.store.records import DeviceRecord, UserRecord
from phone_auth.store.users import DeviceCheck, DeviceUse

#: The keyed-hash domain of device secrets (stored hashes depend on it: never rename it).
_HASH_DOMAIN = "device"
DEVICE_TOKEN_PATTERN = r"^[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$"  # noqa: S105 (a shape, not a secret)
_TOKEN = re.compile(DEVICE_TOKEN_PATTERN)
DAY = 86400


@dataclass(frozen=True)
class PresentedDevice:
    """A device token as presented: well formed, not yet known to be valid."""

    id: str
    secret: str

    @property
    def token(self) -> str:
        return f"{self.id}.{self.secret}"

    @property
    def attribute(self) -> str:
        return DeviceRecord.attribute_of(self.id)

    def hashes(self) -> list[str]:
        """What its stored hash may be: one per live key."""
        return key_ring().hashes(_HASH_DOMAIN, get_settings().market, self.id, self.secret)

    def is_valid_for(self, user: UserRecord | None, now: float) -> bool:
        """Whether ``user`` (as read) holds this device's credential, not idle past its expiry."""
        device = None if user is None else user.devices.get(self.id)
        return device is not None and device.idle_expires_at > now and device.hash in self.hashes()

    def check(self, now: float) -> DeviceCheck:
        """The condition (on the user item) that this credential is stored and live."""
        return DeviceCheck(attribute=self.attribute, hashes=tuple(self.hashes()), now=int(now))

    def use(self, now: float) -> DeviceUse:
        """A sign-in with this credential: checked in its write, and its last use recorded."""
        return DeviceUse(check=self.check(now), last_used_at=clock.iso(now), idle_expires_at=idle_expiry(now))


def presented(token: str | None) -> PresentedDevice | None:
    """The device a request presented, if its token is well formed (its validity is checked in
    the step's own write or read); None otherwise, and the request is untrusted."""
    if not token or _TOKEN.fullmatch(token) is None:
        return None
    device_id, secret = token.split(".")
    return PresentedDevice(id=device_id, secret=secret)


def new_device() -> tuple[DeviceUse, str]:
    """A device credential to store with a sign-in, and its token for the client."""
    now = clock.now()
    device = PresentedDevice(id=secrets.token_hex(8), secret=secrets.token_urlsafe(32))
    ring = key_ring()
    record = DeviceRecord(
        id=device.id,
        hash=ring.hash(_HASH_DOMAIN, get_settings().market, device.id, device.secret),
        kid=ring.kid,
        created_at=clock.iso(now),
        last_used_at=clock.iso(now),
        idle_expires_at=idle_expiry(now),
    )
    return DeviceUse(new=record), device.token


def for_sign_in(device: PresentedDevice | None, now: float) -> tuple[DeviceUse, str]:
    """What a sign-in writes about its device, and the token it returns: the presented one (its
    validity is the write's condition), or a new one."""
    if device is None:
        return new_device()
    return device.use(now), device.token


def idle_expiry(now: float) -> int:
    return int(now) + get_settings().device_token_idle_days * DAY
