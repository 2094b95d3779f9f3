"""DELETE /auth/sessions/{id}: end one of the user's sessions; its tokens stop working at once."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import MessageResponse
from phone_auth.flows.sessions import end_session


@api_endpoint(None)
def lambda_handler(request: Request[None]) -> MessageResponse:
    return MessageResponse.of(end_session(request.caller, request.path_parameters.get("id", "")), request.language)
