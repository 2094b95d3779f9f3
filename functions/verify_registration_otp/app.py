"""POST /auth/verify-registration-otp: spend the registration code, get a single-use registration token."""

from aws_lambda_powertools.logging import correlation_paths

from phone_auth.http import Request, api_endpoint
from phone_auth.log import logger
from phone_auth.models import RegistrationTokenResponse, VerifyRegistrationOtpRequest
from phone_auth.registration import verify_registration_code
from phone_auth.settings import get_settings

get_settings()  # an invalid configuration fails the cold start, not the first request


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@api_endpoint(VerifyRegistrationOtpRequest)
def lambda_handler(request: Request[VerifyRegistrationOtpRequest]) -> RegistrationTokenResponse:
    return verify_registration_code(request.body.phone, request.body.code, request.language)
