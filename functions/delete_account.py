"""DELETE /auth/me: erase the signed-in user's account (needs a recent sign-in); its tokens stop working at once."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import MessageResponse
from phone_auth.flows.account import delete_account


@api_endpoint(None)
def lambda_handler(request: Request[None]) -> MessageResponse:
    return MessageResponse.of(delete_account(request.caller), request.language)
