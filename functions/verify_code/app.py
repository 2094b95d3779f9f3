"""POST /auth/verify-code: spend the login code, create the user on first sign-in, start a session."""

from aws_lambda_powertools.logging import correlation_paths

from phone_auth.http import Request, api_endpoint
from phone_auth.log import logger
from phone_auth.models import AuthSuccessResponse, VerifyCodeRequest
from phone_auth.passwordless import verify_login_code
from phone_auth.settings import get_settings

get_settings()  # an invalid configuration fails the cold start, not the first request


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@api_endpoint(VerifyCodeRequest)
def lambda_handler(request: Request[VerifyCodeRequest]) -> AuthSuccessResponse:
    return verify_login_code(request.body.phone, request.body.verification_code, request.client)
