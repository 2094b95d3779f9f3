"""POST /auth/verify-registration-otp: spend the registration code, get a single-use registration token."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import RegistrationTokenResponse, VerifyRegistrationOtpRequest
from phone_auth.flows.registration import verify_registration_code


@api_endpoint(VerifyRegistrationOtpRequest)
def lambda_handler(request: Request[VerifyRegistrationOtpRequest]) -> RegistrationTokenResponse:
    issued = verify_registration_code(request.body.phone, request.body.code, request.client, request.body.device_token)
    return RegistrationTokenResponse.of(issued, request.language)
