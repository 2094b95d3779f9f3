"""POST /admin/users/{phone}/sign-out (admin API, AWS_IAM): end every session of the user (logout everywhere)."""

from phone_auth.api.admin import admin_endpoint
from phone_auth.api.endpoint import Request
from phone_auth.api.models import MessageResponse
from phone_auth.flows.back_office import sign_out_user


@admin_endpoint(None, action="sign_out_user", changes=True)
def lambda_handler(request: Request[None]) -> MessageResponse:
    return MessageResponse.of(sign_out_user(request.path_parameters.get("phone", "")), request.language)
