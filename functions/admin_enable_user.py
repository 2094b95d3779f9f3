"""POST /admin/users/{phone}/enable (admin API, AWS_IAM): enable the user again."""

from phone_auth.api.admin import admin_endpoint
from phone_auth.api.endpoint import Request
from phone_auth.api.models import MessageResponse
from phone_auth.flows.back_office import enable_user


@admin_endpoint(None, action="enable_user", changes=True)
def lambda_handler(request: Request[None]) -> MessageResponse:
    return MessageResponse.of(enable_user(request.path_parameters.get("phone", "")), request.language)
