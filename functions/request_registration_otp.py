"""POST /auth/request-registration-otp: text a registration code to a phone that may register."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import PhoneRequest, SendCodeResponse
from phone_auth.flows.registration import request_registration_code


@api_endpoint(PhoneRequest)
def lambda_handler(request: Request[PhoneRequest]) -> SendCodeResponse:
    sent = request_registration_code(request.body.phone, request.language, request.client, request.body.device_token)
    return SendCodeResponse.of(sent, request.language)
