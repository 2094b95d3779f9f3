"""POST /auth/complete-registration: spend the registration token, set the first password, sign in."""

from aws_lambda_powertools.logging import correlation_paths

from phone_auth.http import Request, api_endpoint
from phone_auth.log import logger
from phone_auth.models import AuthSuccessResponse, CompleteRegistrationRequest
from phone_auth.registration import complete_registration
from phone_auth.settings import get_settings

get_settings()  # an invalid configuration fails the cold start, not the first request


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@api_endpoint(CompleteRegistrationRequest)
def lambda_handler(request: Request[CompleteRegistrationRequest]) -> AuthSuccessResponse:
    body = request.body
    return complete_registration(body.phone, body.password, body.registration_token, request.client)
