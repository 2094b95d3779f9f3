"""GET /admin/users?limit=&cursor= (admin API, AWS_IAM): a page of users and the next page's cursor."""

from phone_auth.api.admin import admin_endpoint
from phone_auth.api.endpoint import Request
from phone_auth.api.models import AdminUserListResponse
from phone_auth.flows.back_office import list_users, page_size


@admin_endpoint(None, action="list_users", changes=False)
def lambda_handler(request: Request[None]) -> AdminUserListResponse:
    page = list_users(page_size(request.query.get("limit")), request.query.get("cursor") or None)
    return AdminUserListResponse.of(page)
