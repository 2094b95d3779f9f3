"""POST /auth/me/phone/verify: spend the code and move the account to the new number; a fresh sign-in."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import AuthSuccessResponse, PhoneChangeVerifyRequest
from phone_auth.flows.account import verify_phone_change


@api_endpoint(PhoneChangeVerifyRequest)
def lambda_handler(request: Request[PhoneChangeVerifyRequest]) -> AuthSuccessResponse:
    body = request.body
    return AuthSuccessResponse.of(
        verify_phone_change(request.caller, body.new_phone, body.code, request.client, request.language)
    )
