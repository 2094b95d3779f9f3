"""PUT /admin/users/{phone} (admin API, AWS_IAM): create (201) or update (200) a user as an import row would."""

from phone_auth.api.admin import admin_endpoint
from phone_auth.api.endpoint import Request
from phone_auth.api.models import AdminPutUserResponse, AdminUserRequest
from phone_auth.flows.back_office import put_user


@admin_endpoint(AdminUserRequest, action="put_user", changes=True)
def lambda_handler(request: Request[AdminUserRequest]) -> tuple[int, AdminPutUserResponse]:
    body = request.body
    result = put_user(
        request.path_parameters.get("phone", ""),
        profile=dict(body.profile or {}),
        password=body.password,
        password_hash=body.password_hash,
    )
    return (201 if result.outcome == "created" else 200), AdminPutUserResponse.of(result)
