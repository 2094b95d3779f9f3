"""Sessions: what a sign-in returns, refresh tokens, the signed-in user, the session list,
ending sessions and logout, and checking an access token against its live session.

Every sign-in starts a session (one per device) and returns an access token (short-lived,
carrying the session id ``sid``) and a refresh token. A refresh token is
``<base64url(phone)>.<session id>.<256 random bits>``: the first two parts locate the session
on the user item, and only keyed hashes of the random part are stored, bound to this
stack's market.

- Refreshing spends the token and returns its successor. The successor is derived from the
  spent token with our key, so a client that retried the same refresh within
  REFRESH_REUSE_GRACE_SECONDS gets the same successor, and concurrent refreshes with one
  token leave exactly one live successor.
- Presenting a spent token after that window ends the whole session (reuse detection: one
  of the two parties holding it is not the user). Only a token we issued is a spent one: the
  successors are derived from it, so deriving forward from the presented secret (at most
  REFRESH_CHAIN_LIMIT steps, under each live key) must reach the session's current hash. A
  secret that never belonged to the session (forged from the locator and session id any access
  token shows) is REFRESH_TOKEN_INVALID and leaves the session alone.
- A refresh records the network and user agent it came from, in its one write, so the session
  list shows where and from what each session was last used.
- A session lives REFRESH_TOKEN_TTL_SECONDS after its last use and at most
  SESSION_MAX_AGE_SECONDS after the sign-in; a user keeps at most MAX_SESSIONS_PER_USER,
  the least recently used ending first.
- Ending a session (logout here, DELETE /auth/sessions/{id}) revokes its access tokens at
  once; logout everywhere and a password reset end them all.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from phone_auth import clock, crypto
from phone_auth.callers import Caller, ClientInfo
from phone_auth.errors import (
    RefreshTokenExpired,
    RefreshTokenInvalid,
    RefreshTokenReused,
    SessionNotFound,
    TokenRevoked,
    UserNotFound,
)
from phone_auth.keys import Key, key_ring
from phone_auth.messages import Outcome
from phone_auth.observability import logger, metrics
from phone_auth.settings import get_settings
from phone_auth.store import users
from phone_auth.store.records import SessionRecord, SignIn, UserRecord
from phone_auth.store.refusals import RefreshRejected, SessionMissing, SessionsAlreadyEnded

if TYPE_CHECKING:
    from phone_auth.tokens import AccessClaims

MAX_USER_AGENT = 200
#: How many refreshes back a spent token is still recognised as ours (reuse ends the session);
#: older, or across a key rotation, it is refused as invalid, the session left alone. Bounds the
#: work a presented secret costs: at most this many keyed hashes per live key, twice.
REFRESH_CHAIN_LIMIT = 1000
#: How a session started (SessionRecord.method, the Logins metric's Method): a code, a password,
#: the registration's first password, or a number change (its code proved the new number).
SignInMethod = Literal["sms_code", "password", "registration", "phone_change"]


@dataclass(frozen=True)
class SessionTokens:
    """A session's fresh tokens: the access token, the next refresh token, and the user."""

    access_token: str
    expires_in: int  # the access token's lifetime, seconds
    refresh_token: str
    session_id: str
    user: UserRecord


@dataclass(frozen=True)
class SignedIn(SessionTokens):
    """What every successful sign-in gives: the new session's tokens, and whether the sign-in
    created the user."""

    is_new_user: bool
    device_token: str  # the device credential: the one presented, if it held, else a new one


@dataclass(frozen=True)
class SessionList:
    """The user's live sessions, most recently used first, and which one is the caller's."""

    sessions: list[SessionRecord]
    current: str


# ---------------------------------------------------------------- starting a session
def mask_ip(source_ip: str | None) -> str:
    """203.0.113.7 -> 203.0.113.0/24, 2001:db8:1:2::1 -> 2001:db8:1::/48: the network, not the host."""
    try:
        address = ipaddress.ip_address(source_ip or "")
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _clean_user_agent(user_agent: str) -> str:
    return "".join(ch for ch in user_agent if ch.isprintable())[:MAX_USER_AGENT]


def _refresh_hash_parts(session_id: str, secret: str) -> tuple[str, ...]:
    return ("refresh", get_settings().market, session_id, secret)


def _refresh_token(phone: str, session_id: str, secret: str) -> str:
    locator = base64.urlsafe_b64encode(phone.encode()).decode().rstrip("=")
    return f"{locator}.{session_id}.{secret}"


def new_session(method: SignInMethod, client: ClientInfo) -> tuple[SessionRecord, str]:
    """A session to start with a sign-in, and the secret part of its first refresh token."""
    settings = get_settings()
    now = clock.now()
    session_id = crypto.new_session_id()
    secret = crypto.new_opaque_token()
    session = SessionRecord(
        id=session_id,
        created_at=clock.iso(now),
        last_used_at=clock.iso(now),
        method=method,
        user_agent=_clean_user_agent(client.user_agent),
        ip=mask_ip(client.source_ip),
        expires_at=int(now) + settings.session_max_age_seconds,
        idle_expires_at=int(now) + settings.refresh_token_ttl_seconds,
        refresh_hash=key_ring().hash(*_refresh_hash_parts(session_id, secret)),
        refresh_kid=key_ring().kid,
        signed_in_at=int(now),
    )
    return session, secret


def signed_in(sign_in: SignIn, *, refresh_secret: str, method: SignInMethod, device_token: str) -> SignedIn:
    """What every successful sign-in returns: fresh tokens, the session, the device credential
    and the user.

    Past MAX_SESSIONS_PER_USER the least recently used sessions end here, and past
    MAX_DEVICES_PER_USER (or idle past their expiry) the least recently used device credentials
    are forgotten (one more round trip each, only then): ``sign_in.user`` is the user as the
    sign-in left it.
    """
    user, session = sign_in.user, sign_in.session
    settings = get_settings()
    now = clock.now()
    keep = device_token.split(".", 1)[0]
    users.forget_devices(user, user.devices_to_forget(keep=keep, cap=settings.max_devices_per_user, now=now))
    user = users.end_sessions_past_the_cap(user, keep=session.id, cap=settings.max_sessions_per_user, now=now)
    access_token, lifetime = _access_token(user, session.id)
    logger.info("signed in", extra={"user_id": user.id, "method": method, "is_new_user": sign_in.is_new_user})
    metrics.count("Logins", method=method)
    return SignedIn(
        access_token=access_token,
        expires_in=lifetime,
        refresh_token=_refresh_token(user.phone, session.id, refresh_secret),
        session_id=session.id,
        user=user,
        is_new_user=sign_in.is_new_user,
        device_token=device_token,
    )


def _access_token(user: UserRecord, session_id: str) -> tuple[str, int]:
    """An access token of ``session_id``, carrying the session's sign-in time as ``auth_time``
    (0, long ago, should the session be gone from ``user``: a recent sign-in is never assumed)."""
    from phone_auth.tokens import issue_access_token  # PyJWT only where a token is issued

    session = user.sessions.get(session_id)
    auth_time = 0 if session is None else session.auth_time
    return issue_access_token(user.id, user.phone, user.session_epoch, session_id, auth_time=auth_time)


# ---------------------------------------------------------------- refreshing
_REFRESH_TOKEN = re.compile(crypto.REFRESH_TOKEN_PATTERN)
_E164 = re.compile(r"\+[0-9]{6,15}")


def _parse_refresh_token(token: str) -> tuple[str, str, str]:
    """(phone, session id, secret) of a token in the only shape the API issues."""
    if _REFRESH_TOKEN.fullmatch(token) is None:
        raise RefreshTokenInvalid()
    locator, session_id, secret = token.split(".")
    try:
        phone = base64.urlsafe_b64decode(locator + "=" * (-len(locator) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise RefreshTokenInvalid() from None
    if not _E164.fullmatch(phone):
        raise RefreshTokenInvalid()
    return phone, session_id, secret


def refresh(refresh_token: str, client: ClientInfo | None = None) -> SessionTokens:
    """Spend a refresh token for a new access token and the successor refresh token, recording
    where (``client``'s network, masked) and from what (its user agent) the session was used.

    One round trip (a conditional update of the session); ending a session on reuse takes one
    more.
    """
    settings = get_settings()
    phone, session_id, secret = _parse_refresh_token(refresh_token)
    ring = key_ring()
    presented = ring.hashes(*_refresh_hash_parts(session_id, secret))
    successor = ring.hash("refresh-successor", settings.market, session_id, secret)
    successor_hash = ring.hash(*_refresh_hash_parts(session_id, successor))
    now = clock.now()
    try:
        user = users.rotate_refresh_token(
            phone,
            session_id,
            presented_hashes=presented,
            new_hash=successor_hash,
            new_kid=ring.kid,
            now=int(now),
            now_iso=clock.iso(now),
            idle_expires_at=int(now) + settings.refresh_token_ttl_seconds,
            ip=None if client is None else mask_ip(client.source_ip),
            user_agent=None if client is None else _clean_user_agent(client.user_agent),
        )
    except RefreshRejected as rejected:
        user = _answer_rejected_refresh(rejected, secret=secret, successor_hash=successor_hash, now=now)
    access_token, lifetime = _access_token(user, session_id)
    return SessionTokens(
        access_token=access_token,
        expires_in=lifetime,
        refresh_token=_refresh_token(phone, session_id, successor),
        session_id=session_id,
        user=user,
    )


def _successor(key: Key, session_id: str, secret: str) -> str:
    return crypto.keyed_hash(key.hash_key, "refresh-successor", get_settings().market, session_id, secret)


def _issued_for(session: SessionRecord, secret: str) -> bool:
    """Whether ``secret`` is one of the session's spent refresh secrets: its chain of successors,
    derived under one live key, reaches the session's current hash within REFRESH_CHAIN_LIMIT."""
    ring = key_ring()
    for key in ring.keys:
        successor = secret
        for _ in range(REFRESH_CHAIN_LIMIT):
            successor = _successor(key, session.id, successor)
            if session.refresh_hash in ring.hashes(*_refresh_hash_parts(session.id, successor)):
                return True
    return False


def _answer_rejected_refresh(rejected: RefreshRejected, *, secret: str, successor_hash: str, now: float) -> UserRecord:
    """The user to answer a retried refresh with, or the refusal (ending the session on reuse)."""
    user, session = rejected.user, rejected.session
    if user is None or session is None:
        raise RefreshTokenInvalid()
    if not session.is_live(now):
        raise RefreshTokenExpired()
    if session.refresh_kid is not None and key_ring().by_kid(session.refresh_kid) is None:
        # Its key was retired: no presented token can match any more. End it; not a theft.
        with contextlib.suppress(SessionMissing):
            users.mark_inactive_if_no_session(
                users.end_session(user.phone, session.id, only_if_refresh_hash=session.refresh_hash),
                now=now,
                now_iso=clock.iso(now),
            )
        raise RefreshTokenInvalid()
    grace = get_settings().refresh_reuse_grace_seconds
    retried = session.refresh_hash == successor_hash and session.rotated_at is not None
    if retried and grace > 0 and now - (session.rotated_at or 0) <= grace:
        return user  # the same client retrying: the same successor, nothing written
    if not _issued_for(session, secret):
        # Never issued for this session (forged from what an access token shows): refused, and
        # the session is left alone.
        raise RefreshTokenInvalid()
    # A spent token of this session: one of the two parties holding it is not the user.
    try:
        remaining = users.end_session(user.phone, session.id, only_if_refresh_hash=session.refresh_hash)
        users.mark_inactive_if_no_session(remaining, now=now, now_iso=clock.iso(now))
    except SessionMissing:
        pass
    logger.warning("refresh token reused: session ended", extra={"user_id": user.id, "session_id": session.id})
    metrics.count("Locks", limit="refresh_token_reuse")
    raise RefreshTokenReused()


# ---------------------------------------------------------------- access tokens
def check_access_token(token: str) -> AccessClaims:
    """The token's claims if it is valid and its session live; one read of the user.

    Signature, expiry, issuer, audience and market (phone_auth.tokens), then revocation: the
    read tells whether the token's session epoch is current and its session still live.
    """
    from phone_auth.tokens import decode_access_token

    claims = decode_access_token(token)
    user = users.get_user(claims.phone)
    session = None if user is None else user.sessions.get(claims.session_id)
    if (
        user is None
        or user.id != claims.user_id
        or user.disabled
        or not user.is_active
        or user.session_epoch != claims.session_epoch
        or session is None
        or not session.is_live(clock.now())
    ):
        raise TokenRevoked()
    return claims


# ---------------------------------------------------------------- the signed-in user
def _callers_user(caller: Caller) -> UserRecord:
    user = users.get_user(caller.phone)
    if user is None or user.id != caller.user_id:
        raise UserNotFound()
    return user


def current_user(caller: Caller) -> UserRecord:
    """The caller as stored: one read."""
    return _callers_user(caller)


def list_sessions(caller: Caller) -> SessionList:
    """The user's live sessions, most recently used first, the caller's marked: one read."""
    user = _callers_user(caller)
    return SessionList(sessions=user.live_sessions(clock.now()), current=caller.session_id)


def _end_one(phone: str, session_id: str) -> None:
    now = clock.now()
    try:
        remaining = users.end_session(phone, session_id)
    except SessionMissing:
        raise SessionNotFound() from None
    users.mark_inactive_if_no_session(remaining, now=now, now_iso=clock.iso(now))


def end_session(caller: Caller, session_id: str) -> Outcome:
    """End one of the caller's sessions; its access tokens are refused from now on."""
    _end_one(caller.phone, session_id)
    logger.info("session ended", extra={"user_id": caller.user_id, "session_id": session_id})
    return "SESSION_ENDED"


def logout(caller: Caller, scope: Literal["all", "current"]) -> Outcome:
    """``all``: end every session, mark the user inactive and bump the session epoch, so every
    token issued before stops working for good. ``current``: end only the caller's session
    (the user stays active while another session is live)."""
    if scope == "current":
        try:
            _end_one(caller.phone, caller.session_id)
        except SessionNotFound:
            raise TokenRevoked() from None
        logger.info("logged out here", extra={"user_id": caller.user_id})
        metrics.count("Logouts")
        return "LOGGED_OUT_HERE"
    try:
        users.end_all_sessions(caller.phone, expected_epoch=caller.session_epoch, now_iso=clock.iso(clock.now()))
    except SessionsAlreadyEnded:
        raise TokenRevoked() from None
    logger.info("logged out", extra={"user_id": caller.user_id})
    metrics.count("Logouts")
    return "LOGGED_OUT"
