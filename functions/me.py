"""GET /auth/me: the signed-in user (behind the authorizer)."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import MeResponse
from phone_auth.flows.sessions import current_user


@api_endpoint(None)
def lambda_handler(request: Request[None]) -> MeResponse:
    return MeResponse.of(current_user(request.caller))
