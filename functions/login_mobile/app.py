"""POST /auth/login/mobile: sign in with mobile number and password."""

from aws_lambda_powertools.logging import correlation_paths

from phone_auth.http import Request, api_endpoint
from phone_auth.log import logger
from phone_auth.models import AuthSuccessResponse, LoginRequest
from phone_auth.password_login import login_with_password
from phone_auth.settings import get_settings

get_settings()  # an invalid configuration fails the cold start, not the first request


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@api_endpoint(LoginRequest)
def lambda_handler(request: Request[LoginRequest]) -> AuthSuccessResponse:
    return login_with_password(request.body.phone, request.body.password, request.client)
