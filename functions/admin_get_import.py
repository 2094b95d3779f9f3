"""GET /admin/imports/{import_id} (admin API, AWS_IAM): an import job's state, counts and report URL."""

from phone_auth.api.admin import admin_endpoint
from phone_auth.api.endpoint import Request
from phone_auth.api.models import AdminImportResponse
from phone_auth.flows.imports import get_import


@admin_endpoint(None, action="get_import", changes=False)
def lambda_handler(request: Request[None]) -> AdminImportResponse:
    return AdminImportResponse.of(get_import(request.path_parameters.get("import_id", "")))
