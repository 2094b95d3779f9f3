"""POST /auth/refresh: spend a refresh token for a new access token and its successor."""

from aws_lambda_powertools.logging import correlation_paths

from phone_auth.http import Request, api_endpoint
from phone_auth.log import logger
from phone_auth.models import RefreshRequest, RefreshResponse
from phone_auth.sessions import refresh
from phone_auth.settings import get_settings

get_settings()  # an invalid configuration fails the cold start, not the first request


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@api_endpoint(RefreshRequest)
def lambda_handler(request: Request[RefreshRequest]) -> RefreshResponse:
    return refresh(request.body.refresh_token)
