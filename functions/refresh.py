"""POST /auth/refresh: spend a refresh token for a new access token and its successor."""

from phone_auth.api.endpoint import Request, api_endpoint
from phone_auth.api.models import RefreshRequest, RefreshResponse
from phone_auth.flows.sessions import refresh


@api_endpoint(RefreshRequest)
def lambda_handler(request: Request[RefreshRequest]) -> RefreshResponse:
    return RefreshResponse.of(refresh(request.body.refresh_token, request.client))
