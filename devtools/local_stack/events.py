"""The events and context API Gateway and Lambda would hand our handlers.

The shapes follow real API Gateway REST (v1) proxy and REQUEST-authorizer events (as in
the powertools test fixtures), so code that works here sees the same keys, the same
``None`` for absent query strings, and the same ``requestContext.authorizer`` it will
see when deployed. ``events/*.json`` (the samples for ``sam local invoke``) have the same
shape; a test checks the two agree.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID

__all__ = ["ACCOUNT_ID", "API_ID", "IncomingRequest", "LambdaContext", "authorizer_event", "method_arn", "proxy_event"]

#: The local stack's AWS account: moto's default one, which the fake credentials map to.
ACCOUNT_ID: str = DEFAULT_ACCOUNT_ID
#: The API id of the local stack's imaginary REST API (appears in methodArn and requestContext).
API_ID = "local"
_IDENTITY_KEYS = (  # noqa: SIM905 - requestContext.identity keys, all None but sourceIp and userAgent
    "accessKey accountId caller cognitoAuthenticationProvider cognitoAuthenticationType cognitoIdentityId"
    " cognitoIdentityPoolId principalOrgId sourceIp user userAgent userArn"
).split()


@dataclass
class IncomingRequest:
    """An HTTP request as the gateway sees it, before any Lambda is involved."""

    method: str
    path: str
    headers: Sequence[tuple[str, str]]
    query: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str
    #: The route's resource path, once the gateway has matched one.
    resource: str = ""
    #: The path relative to the API (without a base-path-mapping prefix such as /api/v1);
    #: this is what methodArn carries.
    api_path: str = ""
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time_epoch_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    def header(self, name: str) -> str | None:
        """Last value of a header, case-insensitively (like API Gateway's ``headers`` map)."""
        return next((value for key, value in reversed(self.headers) if key.lower() == name.lower()), None)


def _single_and_multi(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """API Gateway's two views of repeated keys: last value wins in the single-value map."""
    if not pairs:
        return None, None
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    return dict(pairs), multi


def request_context(
    request: IncomingRequest, *, stage: str, authorizer: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``requestContext`` of a REST proxy event; ``authorizer`` only when an authorizer ran."""
    host = request.header("Host") or "127.0.0.1"
    domain = host if host.startswith("[") else host.rsplit(":", 1)[0]
    identity = dict.fromkeys(_IDENTITY_KEYS) | {
        "sourceIp": request.source_ip,
        "userAgent": request.header("User-Agent"),
    }
    when = datetime.fromtimestamp(request.time_epoch_ms / 1000, tz=UTC)
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "extendedRequestId": request.request_id,
        "httpMethod": request.method,
        "identity": identity,
        "path": request.path,
        "protocol": "HTTP/1.1",
        "requestId": request.request_id,
        "requestTime": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": request.time_epoch_ms,
        "resourceId": f"{request.method} {request.resource}",
        "resourcePath": request.resource,
        "stage": stage,
    }
    return context if authorizer is None else context | {"authorizer": dict(authorizer)}


def _request_fields(request: IncomingRequest) -> dict[str, Any]:
    """What proxy events and REQUEST authorizer events both carry about the request."""
    headers, multi_headers = _single_and_multi(request.headers)
    query, multi_query = _single_and_multi(request.query)
    return {
        "resource": request.resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "stageVariables": None,
    }


def proxy_event(request: IncomingRequest, *, stage: str, authorizer: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy integration event for ``request``.

    Text bodies pass as text; bytes that are not UTF-8 are base64 with ``isBase64Encoded``.
    """
    try:
        body, is_base64 = (request.body.decode("utf-8") if request.body else None), False
    except UnicodeDecodeError:
        body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
    return {
        **_request_fields(request),
        "pathParameters": None,
        "requestContext": request_context(request, stage=stage, authorizer=authorizer),
        "body": body,
        "isBase64Encoded": is_base64,
    }


def method_arn(region: str, stage: str, method: str, path: str) -> str:
    """``arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path without leading slash>``."""
    return f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{API_ID}/{stage}/{method}/{path.lstrip('/')}"


def authorizer_event(request: IncomingRequest, *, region: str, stage: str) -> dict[str, Any]:
    """The event a REQUEST Lambda authorizer receives for ``request``."""
    return {
        "type": "REQUEST",
        "methodArn": method_arn(region, stage, request.method, request.api_path or request.path),
        **_request_fields(request),
        "pathParameters": {},
        "requestContext": request_context(request, stage=stage),
    }


class LambdaContext:
    """Enough of Lambda's context object for powertools' ``inject_lambda_context``.

    ``get_remaining_time_in_millis`` counts down from the function's configured Timeout,
    so code that budgets its time (retries, SMS sends) behaves as it would in Lambda.
    """

    def __init__(self, function_name: str, function_arn: str, memory_mb: int, timeout_seconds: int) -> None:
        self.function_name, self.invoked_function_arn, self.memory_limit_in_mb = function_name, function_arn, memory_mb
        self.function_version, self.aws_request_id = "$LATEST", str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = datetime.now(UTC).strftime("%Y/%m/%d/[$LATEST]local")
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
