"""The Lambda REQUEST authorizer: an API Gateway authorizer event in, an IAM policy out.

It guards the protected routes (and the product's other APIs that reuse it). The token itself
is checked by phone_auth.flows.sessions.check_access_token (signature, expiry, issuer,
audience, market, then revocation: one read of the user); this module reads the bearer token
and the language from the event and answers Allow, with the caller in the context, or Deny
with our error code and message.
"""

from __future__ import annotations

from typing import Any

from phone_auth.errors import AuthError, ServiceUnavailable, TokenMissing
from phone_auth.flows.sessions import check_access_token
from phone_auth.messages import message, preferred_language
from phone_auth.observability import logger


def _bearer_token(headers: dict[str, Any]) -> str:
    value = next((str(v) for k, v in headers.items() if str(k).lower() == "authorization" and v), "")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenMissing()
    return token.strip()


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
    """Allow with the user and session in the context (what phone_auth.callers.Caller reads), or
    Deny with our error code and message (the ACCESS_DENIED gateway response turns it into a 401
    with our body)."""
    headers = event.get("headers") or {}
    language = preferred_language(
        next((str(v) for k, v in headers.items() if str(k).lower() == "accept-language"), None)
    )
    method_arn = str(event.get("methodArn", ""))
    try:
        claims = check_access_token(_bearer_token(headers))
    except ServiceUnavailable:
        raise  # API Gateway's AUTHORIZER_CONFIGURATION_ERROR (a 503): a blip must not look like a logout
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
            "auth_time": str(claims.auth_time),
        },
    )
