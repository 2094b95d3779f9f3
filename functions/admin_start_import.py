"""POST /admin/imports (admin API, AWS_IAM): a new import job and the pre-signed URL its CSV file is PUT to."""

from phone_auth.api.admin import admin_endpoint
from phone_auth.api.endpoint import Request
from phone_auth.api.models import AdminStartImportRequest, AdminStartImportResponse
from phone_auth.flows.imports import start_import


@admin_endpoint(AdminStartImportRequest, action="start_import", changes=True)
def lambda_handler(request: Request[AdminStartImportRequest]) -> tuple[int, AdminStartImportResponse]:
    started = start_import(request.body.file_name, request.operator.principal_arn)
    return 201, AdminStartImportResponse.of(started)
