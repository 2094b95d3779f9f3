"""The Lambda REQUEST authorizer: checks our access tokens for the protected routes (and the
product's other APIs that reuse it).

Signature, expiry, issuer, audience, market, then revocation: one read of the user tells
whether the token's session epoch is current and its session is still live.
"""

from __future__ import annotations

from typing import Any

from phone_auth import clock
from phone_auth.errors import AuthError, ServiceUnavailable, TokenMissing, TokenRevoked
from phone_auth.log import logger
from phone_auth.messages import message, preferred_language
from phone_auth.store import users
from phone_auth.tokens import AccessClaims, decode_access_token


def _bearer_token(headers: dict[str, Any]) -> str:
    value = next((str(v) for k, v in headers.items() if str(k).lower() == "authorization" and v), "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenMissing()
    return token.strip()


def check_access_token(token: str) -> AccessClaims:
    """The token's claims if it is valid and its session live; one read of the user."""
    claims = decode_access_token(token)
    user = users.get_user(claims.phone)
    session = None if user is None else user.sessions.get(claims.session_id)
    if (
        user is None
        or user.id != claims.user_id
        or not user.is_active
        or user.session_epoch != claims.session_epoch
        or session is None
        or not session.is_live(clock.now())
    ):
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
    """Allow with the user and session in the context, or Deny with our error code and message
    (the ACCESS_DENIED gateway response turns it into a 401 with our body)."""
    headers = event.get("headers") or {}
    language = preferred_language(
        next((str(v) for k, v in headers.items() if str(k).lower() == "accept-language"), None)
    )
    method_arn = str(event.get("methodArn", ""))
    try:
        claims = check_access_token(_bearer_token(headers))
    except ServiceUnavailable:
        raise  # API Gateway's AUTHORIZER_FAILURE (a 503): a blip must not look like a logout
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
            "session_id": claims.session_id,
            "token_id": claims.token_id,
        },
    )
