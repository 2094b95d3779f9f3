"""POST /auth/me/phone: text a code to the number the signed-in user moves to (needs a recent sign-in)."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import PhoneChangeRequest, SendCodeResponse
from phone_auth.flows.account import request_phone_change


@api_endpoint(PhoneChangeRequest)
def lambda_handler(request: Request[PhoneChangeRequest]) -> SendCodeResponse:
    sent = request_phone_change(request.caller, request.body.new_phone, request.language, request.client)
    return SendCodeResponse.of(sent, request.language)
