"""A small API Gateway (REST) emulator: routing, the REQUEST authorizer, gateway responses.

It answers the way the deployed API does, because the frontend and our tests should not
learn behaviour that production does not have:

* unknown path, or a method the path does not have (including verbs such as TRACE or FOO)
  -> the MISSING_AUTHENTICATION_TOKEN gateway response;
* a protected route whose identity headers (``Authorization``) are missing or blank -> the
  UNAUTHORIZED response *without* calling the authorizer, as API Gateway does;
* authorizer raises ``Exception("Unauthorized")`` -> UNAUTHORIZED; raises anything else, times
  out or returns what API Gateway cannot use -> AUTHORIZER_CONFIGURATION_ERROR (AWS answers a
  Lambda authorizer's error so, with ``x-amzn-ErrorType: AuthorizerConfigurationException``,
  not with AUTHORIZER_FAILURE); returns a policy that does not allow this method ->
  ACCESS_DENIED, with ``$context.authorizer.*`` filled from the returned context;
* the authorizer's ``context`` reaches the function as strings in ``requestContext.authorizer``;
* a function that raises or returns a malformed proxy response -> 502 through DEFAULT_5XX;
* every such answer is the template's ``GatewayResponses`` entry for its type, else its
  DEFAULT_4XX / DEFAULT_5XX entry, with API Gateway's own status for the type;
* the AWS_IAM API (the back office's admin API), if the template has one, is served under
  ``ADMIN_PREFIX`` (a prefix no route of the public API has): a path it has no route for ->
  its MISSING_AUTHENTICATION_TOKEN (403), then the SigV4 signature (``sigv4.verify``: none ->
  MISSING_AUTHENTICATION_TOKEN, wrong -> INVALID_SIGNATURE), then the function, with the signer
  in ``requestContext.identity`` and that API's stage.

Events have the keys of real REST (v1) proxy and REQUEST-authorizer events (a test compares
them with ``events/*.json``). Handlers run in this process, by default one request at a time
per function, like one warm Lambda container each.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from samcli.lib.providers.provider import Cors, Function
from samcli.local.apigw.authorizers.lambda_authorizer import InvalidLambdaAuthorizerResponse, LambdaAuthorizer
from samcli.local.apigw.route import Route

from devtools.handlers import load_handler
from devtools.local_stack import sigv4
from devtools.local_stack.backend import SmsOutbox
from devtools.local_stack.template import ACCOUNT_ID, IamApiModel, StackModel, as_text, local_name
from phone_auth.settings import cors_origin

__all__ = [
    "ADMIN_PREFIX",
    "BASE_PATH_ALIASES",
    "FunctionError",
    "Gateway",
    "GatewayResult",
    "Handler",
    "IncomingRequest",
    "proxy_event",
]

Handler = Callable[[dict[str, Any], Any], Any]

#: Every route is also served under these prefixes (the deployed custom-domain base path mapping).
BASE_PATH_ALIASES: tuple[str, ...] = ("/api/v1",)
#: Where the AWS_IAM API is served locally (deployed, it has a URL of its own: the AdminApiUrl output).
ADMIN_PREFIX = "/_admin"
_PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded", "cookies"}

#: API Gateway's own status code, x-amzn-ErrorType and ``$context.error.message`` for the
#: gateway response types this emulator produces (AWS's defaults, not ours).
AWS_GATEWAY_RESPONSES: dict[str, tuple[int, str, str]] = {
    "ACCESS_DENIED": (403, "AccessDeniedException", "User is not authorized to access this resource"),
    "UNAUTHORIZED": (401, "UnauthorizedException", "Unauthorized"),
    "MISSING_AUTHENTICATION_TOKEN": (403, "MissingAuthenticationTokenException", "Missing Authentication Token"),
    "INVALID_SIGNATURE": (
        403,
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided.",
    ),
    "EXPIRED_TOKEN": (403, "ExpiredTokenException", "The security token included in the request is expired"),
    "REQUEST_TOO_LARGE": (413, "RequestTooLargeException", "Request Too Long"),
    "AUTHORIZER_FAILURE": (500, "InternalServerErrorException", "Internal server error"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "AuthorizerConfigurationException", "Internal server error"),
    "DEFAULT_4XX": (400, "BadRequestException", "Bad Request"),
    "DEFAULT_5XX": (500, "InternalServerErrorException", "Internal server error"),
}
#: API Gateway's body for a response type the template does not customise.
AWS_DEFAULT_TEMPLATE = '{"message":$context.error.messageString}'
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
    #: Once matched: the route's resource path (``/auth/sessions/{id}``, no /api/v1) and the path's values.
    resource: str = ""
    path_parameters: dict[str, str] = field(default_factory=dict)
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time_epoch_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    #: The path and query string as the client sent them, still URL-encoded (what SigV4 signs).
    raw_path: str = ""
    raw_query: str = ""

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
    request: IncomingRequest, *, stage: str, authorizer: Any = None, identity: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``requestContext`` of a REST proxy event; ``authorizer`` only when an authorizer ran;
    ``identity``: what an AWS_IAM method adds about the signer."""
    host, agent = request.header("Host") or "127.0.0.1", request.header("User-Agent")
    domain = host if host.startswith("[") else host.rsplit(":", 1)[0]
    caller = {"sourceIp": request.source_ip, "userAgent": agent} | dict(identity or {})
    identity_context: dict[str, Any] = dict.fromkeys(_IDENTITY_KEYS) | caller
    when = datetime.fromtimestamp(request.time_epoch_ms / 1000, tz=UTC)
    context: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "extendedRequestId": request.request_id,
        "httpMethod": request.method,
        "identity": identity_context,
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


def proxy_event(
    request: IncomingRequest, *, stage: str, authorizer: Any = None, identity: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy integration event for ``request``.

    Text bodies pass as text; bytes that are not UTF-8 are base64 with ``isBase64Encoded``.
    """
    try:
        body, is_base64 = (request.body.decode("utf-8") if request.body else None), False
    except UnicodeDecodeError:
        body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
    return {
        **_request_fields(request),
        "pathParameters": request.path_parameters or None,
        "requestContext": request_context(request, stage=stage, authorizer=authorizer, identity=identity),
        "body": body,
        "isBase64Encoded": is_base64,
    }


def authorizer_event(request: IncomingRequest, *, method_arn: str, stage: str) -> dict[str, Any]:
    """The event a REQUEST Lambda authorizer receives for ``request``."""
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        **_request_fields(request),
        "pathParameters": request.path_parameters,
        "requestContext": request_context(request, stage=stage),
    }


class LambdaContext:
    """Enough of Lambda's context for powertools; the remaining time counts down from the Timeout."""

    def __init__(self, function_name: str, function_arn: str, memory_mb: int, timeout_seconds: int) -> None:
        self.function_name, self.invoked_function_arn, self.memory_limit_in_mb = function_name, function_arn, memory_mb
        self.function_version, self.aws_request_id = "$LATEST", str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = datetime.now(UTC).strftime("%Y/%m/%d/[$LATEST]local")
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class GatewayResult:
    """What goes back on the wire."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class FunctionError(Exception):
    """The handler raised (the message is the exception's), timed out, or returned something unusable."""


class Gateway:
    """Routes requests to functions through the authorizer, like the deployed REST API."""

    def __init__(
        self,
        model: StackModel,
        region: str,
        outbox: SmsOutbox,
        log: Callable[[str], None],
        handlers: Mapping[str, Handler] | None = None,
        *,
        one_request_per_function: bool = True,
    ) -> None:
        """Load every handler now (a cold start each); ``handlers`` replaces some, by logical id or handler module."""
        self.model, self.region, self.outbox, self.log = model, region, outbox, log
        self.loaded_modules: list[str] = []
        self.handlers: dict[str, Handler] = {}
        self._locks = {lid: threading.Lock() if one_request_per_function else None for lid in model.functions}
        try:
            for lid, function in model.functions.items():
                code_dir, handler = str(function.codeuri), str(function.handler)
                module = handler.rpartition(".")[0]
                given = (handlers or {}).get(lid) or (handlers or {}).get(module)
                if given is None:
                    self.loaded_modules.append(module)
                self.handlers[lid] = given or load_handler(code_dir, handler, cold=True)
        except BaseException:
            self.forget_modules()
            raise

    def forget_modules(self) -> None:
        """Drop the handler modules this gateway imported, so the next stack starts cold."""
        for name in self.loaded_modules:
            sys.modules.pop(name, None)

    def routes_for(self, path: str) -> tuple[str, list[Route]]:
        """The API path ``path`` names (no base path alias) and its routes, literal ones first; none: not the API."""
        path = "/" + "/".join(part for part in path.split("/") if part)
        for api_path in [path] + [path[len(p) :] for p in BASE_PATH_ALIASES if path.startswith(p + "/")]:
            found = [r for r in self.model.routes if path_parameters(r.path, api_path) is not None]
            found.sort(key=lambda route: route.path.count("{"))
            if found:
                return api_path, [route for route in found if route.path == found[0].path]
        return path, []

    def handle(self, request: IncomingRequest) -> GatewayResult:
        """Answer one request (the body is already read and within limits)."""
        if self.model.iam_api is not None and (
            request.path == ADMIN_PREFIX or request.path.startswith(ADMIN_PREFIX + "/")
        ):
            return self.handle_signed(request, self.model.iam_api)
        api_path, routes = self.routes_for(request.path)
        if routes and request.method == "OPTIONS" and self.model.cors is not None:
            return self.preflight()
        route = next((route for route in routes if request.method in route.methods), None)
        if route is None:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN")
        request.resource, request.path_parameters = route.path, path_parameters(route.path, api_path) or {}
        context = self.authorize(route.authorizer_object, request) if route.authorizer_name else None
        if isinstance(context, GatewayResult):
            return context
        return self.invoke_function(self.model.functions[route.function_name], request, context)

    def handle_signed(self, request: IncomingRequest, api: IamApiModel) -> GatewayResult:
        """A request to the AWS_IAM API: its route, then its SigV4 signature, then its function."""
        api_path = "/" + "/".join(part for part in request.path[len(ADMIN_PREFIX) :].split("/") if part)
        route = next(
            (r for r in api.routes if request.method in r.methods and path_parameters(r.path, api_path) is not None),
            None,
        )
        if route is None:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN", responses=api.gateway_responses)
        host = request.header("Host") or "127.0.0.1"
        url = f"http://{host}{request.raw_path or request.path}" + (
            f"?{request.raw_query}" if request.raw_query else ""
        )
        try:
            signer = sigv4.verify(
                method=request.method, url=url, headers=list(request.headers), body=request.body, region=self.region
            )
        except sigv4.SignatureRefused as refused:
            return self.gateway_response(str(refused), responses=api.gateway_responses)
        request.resource, request.path_parameters = route.path, path_parameters(route.path, api_path) or {}
        function = self.model.functions[str(route.function_name)]
        event = proxy_event(request, stage=api.stage_name, identity=signer.identity())
        try:
            return _to_result(self.run(function, event), request.request_id)
        except FunctionError:
            return self.gateway_response("DEFAULT_5XX", status=502, responses=api.gateway_responses)
        except ValueError as problem:
            self.log(f"[gateway] {function.name}: malformed Lambda proxy response: {problem}")
            return self.gateway_response("DEFAULT_5XX", status=502, responses=api.gateway_responses)

    def echo_origin(self, origin: str | None, result: GatewayResult) -> GatewayResult:
        """Access-Control-Allow-Origin as the functions set it, on any answer: a local deviation so that every
        localhost port works (API Gateway's preflight and gateway responses carry the first origin only)."""
        if "ALLOWED_ORIGINS" not in self.model.environment:
            return result
        allowed = cors_origin(origin, self.model.environment["ALLOWED_ORIGINS"].split(","))
        headers = [(name, value) for name, value in result.headers if name.lower() != "access-control-allow-origin"]
        if allowed and len(headers) < len(result.headers):
            headers.append(("Access-Control-Allow-Origin", allowed))
        return GatewayResult(result.status, headers, result.body)

    def authorize(self, authorizer: LambdaAuthorizer, request: IncomingRequest) -> dict[str, Any] | GatewayResult:
        """Run the authorizer; the ``requestContext.authorizer`` map, or the gateway's refusal.

        SAM CLI's ``LambdaAuthorizer`` checks the answer (a principalId and an IAM policy) and
        whether its policy allows this method's ARN; API Gateway also wants flat context values.
        """
        sources = authorizer.identity_sources
        if not all((request.header(source.identity_source) or "").strip() for source in sources):
            return self.gateway_response("UNAUTHORIZED")
        started, stage = time.monotonic(), self.model.stage_name
        path = re.sub(r"\{(\w+)\}", lambda m: request.path_parameters[m[1]], request.resource)
        arn = f"arn:aws:execute-api:{self.region}:{ACCOUNT_ID}:{API_ID}/{stage}/{request.method}{path}"
        try:
            event = authorizer_event(request, method_arn=arn, stage=stage)
            answer = json.dumps(self.run(self.model.functions[authorizer.lambda_name], event))
            allowed, context = authorizer.is_valid_response(answer, arn), authorizer.get_context(answer)
            if not all(isinstance(value, str | int | float | bool) for value in context.values()):
                raise InvalidLambdaAuthorizerResponse("context values must be strings, numbers or booleans")
        except (FunctionError, InvalidLambdaAuthorizerResponse) as exc:
            if str(exc) == "Unauthorized":
                return self.gateway_response("UNAUTHORIZED")
            self.log(f"[gateway] authorizer {authorizer.authorizer_name} failed: {exc}")
            return self.gateway_response("AUTHORIZER_CONFIGURATION_ERROR")
        if not allowed:
            return self.gateway_response("ACCESS_DENIED", authorizer=context)
        latency = int((time.monotonic() - started) * 1000)
        return {name: as_text(value) for name, value in context.items()} | {"integrationLatency": latency}

    def invoke_function(self, function: Function, request: IncomingRequest, authorizer_context: Any) -> GatewayResult:
        """Call the route's function with a proxy event and turn its answer into HTTP."""
        event = proxy_event(request, stage=self.model.stage_name, authorizer=authorizer_context)
        try:
            return _to_result(self.run(function, event), request.request_id)
        except FunctionError:
            return self.gateway_response("DEFAULT_5XX", status=502)
        except ValueError as problem:
            self.log(f"[gateway] {function.name}: malformed Lambda proxy response: {problem}")
            return self.gateway_response("DEFAULT_5XX", status=502)

    def run(self, function: Function, event: dict[str, Any]) -> Any:
        """Invoke a handler like Lambda would (one invocation at a time per function, its Timeout);
        any failure becomes ``FunctionError``. The API's routes and the stream poller call it."""
        lid, name, timeout = function.name, local_name(function.name), function.timeout or 3
        arn = f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{name}"
        context = LambdaContext(name, arn, function.memory or 128, timeout)
        started = time.monotonic()
        try:
            with self._locks[lid] or contextlib.nullcontext():
                result = self.handlers[lid](event, context)
        except Exception as exc:
            self.log(f"[lambda] {lid} raised:\n{traceback.format_exc()}")
            raise FunctionError(str(exc)) from None
        finally:
            self.outbox.collect()
        elapsed = time.monotonic() - started
        try:
            if elapsed > timeout:
                raise TimeoutError(f"Task timed out after {elapsed:.2f} s (Timeout {timeout} s)")
            return json.loads(json.dumps(result))  # Lambda serialises the answer: what json cannot encode fails
        except (TimeoutError, TypeError, ValueError) as exc:
            self.log(f"[lambda] {lid}: {exc}")
            raise FunctionError(type(exc).__name__) from None

    def preflight(self) -> GatewayResult:
        """The CORS preflight answer the template's ``Cors`` setting gives every path."""
        headers = Cors.cors_to_headers(self.model.cors, None, "Api")
        return GatewayResult(204, [(name, str(value)) for name, value in headers.items()], b"")

    def gateway_response(
        self,
        response_type: str,
        *,
        status: int = 0,
        authorizer: Any = None,
        responses: Mapping[str, dict[str, Any]] | None = None,
    ) -> GatewayResult:
        """Render the template's gateway response for ``response_type`` (``status``: AWS's for the case),
        the public API's unless ``responses`` (another API's) are given."""
        default_status, error_type, message = AWS_GATEWAY_RESPONSES[response_type]
        status = status or default_status
        responses = self.model.gateway_responses if responses is None else responses
        spec = responses.get(response_type) or responses.get("DEFAULT_4XX" if status < 500 else "DEFAULT_5XX") or {}
        headers = {"Content-Type": "application/json", **spec.get("Headers", {}), "x-amzn-ErrorType": error_type}
        values = {f"authorizer.{name}": as_text(value) for name, value in (authorizer or {}).items()}
        values |= {"error.message": message, "error.messageString": json.dumps(message)}
        template = (spec.get("ResponseTemplates") or {}).get("application/json", AWS_DEFAULT_TEMPLATE)
        # VTL renders $context.x and ${context.x}; variables it does not know become empty.
        body = re.sub(r"\$\{?context\.([A-Za-z0-9_.]+)\}?", lambda m: values.get(m.group(1), ""), template)
        return GatewayResult(int(spec.get("StatusCode") or status), list(headers.items()), body.encode())


def path_parameters(resource: str, path: str) -> dict[str, str] | None:
    """The values of ``resource``'s ``{name}`` segments (one segment each) in ``path``; None if it does not match."""
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(resource))
    match = re.fullmatch(pattern, path)
    return match.groupdict() if match else None


def _to_result(result: Any, request_id: str) -> GatewayResult:
    """The HTTP answer for a Lambda proxy response, or ValueError saying why API Gateway would reject it."""
    if not isinstance(result, dict) or set(result) - _PROXY_RESPONSE_KEYS:
        raise ValueError(f"expected an object with keys among {sorted(_PROXY_RESPONSE_KEYS)}")
    status, body = result.get("statusCode", 200), result.get("body") or ""
    if isinstance(status, bool) or not str(status).isdigit() or not 100 <= int(status) <= 599:
        raise ValueError(f"statusCode must be an HTTP status, got {status!r}")
    if not isinstance(body, str):
        raise ValueError(f"body must be a string (json.dumps it), got {type(body).__name__}")
    headers, multi = result.get("headers") or {}, result.get("multiValueHeaders") or {}
    if not isinstance(headers, dict) or any(isinstance(value, dict | list) for value in headers.values()):
        raise ValueError("headers must map names to single values")
    if not isinstance(multi, dict) or any(not isinstance(values, list) for values in multi.values()):
        raise ValueError("multiValueHeaders must map names to lists")
    pairs = [(name, as_text(value)) for name, values in multi.items() for value in values]
    in_multi = {name.lower() for name in multi}
    pairs += [(n, as_text(v)) for n, v in headers.items() if n.lower() not in in_multi and v is not None]
    if not any(name.lower() == "content-type" for name, _ in pairs):
        pairs.append(("Content-Type", "application/json"))
    try:
        data = base64.b64decode(body, validate=True) if result.get("isBase64Encoded") else body.encode("utf-8")
    except ValueError:
        raise ValueError("isBase64Encoded is true but body is not base64") from None
    return GatewayResult(int(status), [*pairs, ("x-amzn-RequestId", request_id)], data)
