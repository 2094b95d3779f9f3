"""Signing and hashing keys, derived from the one secret kept in SSM Parameter Store.

The SecureString is read through powertools parameters (decrypted, cached for
SECRET_CACHE_SECONDS), so a warm container does not call SSM on every request; when
SSM cannot be read the request is a 503 (dependency "ssm").
Separate keys are derived for separate uses, so a leak of one derived key
(e.g. OTP hashes) does not give away the token signing key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from phone_auth import aws
from phone_auth.errors import ServiceUnavailable
from phone_auth.log import logger
from phone_auth.settings import get_settings


@dataclass(frozen=True)
class KeyRing:
    kid: str
    token_signing_key: bytes
    otp_hash_key: bytes


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
        raise RuntimeError("the JWT secret parameter holds fewer than 256 bits")
    return text.encode()


_cache: dict[str, KeyRing] = {}


def key_ring() -> KeyRing:
    """The current keys (the SSM read is cached by powertools; derivation is cached here per secret)."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    settings = get_settings()
    try:
        value = aws.ssm_parameters().get(
            settings.jwt_secret_parameter_name, decrypt=True, max_age=settings.secret_cache_seconds
        )
    except GetParameterError as exc:  # SSM unreachable, throttled or refusing: retry later, as for DynamoDB
        logger.warning("jwt secret not read", extra={"reason": type(exc.__context__ or exc).__name__})
        raise ServiceUnavailable(details={"dependency": "ssm"}) from None
    if not isinstance(value, str):
        raise RuntimeError("the JWT secret parameter is not a string")
    ring = _cache.get(value)
    if ring is None:
        master = _decode_secret(value)
        kid = hashlib.sha256(b"phone-auth/kid/" + master).hexdigest()[:16]
        ring = KeyRing(kid=kid, token_signing_key=_derive(master, "jwt"), otp_hash_key=_derive(master, "otp"))
        _cache.clear()
        _cache[value] = ring
    return ring
