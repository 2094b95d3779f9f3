"""POST /auth/complete-registration: spend the registration token, set the first password, sign in."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import AuthSuccessResponse, CompleteRegistrationRequest
from phone_auth.flows.registration import complete_registration


@api_endpoint(CompleteRegistrationRequest)
def lambda_handler(request: Request[CompleteRegistrationRequest]) -> AuthSuccessResponse:
    body = request.body
    return AuthSuccessResponse.of(
        complete_registration(body.phone, body.password, body.registration_token, request.client)
    )
