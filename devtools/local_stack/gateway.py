"""A small API Gateway (REST) emulator: routing, the Lambda authorizer, gateway responses.

It answers the way the deployed API does, because the frontend and our tests should not
learn behaviour that production does not have:

* unknown path or wrong method -> the MISSING_AUTHENTICATION_TOKEN gateway response (404 here);
* a protected route whose identity source (``Authorization``) is missing or empty -> 401
  UNAUTHORIZED *without* calling the authorizer, as API Gateway does;
* authorizer raises ``Exception("Unauthorized")`` -> 401 UNAUTHORIZED; raises anything else or
  returns garbage -> 500; returns a policy that does not allow this method -> ACCESS_DENIED with
  ``$context.authorizer.*`` filled from the returned context;
* the authorizer's ``context`` reaches the function as strings in ``requestContext.authorizer``;
* a function that raises or returns a malformed proxy response -> 502;
* gateway response bodies and headers come from the template's ``GatewayResponses``.

Handlers run in this process. Lambda runs one event at a time per execution environment, so
by default each function handles one request at a time (one warm container per function);
different functions still run concurrently.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devtools.local_stack.backend import SmsOutbox
from devtools.local_stack.events import (
    IncomingRequest,
    LambdaContext,
    authorizer_event,
    method_arn,
    proxy_event,
)
from devtools.local_stack.template import (
    ACCOUNT_ID,
    AuthorizerSpec,
    FunctionSpec,
    RouteSpec,
    StackModel,
)

__all__ = ["API_GATEWAY_TIMEOUT_SECONDS", "BASE_PATH_ALIASES", "Gateway", "GatewayResult", "Handler"]

Handler = Callable[[dict[str, Any], Any], Any]

#: Every route is also served under these prefixes (the deployed custom-domain base path mapping).
BASE_PATH_ALIASES: tuple[str, ...] = ("/api/v1",)
#: API Gateway gives up on an integration after 29 s (default, REST).
API_GATEWAY_TIMEOUT_SECONDS = 29.0
_PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded", "cookies"}

#: API Gateway's own status code and our error code and message for each gateway response
#: type, used when the template does not customise that type.
_GATEWAY_DEFAULTS: dict[str, tuple[int, str, str]] = {
    "ACCESS_DENIED": (403, "ACCESS_DENIED", "Access denied."),
    "UNAUTHORIZED": (401, "UNAUTHORIZED", "Authentication required."),
    "MISSING_AUTHENTICATION_TOKEN": (404, "NOT_FOUND", "No such endpoint."),
    "THROTTLED": (429, "RATE_LIMITED", "Too many requests. Try again later."),
    "REQUEST_TOO_LARGE": (413, "PAYLOAD_TOO_LARGE", "Request body is too large."),
    "BAD_REQUEST_BODY": (400, "BAD_REQUEST", "The request could not be processed."),
    "AUTHORIZER_FAILURE": (500, "INTERNAL_ERROR", "Something went wrong on our side."),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "INTERNAL_ERROR", "Something went wrong on our side."),
    "INTEGRATION_FAILURE": (504, "INTERNAL_ERROR", "Something went wrong on our side."),
    "INTEGRATION_TIMEOUT": (504, "INTERNAL_ERROR", "Something went wrong on our side."),
    "LAMBDA_ERROR": (502, "INTERNAL_ERROR", "Something went wrong on our side."),
    "DEFAULT_4XX": (400, "BAD_REQUEST", "The request could not be processed."),
    "DEFAULT_5XX": (500, "INTERNAL_ERROR", "Something went wrong on our side."),
}


@dataclass
class GatewayResult:
    """What goes back on the wire."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    #: Which function answered (for the access log); None for gateway-made answers.
    function: str | None = None


@dataclass
class _AuthDecision:
    principal_id: str
    context: dict[str, Any]
    policy: Mapping[str, Any]
    expires: float = 0.0


@dataclass
class LoadedFunction:
    """A function's handler, loaded once (a warm container), plus its one-at-a-time lock."""

    spec: FunctionSpec
    handler: Handler | None = None
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class AuthorizerCrashed(Exception):
    """The authorizer raised something other than ``Unauthorized`` or returned garbage."""


class Gateway:
    """Routes requests to functions through the authorizer, like the deployed REST API."""

    def __init__(
        self,
        model: StackModel,
        *,
        region: str,
        outbox: SmsOutbox | None,
        handlers: Mapping[str, Handler] | None = None,
        one_request_per_function: bool = True,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.model = model
        self.region = region
        self.outbox = outbox
        self.log = log
        self.one_request_per_function = one_request_per_function
        overrides = dict(handlers or {})
        self.functions: dict[str, LoadedFunction] = {}
        for logical_id, spec in model.functions.items():
            loaded = LoadedFunction(spec)
            loaded.handler = overrides.get(logical_id) or overrides.get(spec.dir_name)
            self.functions[logical_id] = loaded
        self._load_lock = threading.Lock()
        self._auth_cache: dict[tuple[str, tuple[str, ...]], _AuthDecision] = {}
        self._auth_cache_lock = threading.Lock()
        self.loaded_modules: list[str] = []

    # ------------------------------------------------------------------ loading
    def load_all(self) -> dict[str, str]:
        """Import every handler now (a cold start each); returns {logical_id: error} for failures."""
        return {
            logical_id: loaded.error
            for logical_id, loaded in self.functions.items()
            if not self._ensure_loaded(loaded) and loaded.error
        }

    def _ensure_loaded(self, loaded: LoadedFunction) -> bool:
        """Load the handler if needed. Retried per request, so code that lands later is picked up."""
        if loaded.handler is not None:
            return True
        with self._load_lock:
            if loaded.handler is not None:
                return True
            spec = loaded.spec
            if not spec.handler_file.is_file():
                loaded.error = f"{spec.handler_file} does not exist (yet)"
                return False
            module_spec = importlib.util.spec_from_file_location(spec.module_name, spec.handler_file)
            if module_spec is None or module_spec.loader is None:
                loaded.error = f"cannot load {spec.handler_file}"
                return False
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[spec.module_name] = module
            try:
                module_spec.loader.exec_module(module)
                handler = getattr(module, spec.handler_attr)
            except Exception as exc:  # an import-time failure is Lambda's Runtime.ImportModuleError
                del sys.modules[spec.module_name]
                loaded.error = f"{type(exc).__name__}: {exc}"
                self._log(f"[lambda] {spec.logical_id}: failed to load {spec.handler_file}\n{traceback.format_exc()}")
                return False
            self.loaded_modules.append(spec.module_name)
            loaded.handler = handler
            loaded.error = None
            return True

    # ------------------------------------------------------------------ routing
    def find_routes(self, path: str) -> tuple[str, list[tuple[RouteSpec, dict[str, str]]]]:
        """(path relative to the API, [(route, path params)]) for ``path``, trying the aliases too."""
        candidates = [path]
        for prefix in BASE_PATH_ALIASES:
            if path == prefix or path.startswith(prefix + "/"):
                candidates.append(path[len(prefix) :] or "/")
        for api_path in candidates:
            matches = [
                (route, params) for route in self.model.routes if (params := route.matches(api_path)) is not None
            ]
            if matches:
                return api_path, matches
        return path, []

    def handle(self, request: IncomingRequest) -> GatewayResult:
        """Answer one request (the body is already read and within limits)."""
        api_path, matches = self.find_routes(request.path)
        if not matches:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN")
        if request.method == "OPTIONS":
            return self.preflight()
        chosen = next(((route, params) for route, params in matches if route.method in (request.method, "ANY")), None)
        if chosen is None:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN")
        route, params = chosen
        request.api_path = api_path
        request.resource = route.path
        request.path_parameters = params
        authorizer_context: dict[str, Any] | None = None
        if route.authorizer is not None:
            outcome = self.authorize(self.model.authorizers[route.authorizer], request)
            if isinstance(outcome, GatewayResult):
                return outcome
            authorizer_context = outcome
        return self.invoke_function(self.functions[route.function_logical_id], request, authorizer_context)

    # ------------------------------------------------------------------ authorizer
    def authorize(self, spec: AuthorizerSpec, request: IncomingRequest) -> dict[str, Any] | GatewayResult:
        """Run the authorizer; the ``requestContext.authorizer`` map, or the gateway's refusal."""
        identity: list[str] = []
        for header in spec.identity_headers:
            value = request.header(header)
            if value is None or not value.strip():
                return self.gateway_response("UNAUTHORIZED")
            identity.append(value)
        query = dict(request.query)
        for name in spec.identity_query_strings:
            if not query.get(name, "").strip():
                return self.gateway_response("UNAUTHORIZED")
            identity.append(query[name])
        if spec.validation_expression and not re.fullmatch(spec.validation_expression, identity[0]):
            return self.gateway_response("UNAUTHORIZED")

        arn = method_arn(self.region, self.model.stage_name, request.method, request.api_path or request.path)
        cache_key = (spec.name, tuple(identity))
        started = time.monotonic()
        decision = self._cached_decision(cache_key) if spec.ttl_seconds > 0 else None
        if decision is None:
            try:
                decision = self._call_authorizer(spec, request)
            except _Unauthorized:
                return self.gateway_response("UNAUTHORIZED")
            except AuthorizerCrashed as exc:
                self._log(f"[gateway] authorizer {spec.name} failed: {exc}")
                return self.gateway_response("AUTHORIZER_FAILURE")
            if spec.ttl_seconds > 0:
                decision.expires = time.monotonic() + spec.ttl_seconds
                with self._auth_cache_lock:
                    self._auth_cache[cache_key] = decision
        latency = int((time.monotonic() - started) * 1000)
        if not _policy_allows(decision.policy, arn):
            return self.gateway_response("ACCESS_DENIED", authorizer=decision.context)
        context: dict[str, Any] = {key: _context_text(value) for key, value in decision.context.items()}
        context["principalId"] = decision.principal_id
        context["integrationLatency"] = latency
        return context

    def _cached_decision(self, key: tuple[str, tuple[str, ...]]) -> _AuthDecision | None:
        with self._auth_cache_lock:
            decision = self._auth_cache.get(key)
            if decision is not None and decision.expires > time.monotonic():
                return decision
            self._auth_cache.pop(key, None)
            return None

    def _call_authorizer(self, spec: AuthorizerSpec, request: IncomingRequest) -> _AuthDecision:
        loaded = self.functions[spec.function_logical_id]
        event = authorizer_event(
            request,
            region=self.region,
            stage=self.model.stage_name,
            domain=_domain(request),
            payload_type=spec.payload_type,
            token_header=spec.identity_headers[0] if spec.identity_headers else "Authorization",
        )
        try:
            result = self._run(loaded, event)
        except _FunctionError as exc:
            if exc.message == "Unauthorized":
                raise _Unauthorized from None
            raise AuthorizerCrashed(exc.message) from None
        if not isinstance(result, Mapping):
            raise AuthorizerCrashed(f"returned {type(result).__name__}, not a policy object")
        principal = result.get("principalId")
        policy = result.get("policyDocument")
        context = result.get("context") or {}
        if principal is None or not isinstance(policy, Mapping) or not isinstance(context, Mapping):
            raise AuthorizerCrashed("response needs principalId, policyDocument and an optional context map")
        bad = [key for key, value in context.items() if not isinstance(value, str | int | float | bool)]
        if bad:
            raise AuthorizerCrashed(f"context values must be strings, numbers or booleans: {bad}")
        if not isinstance(policy.get("Statement"), list | Mapping):
            raise AuthorizerCrashed("policyDocument has no Statement")
        return _AuthDecision(str(principal), dict(context), policy)

    # ------------------------------------------------------------------ functions
    def invoke_function(
        self, loaded: LoadedFunction, request: IncomingRequest, authorizer_context: Mapping[str, Any] | None
    ) -> GatewayResult:
        event = proxy_event(
            request, stage=self.model.stage_name, domain=_domain(request), authorizer=authorizer_context
        )
        started = time.monotonic()
        try:
            result = self._run(loaded, event)
        except _FunctionError:
            return self.gateway_response("LAMBDA_ERROR", function=loaded.spec.logical_id)
        elapsed = time.monotonic() - started
        if elapsed > API_GATEWAY_TIMEOUT_SECONDS:
            self._log(f"[gateway] {loaded.spec.logical_id} took {elapsed:.1f}s; API Gateway gives up after 29s")
            return self.gateway_response("INTEGRATION_TIMEOUT", function=loaded.spec.logical_id)
        problem = _proxy_response_problem(result)
        if problem:
            self._log(f"[gateway] {loaded.spec.logical_id}: malformed Lambda proxy response: {problem}")
            return self.gateway_response("LAMBDA_ERROR", function=loaded.spec.logical_id)
        return _to_result(result, request.request_id, loaded.spec.logical_id)

    def _run(self, loaded: LoadedFunction, event: dict[str, Any]) -> Any:
        """Invoke a handler like Lambda would; any failure becomes ``_FunctionError``."""
        spec = loaded.spec
        if not self._ensure_loaded(loaded):
            self._log(f"[lambda] {spec.logical_id} is not available: {loaded.error}")
            raise _FunctionError("Runtime.ImportModuleError")
        assert loaded.handler is not None
        context = LambdaContext(
            function_name=spec.function_name,
            invoked_function_arn=f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{spec.function_name}",
            memory_limit_in_mb=spec.memory_mb,
            timeout_seconds=spec.timeout_seconds,
        )
        lock = loaded.lock if self.one_request_per_function else _NO_LOCK
        started = time.monotonic()
        try:
            with lock:
                result = loaded.handler(event, context)
        except Exception as exc:
            self._log(f"[lambda] {spec.logical_id} raised:\n{traceback.format_exc()}")
            raise _FunctionError(str(exc)) from None
        finally:
            if self.outbox is not None:
                self.outbox.collect()
        elapsed = time.monotonic() - started
        if elapsed > spec.timeout_seconds:
            self._log(
                f"[lambda] {spec.logical_id}: Task timed out after {elapsed:.2f} s (Timeout {spec.timeout_seconds} s)"
            )
            raise _FunctionError("Task timed out")
        try:
            # Lambda serialises the return value to JSON; values json cannot encode fail there too.
            return json.loads(json.dumps(result))
        except (TypeError, ValueError) as exc:
            self._log(f"[lambda] {spec.logical_id}: return value is not JSON serialisable: {exc}")
            raise _FunctionError("Runtime.MarshalError") from None

    # ------------------------------------------------------------------ gateway-made answers
    def cors_headers(self) -> dict[str, str]:
        cors = self.model.cors
        origin = cors.allow_origin if cors else self.model.environment.get("ALLOWED_ORIGIN", "*")
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Headers": (
                cors.allow_headers if cors and cors.allow_headers else "Content-Type,Authorization"
            ),
            "Access-Control-Allow-Methods": (cors.allow_methods if cors and cors.allow_methods else "GET,POST,OPTIONS"),
        }

    def preflight(self) -> GatewayResult:
        headers = self.cors_headers()
        cors = self.model.cors
        headers["Access-Control-Max-Age"] = cors.max_age if cors and cors.max_age else "600"
        return GatewayResult(204, list(headers.items()), b"")

    def gateway_response(
        self, response_type: str, *, authorizer: Mapping[str, Any] | None = None, function: str | None = None
    ) -> GatewayResult:
        """Render a gateway response from the template (or the defaults above)."""
        default_status, code, message = _GATEWAY_DEFAULTS.get(response_type, _GATEWAY_DEFAULTS["DEFAULT_5XX"])
        responses = self.model.gateway_responses
        fallback = responses.get("DEFAULT_4XX" if default_status < 500 else "DEFAULT_5XX")
        specific = responses.get(response_type)
        status = (specific.status_code if specific and specific.status_code else None) or default_status
        spec = specific or fallback
        headers = dict(spec.headers) if spec and spec.headers else self.cors_headers()
        if spec and spec.template is not None:
            body = _render_template(spec.template, response_type, authorizer or {})
        else:
            body = json.dumps({"success": False, "error": {"code": code, "message": message}})
        headers.setdefault("Content-Type", "application/json")
        headers["x-amzn-ErrorType"] = _ERROR_TYPES.get(response_type, "InternalServerErrorException")
        return GatewayResult(status, list(headers.items()), body.encode("utf-8"), function)

    def _log(self, line: str) -> None:
        if self.log is not None:
            self.log(line)


_ERROR_TYPES = {
    "ACCESS_DENIED": "AccessDeniedException",
    "UNAUTHORIZED": "UnauthorizedException",
    "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
    "THROTTLED": "TooManyRequestsException",
    "REQUEST_TOO_LARGE": "RequestTooLargeException",
    "BAD_REQUEST_BODY": "BadRequestException",
    "DEFAULT_4XX": "BadRequestException",
}


class _FunctionError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Unauthorized(Exception):
    pass


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


def _domain(request: IncomingRequest) -> str:
    host = request.header("Host") or "127.0.0.1"
    return host.rsplit(":", 1)[0] if not host.startswith("[") else host


def _context_text(value: Any) -> str:
    """REST APIs hand authorizer context values to the function as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _iam_glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _policy_allows(policy: Mapping[str, Any], arn: str) -> bool:
    """IAM evaluation as API Gateway applies it: an explicit Deny wins, else needs an Allow."""
    allowed = False
    for statement in _as_list(policy.get("Statement")):
        if not isinstance(statement, Mapping):
            continue
        actions = _as_list(statement.get("Action"))
        resources = _as_list(statement.get("Resource"))
        if not any(_iam_glob(str(a), "execute-api:Invoke", ignore_case=True) for a in actions):
            continue
        if not any(_iam_glob(str(r), arn) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


_TEMPLATE_VARIABLE = re.compile(r"\$(?:\{context\.([A-Za-z0-9_.]+)\}|context\.([A-Za-z0-9_.]+))")


def _render_template(template: str, response_type: str, authorizer: Mapping[str, Any]) -> str:
    """The few ``$context`` variables our gateway responses use (VTL renders unknown ones empty)."""
    messages = {
        "MISSING_AUTHENTICATION_TOKEN": "Missing Authentication Token",
        "UNAUTHORIZED": "Unauthorized",
        "ACCESS_DENIED": "User is not authorized to access this resource",
        "REQUEST_TOO_LARGE": "Request Too Long",
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name.startswith("authorizer."):
            value = authorizer.get(name.split(".", 1)[1])
            return "" if value is None else _context_text(value)
        if name == "error.responseType":
            return response_type
        if name == "error.message":
            return messages.get(response_type, "Internal server error")
        if name == "error.messageString":
            return json.dumps(messages.get(response_type, "Internal server error"))
        return ""

    return _TEMPLATE_VARIABLE.sub(replace, template)


def _proxy_response_problem(result: Any) -> str | None:
    """Why API Gateway would reject this as a Lambda proxy response (None if it is fine)."""
    if not isinstance(result, Mapping):
        return f"expected an object, got {type(result).__name__}"
    unexpected = set(result) - _PROXY_RESPONSE_KEYS
    if unexpected:
        return f"unexpected keys {sorted(unexpected)}"
    status = result.get("statusCode", 200)
    if isinstance(status, bool) or not (isinstance(status, int) or (isinstance(status, str) and status.isdigit())):
        return f"statusCode must be an integer, got {status!r}"
    if not 100 <= int(status) <= 599:
        return f"statusCode {status} is not an HTTP status"
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        return f"body must be a string (json.dumps it), got {type(body).__name__}"
    headers = result.get("headers") or {}
    if not isinstance(headers, Mapping) or any(isinstance(v, dict | list) for v in headers.values()):
        return "headers must map names to single values"
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(multi, Mapping) or any(not isinstance(v, list) for v in multi.values()):
        return "multiValueHeaders must map names to lists"
    if result.get("isBase64Encoded") and body:
        try:
            base64.b64decode(body, validate=True)
        except ValueError:
            return "isBase64Encoded is true but body is not base64"
    return None


def _to_result(result: Mapping[str, Any], request_id: str, function: str) -> GatewayResult:
    headers: list[tuple[str, str]] = []
    multi = result.get("multiValueHeaders") or {}
    multi_names = {name.lower() for name in multi}
    for name, values in multi.items():
        headers.extend((name, _context_text(value)) for value in values)
    for name, value in (result.get("headers") or {}).items():
        if name.lower() not in multi_names and value is not None:
            headers.append((name, _context_text(value)))
    body_text = result.get("body") or ""
    body = base64.b64decode(body_text) if result.get("isBase64Encoded") else body_text.encode("utf-8")
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    headers.append(("x-amzn-RequestId", request_id))
    return GatewayResult(int(result.get("statusCode", 200)), headers, body, function)
