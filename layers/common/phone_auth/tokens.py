"""Access tokens: PyJWT, HS256 with a key derived from the SSM key set, `kid` in the header.

Claims: iss, aud, sub (user id), iat, nbf, exp, jti, plus
  phone   the user's E.164 number (the users table key, so the authorizer needs one read),
  market  the market of the issuing stack (a token of another market's stack is refused),
  sep     the user's session epoch: logout everywhere and password reset bump it, revoking
          every earlier token, including after the user logs in again,
  sid     the session (device) the token belongs to: ending it revokes its tokens at once,
  auth_time  when the session signed in (OIDC's claim, epoch seconds): a refresh keeps it, so a
          step that needs a recent sign-in can tell a fresh sign-in from a long-refreshed one.
          A token without it (issued before the claim existed) reads as signed in long ago.

Verification picks the key by `kid` among our live keys only, requires `aud` to be exactly
ours, checks `nbf`, and refuses a lifetime (`exp - iat`) longer than the configured one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from phone_auth import clock
from phone_auth.errors import TokenExpired, TokenInvalid
from phone_auth.keys import key_ring
from phone_auth.settings import get_settings

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "iat", "exp", "jti", "iss", "aud", "sid"]
MAX_TOKEN_LENGTH = 4096
CLOCK_SKEW_SECONDS = 5


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    phone: str
    market: str
    session_epoch: int
    session_id: str
    token_id: str
    expires_at: int
    auth_time: int = 0  # epoch seconds of the session's sign-in; 0: unknown, long ago


def issue_access_token(
    user_id: str, phone: str, session_epoch: int, session_id: str, *, auth_time: int | None = None
) -> tuple[str, int]:
    """Return (token, lifetime in seconds); ``auth_time`` is the session's sign-in (default: now)."""
    settings = get_settings()
    ring = key_ring()
    issued_at = int(clock.now())
    lifetime = settings.access_token_ttl_seconds
    claims = {
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "sub": user_id,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + lifetime,
        "jti": uuid.uuid4().hex,
        "phone": phone,
        "market": settings.market,
        "sep": session_epoch,
        "sid": session_id,
        "auth_time": issued_at if auth_time is None else auth_time,
        "token_use": "access",
    }
    token = jwt.encode(claims, ring.token_signing_key, algorithm=ALGORITHM, headers={"kid": ring.kid})
    return token, lifetime


def decode_access_token(token: str) -> AccessClaims:
    """Verify signature, algorithm, kid, expiry, issuer, audience, market and claim types.

    Every failure becomes TokenInvalid or TokenExpired; nothing from an unverified token
    is trusted (its `kid` only selects among our own keys).
    """
    settings = get_settings()
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenInvalid()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenInvalid() from None
    key = key_ring().by_kid(header.get("kid"))
    if header.get("alg") != ALGORITHM or key is None:
        raise TokenInvalid()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.token_signing_key,
            algorithms=[ALGORITHM],
            audience=settings.token_audience,
            issuer=settings.token_issuer,
            # Times are checked below against phone_auth.clock, which tests can move.
            options={"require": REQUIRED_CLAIMS, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError:
        raise TokenInvalid() from None
    if claims.get("market") != settings.market or claims.get("token_use") != "access":
        raise TokenInvalid()
    if claims.get("aud") != settings.token_audience:  # exactly ours: not a list that contains it
        raise TokenInvalid()
    sub, phone, jti, sid = (_text(claims, name) for name in ("sub", "phone", "jti", "sid"))
    sep, issued_at, expires_at = (_number(claims, name) for name in ("sep", "iat", "exp"))
    not_before = _number(claims, "nbf") if "nbf" in claims else issued_at
    if expires_at - issued_at > settings.access_token_ttl_seconds:
        raise TokenInvalid()  # a lifetime we never issue
    now = clock.now()
    if issued_at > now + CLOCK_SKEW_SECONDS or not_before > now + CLOCK_SKEW_SECONDS:
        raise TokenInvalid()
    if expires_at <= now - CLOCK_SKEW_SECONDS:
        raise TokenExpired()
    auth_time = _number(claims, "auth_time") if "auth_time" in claims else 0
    if auth_time > issued_at + CLOCK_SKEW_SECONDS:
        raise TokenInvalid()  # a sign-in after the token was issued: never ours
    return AccessClaims(
        user_id=sub,
        phone=phone,
        market=claims["market"],
        session_epoch=sep,
        session_id=sid,
        token_id=jti,
        expires_at=expires_at,
        auth_time=auth_time,
    )


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise TokenInvalid()
    return value


def _number(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TokenInvalid()
    return value
