"""Signing and hashing keys, derived from the key set kept in SSM Parameter Store.

The SecureString holds a key set (``make secret`` creates it, ``make rotate-secret`` adds a
new current key, ``RETIRE=1`` drops the older ones)::

    {"version": 1, "current": "<kid>", "keys": [{"kid": "<kid>", "secret": "<base64url>", ...}, ...]}

A value that is not JSON is a single legacy secret whose kid is derived from it. Tokens are
signed with the current key and carry its ``kid``; verification picks among *our* live keys
by ``kid``. One-time codes, registration and refresh tokens are stored as keyed hashes made
with the current key and checked against every live key, so what is in flight survives a
rotation until its key is retired.

The parameter is read with one decrypted GetParameter and kept for SECRET_CACHE_SECONDS
(``phone_auth.aws.ssm_parameters``): a warm function sees a rotation within that time.
Separate keys are derived for separate uses, so a leak of one derived key does not give
away the others.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from phone_auth import aws
from phone_auth.crypto import keyed_hash
from phone_auth.errors import ServiceUnavailable
from phone_auth.observability import logger
from phone_auth.settings import get_settings


class KeySetError(RuntimeError):
    """The parameter does not hold a usable key set (a deployment error, not a client's)."""


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


def _decode_secret(value: str) -> bytes:
    text = value.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raw = b""
    if len(raw) >= 32:
        return raw
    # Not base64 of 32+ bytes: use the text itself, but only if it is long enough to be a key.
    if len(text.encode()) < 32:
        raise KeySetError("a key in the JWT secret parameter holds fewer than 256 bits")
    return text.encode()


def legacy_kid(master: bytes) -> str:
    """The kid of a single secret stored before key sets (the tooling keeps it on rotation)."""
    return hashlib.sha256(b"phone-auth/kid/" + master).hexdigest()[:16]


def _key(kid: str, master: bytes) -> Key:
    return Key(kid=kid, token_signing_key=_derive(master, "jwt"), hash_key=_derive(master, "otp"))


def parse_key_set(value: str) -> KeyRing:
    text = value.strip()
    if not text.startswith("{"):
        master = _decode_secret(text)
        key = _key(legacy_kid(master), master)
        return KeyRing(current=key, keys=(key,))
    try:
        document = json.loads(text)
        entries = [(str(entry["kid"]), _decode_secret(str(entry["secret"]))) for entry in document["keys"]]
        current_kid = str(document["current"])
    except (ValueError, KeyError, TypeError):
        raise KeySetError("the JWT secret parameter is not a valid key set") from None
    keys = {kid: _key(kid, master) for kid, master in entries}
    if current_kid not in keys or len(keys) != len(entries):
        raise KeySetError("the key set's current key is missing, or two keys share a kid")
    current = keys[current_kid]
    return KeyRing(current=current, keys=(current, *(key for kid, key in keys.items() if kid != current_kid)))


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
        ring = parse_key_set(value)
        _cache.clear()
        _cache[value] = ring
    return ring
