"""DELETE /auth/sessions/{id}: end one of the user's sessions; its tokens stop working at once."""

from aws_lambda_powertools.logging import correlation_paths

from phone_auth.http import Request, api_endpoint
from phone_auth.log import logger
from phone_auth.models import MessageResponse
from phone_auth.sessions import end_session
from phone_auth.settings import get_settings

get_settings()  # an invalid configuration fails the cold start, not the first request


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@api_endpoint(None)
def lambda_handler(request: Request[None]) -> MessageResponse:
    return end_session(request.authorizer, request.path_parameters.get("id", ""), request.language)
