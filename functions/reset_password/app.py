"""POST /auth/reset-password: spend the reset code, set the new password, end every session."""

from aws_lambda_powertools.logging import correlation_paths

from phone_auth.http import Request, api_endpoint
from phone_auth.log import logger
from phone_auth.models import MessageResponse, ResetPasswordRequest
from phone_auth.password_reset import reset_password
from phone_auth.settings import get_settings

get_settings()  # an invalid configuration fails the cold start, not the first request


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@api_endpoint(ResetPasswordRequest)
def lambda_handler(request: Request[ResetPasswordRequest]) -> MessageResponse:
    body = request.body
    return reset_password(body.phone, body.code, body.new_password, request.language)
