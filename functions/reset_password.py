"""POST /auth/reset-password: spend the reset code, set the new password, end every session."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import MessageResponse, ResetPasswordRequest
from phone_auth.flows.password_reset import reset_password


@api_endpoint(ResetPasswordRequest)
def lambda_handler(request: Request[ResetPasswordRequest]) -> MessageResponse:
    body = request.body
    return MessageResponse.of(
        reset_password(body.phone, body.code, body.new_password, request.client, body.device_token), request.language
    )
