"""Lambda REQUEST authorizer: checks our access tokens (signature, expiry, issuer, audience,
market, session, revocation) for the protected routes and the product's other APIs."""

from typing import Any

from phone_auth.api.authorizer import authorize
from phone_auth.api.endpoint import authorizer_endpoint


@authorizer_endpoint
def lambda_handler(event: dict[str, Any]) -> dict[str, Any]:
    return authorize(event)
