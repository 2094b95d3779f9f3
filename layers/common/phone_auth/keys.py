"""Signing and hashing keys, derived from the key set kept in SSM Parameter Store, and the key
set's one format (read, written and converted here; ops/secret.py only decides when to
add or drop a key, and reads and writes the parameter).

The SecureString holds a key set (the stack's KeySet custom resource creates it on the first
deploy, or ``make secret`` before; ``make rotate-secret`` adds a new current key, ``RETIRE=1``
drops the older ones)::

    {"version": 1, "current": "<kid>",
     "keys": [{"kid": "<16 hex>", "secret": "<base64url of 32+ bytes>", "created_at": "<ISO 8601 UTC>"}, ...]}

The current key is listed first. A value that is not JSON is a single legacy secret: base64url
of 32+ bytes, or else the text itself when it is 32+ bytes long; its kid is derived from it,
and the first rotation keeps it under that kid. Anything else is refused (KeySetError), never
guessed at.

Tokens are signed with the current key and carry its ``kid``; verification picks among *our*
live keys by ``kid``. One-time codes, registration and refresh tokens are stored as keyed
hashes made with the current key and checked against every live key, so what is in flight
survives a rotation until its key is retired.

The parameter is read with one decrypted GetParameter and kept for SECRET_CACHE_SECONDS
(``phone_auth.aws.ssm_parameters``): a warm function sees a rotation within that time.
Separate keys are derived for separate uses, so a leak of one derived key does not give
away the others.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from phone_auth import aws
from phone_auth.crypto import keyed_hash
from phone_auth.errors import ServiceUnavailable
from phone_auth.observability import logger
from phone_auth.settings import get_settings

FORMAT_VERSION = 1
SECRET_BYTES = 32  # 256 bits, the HS256 key size
_KID = re.compile(r"^[0-9a-f]{16}$")
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_CREATED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")


class KeySetError(ValueError):
    """The value is not a usable key set (a deployment error, not a client's). The message says
    what is wrong and never quotes the value."""


# ---------------------------------------------------------------- the stored format
@dataclass(frozen=True)
class StoredKey:
    """One key of the stored set."""

    kid: str
    secret: str  # base64url of the key bytes, without padding
    created_at: str  # ISO 8601, UTC

    @property
    def master(self) -> bytes:
        return _b64decode(self.secret)


@dataclass(frozen=True)
class KeySet:
    """The stored key set: ``keys`` with the current key first."""

    keys: tuple[StoredKey, ...]
    #: Read from a legacy single-secret value (not yet written as a key set).
    legacy: bool = False

    @property
    def current(self) -> StoredKey:
        return self.keys[0]

    def secrets(self) -> list[str]:
        return [key.secret for key in self.keys]

    def to_json(self) -> str:
        """The value to store (always the JSON format, also for a set read from a legacy value)."""
        document = {
            "version": FORMAT_VERSION,
            "current": self.current.kid,
            "keys": [{"kid": k.kid, "secret": k.secret, "created_at": k.created_at} for k in self.keys],
        }
        return json.dumps(document, separators=(",", ":"))

    def ring(self) -> KeyRing:
        """The keys the functions sign, verify and hash with, derived from each master key."""
        keys = tuple(_key(key.kid, key.master) for key in self.keys)
        return KeyRing(current=keys[0], keys=keys)


def encode_secret(raw: bytes) -> str:
    """Key bytes as stored: base64url without '=' padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_secret() -> str:
    """256 random bits, base64url without '=' padding (43 characters)."""
    return encode_secret(secrets.token_bytes(SECRET_BYTES))


def new_kid() -> str:
    return secrets.token_hex(8)


def new_key() -> StoredKey:
    return StoredKey(new_kid(), generate_secret(), utc_now())


def new_key_set() -> KeySet:
    """A first key set: one random key (``make secret``, and the stack's KeySet custom resource)."""
    return KeySet((new_key(),))


def legacy_master(value: str) -> bytes:
    """The master key of a legacy single-secret value: base64url of 32+ bytes, else the text
    itself when it is 32+ bytes long. KeySetError below 256 bits."""
    text = value.strip()
    try:
        raw = _b64decode(text)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) >= SECRET_BYTES:
        return raw
    if len(text.encode()) >= SECRET_BYTES:
        return text.encode()
    raise KeySetError("the parameter holds neither a key set nor a legacy secret of at least 256 bits")


def legacy_kid(master: bytes) -> str:
    """The kid of a single secret stored before key sets (a rotation keeps it under this kid)."""
    return hashlib.sha256(b"phone-auth/kid/" + master).hexdigest()[:16]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_key_set(value: str, *, legacy_created_at: str | None = None) -> KeySet:
    """Read a stored value: a key set, or a legacy secret as a one-key set (``legacy=True``,
    created ``legacy_created_at``, now by default). KeySetError names what is wrong."""
    text = value.strip()
    if not text.startswith(("{", "[", '"')):  # JSON; never the start of a base64 secret
        master = legacy_master(text)
        key = StoredKey(legacy_kid(master), encode_secret(master), legacy_created_at or utc_now())
        return KeySet((key,), legacy=True)
    try:
        document = json.loads(text)
    except ValueError:
        raise KeySetError("the parameter starts like JSON but is not valid JSON") from None
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise KeySetError(f"the key set is not a JSON object with version {FORMAT_VERSION}")
    entries = document.get("keys")
    if not isinstance(entries, list) or not entries:
        raise KeySetError("the key set has no keys")
    keys = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != {"kid", "secret", "created_at"}:
            raise KeySetError(f"key {index}: expected exactly kid, secret and created_at")
        kid, secret, created_at = entry["kid"], entry["secret"], entry["created_at"]
        if not isinstance(kid, str) or not _KID.match(kid):
            raise KeySetError(f"key {index}: the kid is not 16 hex characters")
        if not isinstance(secret, str) or not _BASE64URL.match(secret) or len(_b64decode(secret)) < SECRET_BYTES:
            raise KeySetError(f"key {kid}: the secret is not base64url of at least {SECRET_BYTES} bytes")
        if not isinstance(created_at, str) or not _CREATED_AT.match(created_at):
            raise KeySetError(f"key {kid}: created_at is not an ISO 8601 UTC time")
        keys.append(StoredKey(kid, secret, created_at))
    if len({key.kid for key in keys}) != len(keys):
        raise KeySetError("two keys share a kid")
    if document.get("current") != keys[0].kid:
        raise KeySetError("the current kid is not the first key")
    return KeySet(tuple(keys))


# ---------------------------------------------------------------- the functions' keys
@dataclass(frozen=True)
class Key:
    kid: str
    token_signing_key: bytes
    hash_key: bytes


@dataclass(frozen=True)
class KeyRing:
    current: Key
    keys: tuple[Key, ...]  # every live key, the current one first

    @property
    def kid(self) -> str:
        return self.current.kid

    @property
    def token_signing_key(self) -> bytes:
        return self.current.token_signing_key

    def by_kid(self, kid: object) -> Key | None:
        return next((key for key in self.keys if key.kid == kid), None)

    def hash(self, *parts: str) -> str:
        """The keyed hash to store, made with the current key."""
        return keyed_hash(self.current.hash_key, *parts)

    def hashes(self, *parts: str) -> list[str]:
        """The keyed hash under every live key (current first): what a stored hash may be."""
        return [keyed_hash(key.hash_key, *parts) for key in self.keys]


def _derive(master: bytes, purpose: str) -> bytes:
    return hmac.new(master, b"phone-auth/" + purpose.encode(), hashlib.sha256).digest()


def _key(kid: str, master: bytes) -> Key:
    # The purposes name what derived keys are (stored hashes depend on them: never rename them).
    return Key(kid=kid, token_signing_key=_derive(master, "jwt"), hash_key=_derive(master, "otp"))


_cache: dict[str, KeyRing] = {}


def key_ring() -> KeyRing:
    """The live keys (the SSM read is cached in phone_auth.aws; parsing is cached here per value).

    SSM unreachable with a cold cache is a ServiceUnavailable (503), never a 500.
    """
    settings = get_settings()
    try:
        value = aws.ssm_parameters().get(settings.jwt_secret_parameter_name, max_age=settings.secret_cache_seconds)
    except aws.ParameterUnavailable as exc:  # SSM unreachable, throttled or refusing: retry later, as for DynamoDB
        logger.warning("jwt secret not read", extra={"reason": str(exc)})
        raise ServiceUnavailable(details={"dependency": "ssm"}) from None
    ring = _cache.get(value)
    if ring is None:
        ring = parse_key_set(value).ring()
        _cache.clear()
        _cache[value] = ring
    return ring
