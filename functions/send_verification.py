"""POST /auth/send-verification: text a login code to the phone."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import PhoneRequest, SendCodeResponse
from phone_auth.flows.passwordless import send_login_code


@api_endpoint(PhoneRequest)
def lambda_handler(request: Request[PhoneRequest]) -> SendCodeResponse:
    return SendCodeResponse.of(
        send_login_code(request.body.phone, request.language, request.client, request.body.device_token),
        request.language,
    )
