"""GET /admin/users/{phone} (admin API, AWS_IAM): the user, its state and its live sessions."""

from phone_auth.api.admin import admin_endpoint
from phone_auth.api.endpoint import Request
from phone_auth.api.models import AdminUserResponse
from phone_auth.flows.back_office import get_user


@admin_endpoint(None, action="get_user", changes=False)
def lambda_handler(request: Request[None]) -> AdminUserResponse:
    return AdminUserResponse.of(get_user(request.path_parameters.get("phone", "")))
