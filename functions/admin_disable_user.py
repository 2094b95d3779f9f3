"""POST /admin/users/{phone}/disable (admin API, AWS_IAM): disable the user and end every session at once."""

from phone_auth.api.admin import admin_endpoint
from phone_auth.api.endpoint import Request
from phone_auth.api.models import MessageResponse
from phone_auth.flows.back_office import disable_user


@admin_endpoint(None, action="disable_user", changes=True)
def lambda_handler(request: Request[None]) -> MessageResponse:
    return MessageResponse.of(disable_user(request.path_parameters.get("phone", "")), request.language)
