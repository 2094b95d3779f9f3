"""POST /auth/verify-code: spend the login code, create the user on first sign-in, start a session."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import AuthSuccessResponse, VerifyCodeRequest
from phone_auth.flows.passwordless import verify_login_code


@api_endpoint(VerifyCodeRequest)
def lambda_handler(request: Request[VerifyCodeRequest]) -> AuthSuccessResponse:
    return AuthSuccessResponse.of(
        verify_login_code(request.body.phone, request.body.verification_code, request.client, request.body.device_token)
    )
