"""POST /auth/logout: end every session of the user, or with {"scope": "current"} only this one."""

from aws_lambda_powertools.logging import correlation_paths

from phone_auth.http import Request, api_endpoint
from phone_auth.log import logger
from phone_auth.models import LogoutRequest, MessageResponse
from phone_auth.sessions import logout
from phone_auth.settings import get_settings

get_settings()  # an invalid configuration fails the cold start, not the first request


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@api_endpoint(LogoutRequest)
def lambda_handler(request: Request[LogoutRequest]) -> MessageResponse:
    return logout(request.authorizer, request.body.scope, request.language)
