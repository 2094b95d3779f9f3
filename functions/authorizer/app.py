"""Lambda REQUEST authorizer: checks our access tokens (signature, expiry, issuer, audience,
market, session, revocation) for the protected routes and the product's other APIs."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from phone_auth.authorizer import authorize
from phone_auth.log import logger
from phone_auth.observability import lambda_invocation
from phone_auth.settings import get_settings

get_settings()  # an invalid configuration fails the cold start, not the first request


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@lambda_invocation
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return authorize(event)
