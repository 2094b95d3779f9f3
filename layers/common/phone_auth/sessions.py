"""Sessions: what a sign-in returns, who am I, logout, and the Lambda authorizer that guards them."""

from __future__ import annotations

from typing import Any

from phone_auth import clock
from phone_auth.errors import AuthError, ServiceUnavailable, TokenMissing, TokenRevoked, UserNotFound
from phone_auth.log import logger
from phone_auth.messages import message, preferred_language
from phone_auth.models import AuthSuccessResponse, MeResponse, MessageResponse, UserView
from phone_auth.settings import get_settings
from phone_auth.store import users
from phone_auth.store.records import SignIn, UserRecord
from phone_auth.store.refusals import SessionsAlreadyEnded
from phone_auth.tokens import AccessClaims, decode_access_token, issue_access_token


def user_view(user: UserRecord) -> UserView:
    return UserView.of(user, market=get_settings().market)


def signed_in(sign_in: SignIn, *, method: str) -> AuthSuccessResponse:
    """What every successful sign-in returns: a fresh access token and the user."""
    user = sign_in.user
    token, lifetime = issue_access_token(user.id, user.phone, user.session_epoch)
    logger.info("signed in", extra={"user_id": user.id, "method": method, "is_new_user": sign_in.is_new_user})
    return AuthSuccessResponse(
        access_token=token, expires_in=lifetime, user=user_view(user), is_new_user=sign_in.is_new_user
    )


def _caller(authorizer_context: dict[str, Any]) -> tuple[str, str, int]:
    """(phone, user id, session epoch) the authorizer vouched for; a call that did not pass
    through the authorizer (a misconfigured route) is refused, not trusted."""
    phone, user_id = authorizer_context.get("phone"), authorizer_context.get("user_id")
    try:
        epoch = int(authorizer_context.get("session_epoch", ""))
    except (TypeError, ValueError):
        raise TokenMissing() from None
    if not isinstance(phone, str) or not phone or not isinstance(user_id, str) or not user_id:
        raise TokenMissing()
    return phone, user_id, epoch


def current_user(authorizer_context: dict[str, Any]) -> MeResponse:
    phone, user_id, _ = _caller(authorizer_context)
    user = users.get_user(phone)
    if user is None or user.id != user_id:
        raise UserNotFound()
    return MeResponse(user=user_view(user))


def logout(authorizer_context: dict[str, Any], language: str) -> MessageResponse:
    """Bump the session epoch: every token issued before now stops working, for good."""
    phone, user_id, epoch = _caller(authorizer_context)
    try:
        users.end_all_sessions(phone, expected_epoch=epoch, now_iso=clock.iso(clock.now()))
    except SessionsAlreadyEnded:
        raise TokenRevoked() from None
    logger.info("logged out", extra={"user_id": user_id})
    return MessageResponse(message=message("LOGGED_OUT", language))


def _bearer_token(headers: dict[str, Any]) -> str:
    value = next((str(v) for k, v in headers.items() if str(k).lower() == "authorization" and v), "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenMissing()
    return token.strip()


def check_access_token(token: str) -> AccessClaims:
    """Signature, expiry, issuer, audience, market, then revocation: one read of the user."""
    claims = decode_access_token(token)
    user = users.get_user(claims.phone)
    if user is None or user.id != claims.user_id or not user.is_active or user.session_epoch != claims.session_epoch:
        raise TokenRevoked()
    return claims


def _policy(principal: str, effect: str, method_arn: str, context: dict[str, Any]) -> dict[str, Any]:
    # arn:aws:execute-api:region:account:api-id/stage/METHOD/path -> the whole stage, so a
    # cached answer (when the authorizer cache is on) is valid for every route it guards.
    parts = method_arn.split("/")
    resource = "/".join(parts[:2]) + "/*/*" if len(parts) >= 2 else method_arn
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    """REQUEST authorizer: Allow with the user in the context, or Deny with our error code
    and message (the ACCESS_DENIED gateway response turns it into a 401 with our body)."""
    headers = event.get("headers") or {}
    language = preferred_language(
        next((str(v) for k, v in headers.items() if str(k).lower() == "accept-language"), None)
    )
    method_arn = str(event.get("methodArn", ""))
    try:
        claims = check_access_token(_bearer_token(headers))
    except ServiceUnavailable:
        raise  # API Gateway answers 500 (AUTHORIZER_FAILURE): a blip must not look like a logout
    except AuthError as error:
        logger.info("access denied", extra={"error_code": error.code})
        return _policy(
            "anonymous",
            "Deny",
            method_arn,
            {"error_code": error.code, "error_message": message(error.code, language)},
        )
    return _policy(
        claims.user_id,
        "Allow",
        method_arn,
        {
            "user_id": claims.user_id,
            "phone": claims.phone,
            "market": claims.market,
            "session_epoch": str(claims.session_epoch),
            "token_id": claims.token_id,
        },
    )
