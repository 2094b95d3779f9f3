"""DELETE /admin/users/{phone} (admin API, AWS_IAM): erase the user as DELETE /auth/me does; 404 once erased."""

from phone_auth.api.admin import admin_endpoint
from phone_auth.api.endpoint import Request
from phone_auth.api.models import MessageResponse
from phone_auth.flows.back_office import delete_user


@admin_endpoint(None, action="delete_user", changes=True)
def lambda_handler(request: Request[None]) -> MessageResponse:
    return MessageResponse.of(delete_user(request.path_parameters.get("phone", "")), request.language)
