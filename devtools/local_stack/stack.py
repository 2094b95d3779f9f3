"""Start and stop the whole local stack: moto, tables, buckets, secret, handlers, HTTP server.

Everything runs in one process, so a developer needs neither Docker nor an AWS account and
tests can start a stack in-process. One process means one ``os.environ``: the functions' shared
variables go into it before any handler is imported, and :meth:`LocalStack.stop` restores the
previous environment. Only one stack can run per process at a time for the same reason.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devtools import local_env
from devtools.local_stack import backend, sigv4
from devtools.local_stack.event_rules import EventRules, rule_name
from devtools.local_stack.gateway import (
    ADMIN_PREFIX,
    BASE_PATH_ALIASES,
    Gateway,
    GatewayResult,
    Handler,
    IncomingRequest,
)
from devtools.local_stack.server import LocalHTTPServer
from devtools.local_stack.streams import LifecycleEvents
from devtools.local_stack.template import (
    ACCOUNT_ID,
    EventRuleSubscription,
    StackModel,
    bucket_name,
    local_name,
    read_stack,
)
from devtools.moto_atomic import make_dynamodb_writes_atomic
from ops import import_users

__all__ = ["REPO_ROOT", "Extension", "LocalStack", "start"]

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_USERS_CSV = REPO_ROOT / "devtools" / "sample_users.csv"

_ACTIVE_LOCK = threading.Lock()
_active: LocalStack | None = None


class Extension(Protocol):
    """Local-only features around the API (devtools.dev_server). ``setup`` runs before the first request
    and returns banner lines; ``handle`` answers every request first, ``default()`` being the stack's own
    answer; ``stop`` runs once the HTTP server has stopped, while moto still serves."""

    def setup(self, stack: LocalStack) -> list[str]: ...
    def handle(self, request: IncomingRequest, default: Callable[[], GatewayResult]) -> GatewayResult: ...
    def stop(self) -> None: ...


@dataclass
class LocalStack:
    """A running local stack. Use :func:`start` to get one and ``stop()`` to end it."""

    url: str
    moto_url: str
    region: str
    model: StackModel
    gateway: Gateway
    _http: LocalHTTPServer = field(repr=False)
    _moto: Any = field(repr=False)
    _restore_env: dict[str, str | None] = field(repr=False)
    lifecycle: LifecycleEvents = field(repr=False)
    event_rules: EventRules = field(repr=False)
    extension: Extension | None = None

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def table_names(self) -> dict[str, str]:
        """Logical id -> local table name, e.g. ``UsersTable -> phone-auth-local-UsersTable``."""
        return {logical_id: local_name(logical_id) for logical_id in self.model.tables}

    @property
    def bucket_names(self) -> dict[str, str]:
        """Logical id -> local bucket name, e.g. ``ImportBucket -> phone-auth-local-importbucket``."""
        return self.event_rules.bucket_names

    def sms(self, phone: str | None = None) -> list[backend.SmsMessage]:
        """SMS sent so far (to ``phone`` only, when given), oldest first."""
        return self.gateway.outbox.messages(phone)

    def events(self) -> list[dict[str, Any]]:
        """The lifecycle events published so far (as the bus delivers them), newest last."""
        return self.lifecycle.events()

    def deliver_events(self) -> None:
        """Invoke the functions of the template's EventBridge rules now with every event waiting for them
        (an upload's), and with those these invocations cause, instead of waiting for the poller. Returns
        once each has been handled, retries included."""
        self.event_rules.deliver()

    def stop(self) -> None:
        """Stop HTTP and moto, forget loaded handlers and restore os.environ (idempotent)."""
        global _active
        with _ACTIVE_LOCK:
            if _active is not self:
                return
            _active = None
        try:
            self._http.shutdown()
            self._http.server_close()
            if self.extension is not None:
                self.extension.stop()
            self.lifecycle.stop()
            self.event_rules.stop()
        finally:
            try:
                self._moto.stop()
            finally:
                self.gateway.forget_modules()
                local_env.apply_environment(self._restore_env)
                local_env.forget_warm_state()


def start(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    template_path: str | Path | None = None,
    parameter_overrides: Mapping[str, str] | None = None,
    config_env: str = "default",
    handlers: Mapping[str, Handler] | None = None,
    import_sample_users: bool = True,
    one_request_per_function: bool = True,
    echo: bool = True,
    log: Callable[[str], None] | None = None,
    extension: Extension | None = None,
    stream_events: bool = True,
) -> LocalStack:
    """Start the local stack and return once it is serving on ``host:port`` (0 = a free port).

    Parameters: template Defaults, samconfig.toml's ``config_env``, ``parameter_overrides``, then
    the developer's env vars (see ``template.read_stack``). ``handlers`` replaces handlers by
    logical id or directory (tests). Console lines go to ``log``, else stdout (none with
    ``echo=False``). ``extension`` adds local-only features (:class:`Extension`). ``stream_events=False``
    leaves the tables' streams and the rules' queues unread (``make invoke`` runs one function, not the
    stream's nor a rule's).
    """
    global _active
    with _ACTIVE_LOCK:
        if _active is not None:
            raise RuntimeError(f"a local stack is already running in this process at {_active.url}")
    emit = log or ((lambda line: print(line, flush=True)) if echo else (lambda line: None))
    developer_env = dict(os.environ)
    region = developer_env.get("AWS_DEFAULT_REGION") or developer_env.get("AWS_REGION") or local_env.REGION
    model = read_stack(
        template_path or REPO_ROOT / "template.yaml",
        region=region,
        environ=developer_env,
        config_env=config_env,
        parameter_overrides=parameter_overrides,
    )
    make_dynamodb_writes_atomic()
    moto, moto_url = backend.start_moto()
    restore: dict[str, str | None] = {}
    try:
        restore = local_env.apply_environment(
            local_env.aws_environment(moto_url, developer_env, region) | model.environment
        )
        local_env.forget_warm_state()  # a previous stack's clients, settings and secret
        tables = {logical_id: local_name(logical_id) for logical_id in model.tables}
        local_env.create_resources(model.tables, tables, model.environment["JWT_SECRET_PARAMETER_NAME"])
        outbox = backend.SmsOutbox(region, emit=emit)
        gateway = Gateway(model, region, outbox, emit, handlers, one_request_per_function=one_request_per_function)
        if import_sample_users:
            _import_sample_users(model.environment, emit)
        info = {"region": region, "moto_endpoint_url": moto_url, "stage": model.stage_name, "tables": tables}
        if model.iam_api is not None:  # the admin API's base URL is added once the port is known
            info["admin_credentials"] = {**sigv4.LOCAL_CREDENTIALS, "region": region, "service": sigv4.SERVICE}
        lifecycle = LifecycleEvents(model, gateway, region, emit)
        lifecycle.setup()
        event_rules = EventRules(model, gateway, region, emit)
        event_rules.setup()
        info["buckets"] = event_rules.bucket_names
        environment = info | {"environment": model.environment}
        http = LocalHTTPServer((host, port), gateway, environment, extension, lifecycle)
        url = f"http://{host}:{http.server_address[1]}"
        if model.iam_api is not None:
            environment["admin_api"] = url + ADMIN_PREFIX
        stack = LocalStack(
            url, moto_url, region, model, gateway, http, moto, restore, lifecycle, event_rules, extension
        )
        extra = extension.setup(stack) if extension is not None else []
        if stream_events:
            lifecycle.start()  # after the demo users and the kept data: those publish nothing
            event_rules.start()
    except BaseException:
        moto.stop()
        local_env.apply_environment(restore)
        raise
    threading.Thread(target=http.serve_forever, name="local-stack-http", daemon=True).start()
    with _ACTIVE_LOCK:
        _active = stack
    emit(banner(stack, extra))
    return stack


def banner(stack: LocalStack, extra: list[str]) -> str:
    """The start-up summary: where to call, what is served, in which mode, where data and SMS go."""
    model, environment = stack.model, stack.model.environment
    width = max((len(route.path) for route in model.routes), default=10)
    lines = ["", "phone-auth local stack (no Docker, no AWS account)", f"  API     {stack.url}"]
    lines.append(f"          every route is also served under {', '.join(BASE_PATH_ALIASES)}")
    on_off = {"true": "on", "false": "off"}.get(environment.get("OTP_LOGIN_ENABLED", "").lower(), "?")
    mode = [f"market {environment.get('MARKET')}", f"sign-up {environment.get('SIGNUP_MODE')}"]
    mode += [f"SMS-code login {on_off}", f"phone region {environment.get('DEFAULT_REGION')}"]
    mode += [f"{name}={value}" for name, value in sorted(environment.items()) if name.endswith("COUNTRIES")]
    lines.append("  Mode    " + ", ".join(mode))
    if environment.get("ENVIRONMENT") != "production":
        lines.append(
            f"  Stage   {environment.get('STAGE')}: a local, non-production stage (ENVIRONMENT=development,"
            " whatever the config env deploys): test numbers and SMS_SENDER=log are allowed"
        )
    lines.append(f"  Routes  (stage {model.stage_name})")
    for route in model.routes:
        for method in route.methods:
            lines.append(f"          {method:<6} {route.path:<{width}}  auth: {route.authorizer_name or 'none'}")
    if model.iam_api is not None:
        lines.append(
            f"  Admin   {stack.url}{ADMIN_PREFIX} (stage {model.iam_api.stage_name}): AWS_IAM, sign with SigV4"
            f" (execute-api, {stack.region}) as {sigv4.LOCAL_CREDENTIALS['access_key_id']} (GET /_local/info)"
        )
        for route in model.iam_api.routes:
            lines.append(f"          {route.methods[0]:<6} {route.path:<{width}}  auth: AWS_IAM")
    lines.append("  Tables  " + ", ".join(map(local_name, model.tables)))
    buckets = {logical_id: bucket_name(logical_id) for logical_id in model.buckets}
    for logical_id, name in buckets.items():  # with the rules that match its object events
        rules = [
            f"rule {rule_name(spec)} -> {spec.function}" for spec in model.event_rules if name in _buckets_of(spec)
        ]
        lines.append(
            f"  Bucket  {name} ({logical_id}): objects' events to the default bus; " + ", ".join(rules or ["no rule"])
        )
    for spec in model.event_rules:
        if not set(_buckets_of(spec)) & set(buckets.values()):
            lines.append(f"  Rule    {rule_name(spec)} on the default bus -> {spec.function}")
    secret = environment["JWT_SECRET_PARAMETER_NAME"]
    lines.append(f"  Secret  SSM SecureString {secret} (a key set, random unless kept; make rotate-secret rotates it)")
    sms = f"moto SNS -> printed here as [sms] and GET {stack.url}/_local/sms?phone=%2B66812345678"
    if environment.get("SMS_SENDER", "sns") != "sns":
        sms = f"SMS_SENDER={environment['SMS_SENDER']}: the functions log codes; the /_local/sms outbox stays empty"
    lines.append(f"  SMS     {sms}")
    bus = environment.get("EVENT_BUS_NAME", "default")
    lines.append(f"  Events  users' stream -> publish_events -> bus {bus}, shown at GET {stack.url}/_local/events")
    lines.append(f"  AWS     moto {stack.moto_url} (region {stack.region}, account {ACCOUNT_ID}, fake credentials)")
    lines.extend(extra)
    lines.extend(f"  Note    {warning}" for warning in model.warnings)
    return "\n".join([*lines, "Ctrl+C to stop", ""])


def _buckets_of(spec: EventRuleSubscription) -> list[str]:
    """The bucket names a rule's pattern matches (``detail.bucket.name``), if it names any."""
    detail = spec.pattern.get("detail")
    bucket = detail.get("bucket") if isinstance(detail, dict) else None
    names = bucket.get("name") if isinstance(bucket, dict) else None
    return [name for name in names if isinstance(name, str)] if isinstance(names, list) else []


def _import_sample_users(environment: Mapping[str, str], emit: Callable[[str], None]) -> None:
    """Import devtools/sample_users.csv with the stack's own phone region and bcrypt cost."""
    try:
        report = import_users.import_file(
            SAMPLE_USERS_CSV,
            environment["USERS_TABLE_NAME"],
            default_region=environment["DEFAULT_REGION"],
            bcrypt_rounds=int(environment["BCRYPT_ROUNDS"]),
            progress=emit,
            report=emit,
        )
    except Exception as exc:  # a broken CSV must not stop the stack from serving
        emit(f"demo users: import failed ({type(exc).__name__}: {exc}); continuing without them")
        return
    emit(f"demo users: imported from {os.path.relpath(SAMPLE_USERS_CSV, REPO_ROOT)} ({report.summary()})")
