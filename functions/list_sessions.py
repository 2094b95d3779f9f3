"""GET /auth/sessions: the signed-in user's live sessions, one per device (behind the authorizer)."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import SessionsResponse
from phone_auth.flows.sessions import list_sessions


@api_endpoint(None)
def lambda_handler(request: Request[None]) -> SessionsResponse:
    return SessionsResponse.of(list_sessions(request.caller))
