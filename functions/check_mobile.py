"""POST /auth/check-mobile: may this phone register?"""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import CheckMobileResponse, PhoneRequest
from phone_auth.flows.registration import check_mobile


@api_endpoint(PhoneRequest)
def lambda_handler(request: Request[PhoneRequest]) -> CheckMobileResponse:
    return CheckMobileResponse.of(check_mobile(request.body.phone, request.client), request.language)
