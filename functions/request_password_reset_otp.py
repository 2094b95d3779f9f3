"""POST /auth/request-password-reset-otp: text a reset code; the same answer for phones without an account."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import PhoneRequest, SendCodeResponse
from phone_auth.flows.password_reset import request_password_reset


@api_endpoint(PhoneRequest)
def lambda_handler(request: Request[PhoneRequest]) -> SendCodeResponse:
    sent = request_password_reset(request.body.phone, request.language, request.client, request.body.device_token)
    return SendCodeResponse.of(sent, request.language)
