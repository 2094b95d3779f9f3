"""POST /auth/check-mobile: may this phone register?"""

from aws_lambda_powertools.logging import correlation_paths

from phone_auth.http import Request, api_endpoint
from phone_auth.log import logger
from phone_auth.models import CheckMobileResponse, PhoneRequest
from phone_auth.registration import check_mobile
from phone_auth.settings import get_settings

get_settings()  # an invalid configuration fails the cold start, not the first request


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@api_endpoint(PhoneRequest)
def lambda_handler(request: Request[PhoneRequest]) -> CheckMobileResponse:
    return check_mobile(request.body.phone, request.language)
