"""POST /auth/logout: end every session of the user, or with {"scope": "current"} only this one."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import LogoutRequest, MessageResponse
from phone_auth.flows.sessions import logout


@api_endpoint(LogoutRequest)
def lambda_handler(request: Request[LogoutRequest]) -> MessageResponse:
    return MessageResponse.of(logout(request.caller, request.body.scope), request.language)
