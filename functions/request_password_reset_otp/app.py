"""POST /auth/request-password-reset-otp: text a reset code; the same answer for phones without an account."""

from aws_lambda_powertools.logging import correlation_paths

from phone_auth.http import Request, api_endpoint
from phone_auth.log import logger
from phone_auth.models import PhoneRequest, SendCodeResponse
from phone_auth.password_reset import request_password_reset
from phone_auth.settings import get_settings

get_settings()  # an invalid configuration fails the cold start, not the first request


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@api_endpoint(PhoneRequest)
def lambda_handler(request: Request[PhoneRequest]) -> SendCodeResponse:
    return request_password_reset(request.body.phone, request.language)
