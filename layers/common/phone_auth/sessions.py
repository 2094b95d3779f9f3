"""Sessions: what a sign-in returns, refresh tokens, the session list, logout.

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
  of the two parties holding it is not the user).
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
from typing import Any

from phone_auth import clock, crypto
from phone_auth.errors import (
    RefreshTokenExpired,
    RefreshTokenInvalid,
    RefreshTokenReused,
    SessionNotFound,
    TokenMissing,
    TokenRevoked,
    UserNotFound,
)
from phone_auth.http import ClientInfo
from phone_auth.keys import key_ring
from phone_auth.log import logger
from phone_auth.messages import message
from phone_auth.models import (
    AuthSuccessResponse,
    MeResponse,
    MessageResponse,
    RefreshResponse,
    SessionsResponse,
    SessionView,
    UserView,
)
from phone_auth.observability import metrics
from phone_auth.settings import get_settings
from phone_auth.store import users
from phone_auth.store.records import SessionRecord, SignIn, UserRecord
from phone_auth.store.refusals import RefreshRejected, SessionMissing, SessionsAlreadyEnded

MAX_USER_AGENT = 200


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


def new_session(method: str, client: ClientInfo) -> tuple[SessionRecord, str]:
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
    )
    return session, secret


def user_view(user: UserRecord) -> UserView:
    return UserView.of(user, market=get_settings().market)


def signed_in(sign_in: SignIn, *, refresh_secret: str, method: str) -> AuthSuccessResponse:
    """What every successful sign-in returns: fresh tokens, the session and the user.

    Past MAX_SESSIONS_PER_USER the least recently used sessions end here (one more round
    trip, only then): ``sign_in.user`` is the user as the sign-in left it.
    """
    user, session = sign_in.user, sign_in.session
    user = users.end_sessions_past_the_cap(
        user, keep=session.id, cap=get_settings().max_sessions_per_user, now=clock.now()
    )
    access_token, lifetime = _access_token(user, session.id)
    logger.info("signed in", extra={"user_id": user.id, "method": method, "is_new_user": sign_in.is_new_user})
    metrics.count("Logins", method=method)
    return AuthSuccessResponse(
        access_token=access_token,
        expires_in=lifetime,
        user=user_view(user),
        is_new_user=sign_in.is_new_user,
        refresh_token=_refresh_token(user.phone, session.id, refresh_secret),
        session_id=session.id,
    )


def _access_token(user: UserRecord, session_id: str) -> tuple[str, int]:
    from phone_auth.tokens import issue_access_token

    return issue_access_token(user.id, user.phone, user.session_epoch, session_id)


# ---------------------------------------------------------------- refreshing
#: The only shape the API issues: base64url of the E.164 phone, 32 hex, then the secret (43
#: base64url characters at sign-in, 64 hex for a successor).
_REFRESH_TOKEN = re.compile(r"([A-Za-z0-9_-]{2,22})\.([0-9a-f]{32})\.([A-Za-z0-9_-]{43}|[0-9a-f]{64})")


def _parse_refresh_token(token: str) -> tuple[str, str, str]:
    match = _REFRESH_TOKEN.fullmatch(token)
    if match is None:
        raise RefreshTokenInvalid()
    locator, session_id, secret = match.groups()
    try:
        phone = base64.urlsafe_b64decode(locator + "=" * (-len(locator) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise RefreshTokenInvalid() from None
    if not re.fullmatch(r"\+[0-9]{6,15}", phone):
        raise RefreshTokenInvalid()
    return phone, session_id, secret


def refresh(refresh_token: str) -> RefreshResponse:
    """Spend a refresh token for a new access token and the successor refresh token.

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
        )
    except RefreshRejected as rejected:
        user = _answer_rejected_refresh(rejected, successor_hash=successor_hash, now=now)
    access_token, lifetime = _access_token(user, session_id)
    return RefreshResponse(
        access_token=access_token,
        expires_in=lifetime,
        refresh_token=_refresh_token(phone, session_id, successor),
        session_id=session_id,
        user=user_view(user),
    )


def _answer_rejected_refresh(rejected: RefreshRejected, *, successor_hash: str, now: float) -> UserRecord:
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
    # A spent token, or one that never belonged to this session: end the session.
    try:
        remaining = users.end_session(user.phone, session.id, only_if_refresh_hash=session.refresh_hash)
        users.mark_inactive_if_no_session(remaining, now=now, now_iso=clock.iso(now))
    except SessionMissing:
        pass
    logger.warning("refresh token reused: session ended", extra={"user_id": user.id, "session_id": session.id})
    metrics.count("Locks", limit="refresh_token_reuse")
    raise RefreshTokenReused()


# ---------------------------------------------------------------- the signed-in user
def _caller(authorizer_context: dict[str, Any]) -> tuple[str, str, int, str]:
    """(phone, user id, session epoch, session id) the authorizer vouched for; a call that did
    not pass through the authorizer (a misconfigured route) is refused, not trusted."""
    phone, user_id = authorizer_context.get("phone"), authorizer_context.get("user_id")
    session_id = authorizer_context.get("session_id")
    try:
        epoch = int(authorizer_context.get("session_epoch", ""))
    except (TypeError, ValueError):
        raise TokenMissing() from None
    if not all(isinstance(value, str) and value for value in (phone, user_id, session_id)):
        raise TokenMissing()
    return str(phone), str(user_id), epoch, str(session_id)


def current_user(authorizer_context: dict[str, Any]) -> MeResponse:
    phone, user_id, _, _ = _caller(authorizer_context)
    user = users.get_user(phone)
    if user is None or user.id != user_id:
        raise UserNotFound()
    return MeResponse(user=user_view(user))


def list_sessions(authorizer_context: dict[str, Any]) -> SessionsResponse:
    """The user's live sessions, most recently used first, the caller's marked: one read."""
    phone, user_id, _, current = _caller(authorizer_context)
    user = users.get_user(phone)
    if user is None or user.id != user_id:
        raise UserNotFound()
    live = user.live_sessions(clock.now())
    return SessionsResponse(sessions=[SessionView.of(session, current=session.id == current) for session in live])


def _end_one(phone: str, session_id: str) -> None:
    now = clock.now()
    try:
        remaining = users.end_session(phone, session_id)
    except SessionMissing:
        raise SessionNotFound() from None
    users.mark_inactive_if_no_session(remaining, now=now, now_iso=clock.iso(now))


def end_session(authorizer_context: dict[str, Any], session_id: str, language: str) -> MessageResponse:
    """End one of the caller's sessions; its access tokens are refused from now on."""
    phone, user_id, _, _ = _caller(authorizer_context)
    _end_one(phone, session_id)
    logger.info("session ended", extra={"user_id": user_id, "session_id": session_id})
    return MessageResponse(message=message("SESSION_ENDED", language))


def logout(authorizer_context: dict[str, Any], scope: str, language: str) -> MessageResponse:
    """``all``: end every session, mark the user inactive and bump the session epoch, so every
    token issued before stops working for good. ``current``: end only the caller's session
    (the user stays active while another session is live)."""
    phone, user_id, epoch, session_id = _caller(authorizer_context)
    if scope == "current":
        try:
            _end_one(phone, session_id)
        except SessionNotFound:
            raise TokenRevoked() from None
        logger.info("logged out here", extra={"user_id": user_id})
        metrics.count("Logouts")
        return MessageResponse(message=message("LOGGED_OUT_HERE", language))
    try:
        users.end_all_sessions(phone, expected_epoch=epoch, now_iso=clock.iso(clock.now()))
    except SessionsAlreadyEnded:
        raise TokenRevoked() from None
    logger.info("logged out", extra={"user_id": user_id})
    metrics.count("Logouts")
    return MessageResponse(message=message("LOGGED_OUT", language))
