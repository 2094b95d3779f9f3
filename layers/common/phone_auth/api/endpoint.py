"""API Gateway (REST, proxy integration) in and out: the one place errors become responses.
(And the one other kind of event a function takes: a batch of the users table's stream.)

``api_endpoint(Model)`` turns a function of a parsed ``Request`` into a Lambda handler: it refuses
a body not declared as JSON, reads and size-checks the body, decodes JSON, validates it with the
endpoint's model, negotiates the language, and maps every AuthError to its status and
``{"success": false, "error": {"code", "message"}}``. Anything unexpected is logged (without
the event) and answered with a generic 500, so no internals leak. ``authorizer_endpoint`` does
the rest of that for the REQUEST authorizer, whose answer is a policy (phone_auth.api.authorizer),
and ``stream_endpoint`` for a DynamoDB stream's batch, whose failure Lambda's event source retries.

Both read the settings when the handler's module is imported, so an invalid configuration
fails the cold start, and both run the handler through phone_auth.observability's one
invocation wrapper (the logger's Lambda context, never the event; the deadline; the metrics).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, overload

from pydantic import BaseModel, ValidationError

from phone_auth.callers import Caller, ClientInfo, Operator, client_address
from phone_auth.errors import (
    AuthError,
    InternalError,
    InvalidJson,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from phone_auth.messages import preferred_language
from phone_auth.observability import lambda_invocation, logger
from phone_auth.settings import cors_origin, get_settings

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
Result = tuple[int, BaseModel] | BaseModel


@dataclass(frozen=True)
class Request[BodyT]:
    """A parsed request: ``body`` is the endpoint's validated model (None without a body model)."""

    body: BodyT
    headers: dict[str, str]
    language: str
    source_ip: str | None  # the client's address (phone_auth.callers.client_address)
    authorizer: dict[str, Any] = field(default_factory=dict)
    path_parameters: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""

    @property
    def client(self) -> ClientInfo:
        return ClientInfo(source_ip=self.source_ip, user_agent=self.headers.get("user-agent", ""))

    @property
    def caller(self) -> Caller:
        """The signed-in caller the authorizer vouched for (TokenMissing if it did not)."""
        return Caller.from_authorizer(self.authorizer)

    @property
    def operator(self) -> Operator:
        """The IAM principal that signed an admin API call (OperatorUnknown without one)."""
        return Operator.from_identity(self.identity)


def _headers(event: dict[str, Any]) -> dict[str, str]:
    raw = event.get("headers") or {}
    return {str(k).lower(): str(v) for k, v in raw.items() if v is not None}


def _response_headers(extra: dict[str, str] | None = None, origin: str | None = None) -> dict[str, str]:
    """``origin`` is the request's Origin header: echoed when ALLOWED_ORIGINS lists it (hence Vary: Origin)."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Expose-Headers": "Retry-After",  # so a browser app can read it on a 429
        "Vary": "Origin, Accept-Language",
    }
    allowed = cors_origin(origin, get_settings().allowed_origins)
    if allowed is not None:
        headers["Access-Control-Allow-Origin"] = allowed
    headers.update(extra or {})
    return headers


def json_response(
    status: int, model: BaseModel, headers: dict[str, str] | None = None, origin: str | None = None
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": _response_headers(headers, origin),
        "body": model.model_dump_json(exclude_none=True),
        "isBase64Encoded": False,
    }


def error_response(error: AuthError, language: str, origin: str | None = None) -> dict[str, Any]:
    """The one AuthError -> response mapper: its status, headers and body in ``language``."""
    # Imported here: the authorizer, which answers with policies, never loads the API's models.
    from phone_auth.api.models import ErrorResponse

    return json_response(error.status, ErrorResponse.of(error, language), error.headers, origin)


def require_json_media_type(event: dict[str, Any], headers: dict[str, str]) -> None:
    """A request with a body must declare it JSON (``application/json``, with any parameters, in
    any case), else UNSUPPORTED_MEDIA_TYPE before anything is read.

    A body of another type (``text/plain``, a form) is what a page on any site can make its
    visitors' browsers send without a CORS preflight; a JSON one needs the preflight, which names
    only our allowed origins. A request without a body (logout everywhere) has nothing to declare.
    """
    if event.get("body") in (None, ""):
        return
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType()


def read_json_body(event: dict[str, Any], max_bytes: int) -> Any:
    """The decoded JSON body; an empty body reads as {} (a logout, for one, may send none)."""
    raw = event.get("body")
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise InvalidJson()
    if event.get("isBase64Encoded"):
        if len(raw) > (max_bytes * 4) // 3 + 4:
            raise PayloadTooLarge(details={"max_bytes": max_bytes})
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidJson() from None
    else:
        if len(raw) > max_bytes:  # cheap pre-check before encoding
            raise PayloadTooLarge(details={"max_bytes": max_bytes})
        data = raw.encode("utf-8", "surrogatepass")
    if len(data) > max_bytes:
        raise PayloadTooLarge(details={"max_bytes": max_bytes})
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise InvalidJson() from None


def validate_body[BodyT: BaseModel](model: type[BodyT], data: Any) -> BodyT:
    if not isinstance(data, dict):
        raise ValidationFailed(details={"fields": [{"field": "", "problem": "the body must be a JSON object"}]})
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Never echo the input back: it may be a password.
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]), "problem": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise ValidationFailed(details={"fields": problems}) from None


def _request(event: dict[str, Any], headers: dict[str, str], language: str, body: Any) -> Request[Any]:
    request_context = event.get("requestContext") or {}
    identity = request_context.get("identity") or {}
    return Request(
        body=body,
        headers=headers,
        language=language,
        source_ip=client_address(identity.get("sourceIp"), headers),
        authorizer=request_context.get("authorizer") or {},
        path_parameters={str(k): str(v) for k, v in (event.get("pathParameters") or {}).items()},
        query={str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items() if v is not None},
        identity=dict(identity),
        request_id=str(request_context.get("requestId") or ""),
    )


def lambda_handler_of(answer: LambdaHandler, named_after: Callable[..., Any]) -> LambdaHandler:
    """``answer`` in the one invocation wrapper, named after the function it answers for."""
    return lambda_invocation(functools.wraps(named_after)(answer))


@overload
def api_endpoint[BodyT: BaseModel](
    body_model: type[BodyT],
) -> Callable[[Callable[[Request[BodyT]], Result]], LambdaHandler]: ...


@overload
def api_endpoint(body_model: None) -> Callable[[Callable[[Request[None]], Result]], LambdaHandler]: ...


def api_endpoint(body_model: type[BaseModel] | None) -> Callable[[Callable[[Request[Any]], Result]], LambdaHandler]:
    """Decorate ``handle(request) -> model`` (200) or ``-> (status, model)`` into a Lambda handler."""
    get_settings()  # when the handler's module is imported: an invalid configuration fails the cold start

    def decorator(handle: Callable[[Request[Any]], Result]) -> LambdaHandler:
        return documented(lambda_handler_of(answerer(body_model, handle), handle), body_model, handle)

    return decorator


def answerer(body_model: type[BaseModel] | None, handle: Callable[[Request[Any]], Result]) -> LambdaHandler:
    """The proxy event -> proxy response function of ``handle``: the body read and validated,
    every AuthError mapped to its answer, anything else to a generic 500."""

    def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
        headers = _headers(event)
        language = preferred_language(headers.get("accept-language"))
        try:
            require_json_media_type(event, headers)
            body: Any = None
            if body_model is not None:
                body = validate_body(body_model, read_json_body(event, get_settings().max_body_bytes))
            result = handle(_request(event, headers, language, body))
            status, model = result if isinstance(result, tuple) else (200, result)
            return json_response(status, model, origin=headers.get("origin"))
        except AuthError as error:
            logger.info("request refused", extra={"error_code": error.code, "status": error.status})
            return error_response(error, language, headers.get("origin"))
        except Exception:
            logger.exception("unhandled error")
            return error_response(InternalError(), language, headers.get("origin"))

    return answer


def documented(handler: LambdaHandler, body_model: type[BaseModel] | None, handle: Callable[..., Any]) -> LambdaHandler:
    """``handler`` carrying its request and response models, which devtools/openapi.py reads."""
    returned = typing.get_type_hints(handle).get("return")
    if typing.get_origin(returned) is tuple:  # (status, model)
        returned = typing.get_args(returned)[-1]
    handler.request_model = body_model  # type: ignore[attr-defined]
    handler.response_model = returned  # type: ignore[attr-defined]
    return handler


def authorizer_endpoint(authorize: Callable[[dict[str, Any]], dict[str, Any]]) -> LambdaHandler:
    """Decorate ``authorize(event) -> policy`` into the REQUEST authorizer's Lambda handler.

    Its refusals are policies (Deny) that ``authorize`` makes; what it raises reaches API Gateway
    as it is (an authorizer that raises gets the AUTHORIZER_CONFIGURATION_ERROR gateway response,
    which the template makes our 503).
    """
    get_settings()  # when the handler's module is imported: an invalid configuration fails the cold start

    def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return authorize(event)

    return lambda_handler_of(answer, authorize)


def stream_endpoint(process: Callable[[list[dict[str, Any]]], Any]) -> LambdaHandler:
    """Decorate ``process(records)`` into the handler of a DynamoDB stream's event source mapping.

    Its answer is nothing: a batch either goes through or raises, and Lambda's event source
    retries a batch that raised (halving it, up to its retry limit, then its failure
    destination). What is logged of a failure is its kind, never a record (they hold phones).
    """
    get_settings()  # when the handler's module is imported: an invalid configuration fails the cold start

    def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event.get("Records")
        if not isinstance(records, list):
            raise ValueError("not a DynamoDB stream event (no Records)")
        try:
            process(records)
        except Exception as exc:
            logger.error("stream batch failed", extra={"records": len(records), "reason": type(exc).__name__})
            raise
        return {}

    handler: LambdaHandler = lambda_invocation(functools.wraps(process)(answer), correlation_id_path=None)
    return handler


def event_endpoint(process: Callable[[dict[str, Any], Any], None]) -> LambdaHandler:
    """Decorate ``process(event, context)`` into the handler of an asynchronous event (an S3
    upload through EventBridge): nothing to answer; an invocation that raises is retried by
    Lambda (the function's EventInvokeConfig). What is logged of a failure is its kind."""
    get_settings()  # when the handler's module is imported: an invalid configuration fails the cold start

    def answer(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            process(event, context)
        except Exception as exc:
            logger.error("event failed", extra={"reason": type(exc).__name__})
            raise
        return {}

    handler: LambdaHandler = lambda_invocation(functools.wraps(process)(answer), correlation_id_path=None)
    return handler
