"""The admin API's endpoint boundary: ``api_endpoint``'s, with the operator and the audit trail.

Every admin route is ``AWS_IAM`` (the template's AdminApi): API Gateway has checked the SigV4
signature before the function runs, and ``requestContext.identity.userArn`` names who signed.
``admin_endpoint(Model, action=..., changes=...)`` refuses a call without that principal
(OPERATOR_UNKNOWN, 403: a route that is not AWS_IAM), opens the call's audit entry, runs the
handler through the same body reading and error mapping as the public API, and closes the
entry with the answer's status and outcome (phone_auth.audit: the audit line and, for a
change, the AdminAction event).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from phone_auth import audit
from phone_auth.api.endpoint import LambdaHandler, Request, Result, answerer, documented, lambda_handler_of
from phone_auth.callers import Operator
from phone_auth.errors import AuthError, InternalError
from phone_auth.settings import get_settings


def admin_endpoint(
    body_model: type[BaseModel] | None, *, action: str, changes: bool
) -> Callable[[Callable[[Request[Any]], Result]], LambdaHandler]:
    """Decorate an admin route's ``handle(request)``; ``action`` names it in the audit trail
    (put_user, disable_user, ...), ``changes`` says whether it writes (then an AdminAction
    event follows it)."""
    get_settings()  # when the handler's module is imported: an invalid configuration fails the cold start

    def decorator(handle: Callable[[Request[Any]], Result]) -> LambdaHandler:
        inner = answerer(body_model, _with_operator(handle))

        def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
            request_context = event.get("requestContext") or {}
            identity = request_context.get("identity") or {}
            principal = identity.get("userArn") if isinstance(identity.get("userArn"), str) else ""
            audit.begin(
                audit.AuditEntry(
                    action=action,
                    principal_arn=principal or "",
                    request_id=str(request_context.get("requestId") or ""),
                    changes=changes,
                )
            )
            response: dict[str, Any] = {"statusCode": 500, "body": ""}
            try:
                response = inner(event, context)
                return response
            finally:
                status = int(response.get("statusCode", 500))
                audit.finish(status, "ok" if status < 400 else _error_code(response))

        return documented(lambda_handler_of(answer, handle), body_model, handle)

    return decorator


def _with_operator(handle: Callable[[Request[Any]], Result]) -> Callable[[Request[Any]], Result]:
    def run(request: Request[Any]) -> Result:
        Operator.from_identity(request.identity)  # OPERATOR_UNKNOWN before anything is read or written
        return handle(request)

    return run


def _error_code(response: dict[str, Any]) -> str:
    try:
        code = json.loads(response.get("body") or "{}")["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return InternalError.code
    return str(code) if isinstance(code, str) else AuthError.code
