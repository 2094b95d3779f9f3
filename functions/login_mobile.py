"""POST /auth/login/mobile: sign in with mobile number and password."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import AuthSuccessResponse, LoginRequest
from phone_auth.flows.password_login import login_with_password


@api_endpoint(LoginRequest)
def lambda_handler(request: Request[LoginRequest]) -> AuthSuccessResponse:
    return AuthSuccessResponse.of(
        login_with_password(request.body.phone, request.body.password, request.client, request.body.device_token)
    )
