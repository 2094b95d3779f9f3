"""An upload in the import bucket (S3 "Object Created" through EventBridge): import its rows (not an API route)."""

from typing import Any

from phone_auth.api.endpoint import event_endpoint
from phone_auth.flows.imports import ObjectCreated, run_import


@event_endpoint
def lambda_handler(event: dict[str, Any], context: Any) -> None:
    run_import(ObjectCreated.of(event), context)
