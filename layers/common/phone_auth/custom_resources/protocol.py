"""CloudFormation's custom resource protocol: the request, and the one answer to its ResponseURL.

CloudFormation invokes the function with a request (Create, Update or Delete, the resource's
properties, a pre-signed S3 ``ResponseURL``) and waits until a JSON answer is PUT there, up to an
hour. So every request is answered exactly once: SUCCESS with the physical id and the data
``Fn::GetAtt`` reads, or FAILED with a short reason. A reason names the step and the error's
code only (``PutParameter: AccessDeniedException``), never a message an AWS service wrote, which
could quote a value sent to it. A timer answers FAILED shortly before the function would time out.

The answer goes with the standard library's urllib (a pre-signed URL needs no signing, and no
helper library is pinned in the layer).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from phone_auth.observability import lambda_invocation, logger

RequestType = Literal["Create", "Update", "Delete"]
#: Seconds before the function's timeout at which an unfinished request is answered FAILED.
TIMEOUT_MARGIN_SECONDS = 10.0
#: The answer's PUT: S3 answers at once; a few tries cover a dropped connection.
ANSWER_TIMEOUT_SECONDS = 10.0
ANSWER_ATTEMPTS = 3
#: The physical id answered when a Create fails: its Delete (the rollback) then knows nothing was made.
NOT_CREATED = "not-created"
#: Waits between attempts while a role created a moment ago propagates through IAM (about a minute).
PROPAGATION_WAITS = (2.0, 4.0, 8.0, 16.0, 30.0)


class SetupFailed(Exception):
    """A request that cannot be done; the message is the reason CloudFormation shows (never a secret)."""


@dataclass(frozen=True)
class Request:
    """One custom resource request, as CloudFormation sends it."""

    request_type: RequestType
    resource_type: str
    logical_id: str
    stack_id: str
    request_id: str
    response_url: str
    #: None on Create; on Update and Delete, the id the last answer gave.
    physical_id: str | None
    properties: Mapping[str, Any]
    #: Update only: the properties before the change.
    old_properties: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Request:
        request_type = event["RequestType"]
        if request_type not in ("Create", "Update", "Delete"):
            raise SetupFailed(f"unknown request type {request_type!r}")
        return cls(
            request_type=request_type,
            resource_type=str(event["ResourceType"]),
            logical_id=str(event["LogicalResourceId"]),
            stack_id=str(event["StackId"]),
            request_id=str(event["RequestId"]),
            response_url=str(event["ResponseURL"]),
            physical_id=event.get("PhysicalResourceId"),
            properties=event.get("ResourceProperties") or {},
            old_properties=event.get("OldResourceProperties") or {},
        )

    def text(self, name: str) -> str:
        """A required string property; SetupFailed naming it when it is missing or empty."""
        value = self.properties.get(name)
        if not isinstance(value, str) or not value:
            raise SetupFailed(f"property {name} is required")
        return value

    def flag(self, name: str) -> bool:
        """A 'true'/'false' property (CloudFormation passes every property as a string)."""
        value = str(self.properties.get(name, "false")).lower()
        if value not in ("true", "false"):
            raise SetupFailed(f"property {name} must be true or false")
        return value == "true"

    @property
    def created(self) -> bool:
        """Whether the resource exists: not a Create, and not the rollback of a Create that failed."""
        return self.request_type != "Create" and self.physical_id != NOT_CREATED


@dataclass(frozen=True)
class Outcome:
    """A request done: the resource's physical id and what ``Fn::GetAtt`` may read (no secret)."""

    physical_id: str
    data: dict[str, str] = field(default_factory=dict)


ResourceHandler = Callable[[Request], Outcome]


def while_role_propagates[T](call: Callable[[], T], refusal: type[Exception]) -> T:
    """``call()``, tried again while it fails with ``refusal``: how a service refuses a role that
    IAM has not yet propagated to it (a role the stack created seconds earlier)."""
    for wait in (*PROPAGATION_WAITS, None):
        try:
            return call()
        except refusal:
            if wait is None:
                raise
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def failure_reason(exc: BaseException) -> str:
    """What CloudFormation shows for a failure: our own reason, or the AWS error's code and step."""
    if isinstance(exc, SetupFailed):
        return str(exc)
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        operation = getattr(exc, "operation_name", "an AWS call")
        return f"{operation}: {exc.response.get('Error', {}).get('Code', 'error')}"
    if isinstance(exc, BotoCoreError):
        return f"an AWS call failed: {type(exc).__name__}"
    return f"unexpected error: {type(exc).__name__}"


class Answer:
    """The one answer to a request: the first ``send`` PUTs it, later ones do nothing."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self._lock = threading.Lock()
        self.sent: str | None = None  # the status sent

    def send(self, status: Literal["SUCCESS", "FAILED"], outcome: Outcome, reason: str = "") -> None:
        with self._lock:
            if self.sent is not None:
                return
            self.sent = status
        request = self.request
        body = {
            "Status": status,
            "Reason": reason or f"See the function's log stream for request {request.request_id}",
            "PhysicalResourceId": outcome.physical_id,
            "StackId": request.stack_id,
            "RequestId": request.request_id,
            "LogicalResourceId": request.logical_id,
            "NoEcho": False,
            "Data": outcome.data,
        }
        put(request.response_url, json.dumps(body).encode())
        logger.info(
            "custom resource answered",
            extra={
                "resource_type": request.resource_type,
                "request_type": request.request_type,
                "logical_id": request.logical_id,
                "status": status,
                "reason": reason,
            },
        )


def put(url: str, body: bytes) -> None:
    """PUT the answer to the pre-signed URL (no Content-Type: the URL was signed without one)."""
    last: Exception | None = None
    for _ in range(ANSWER_ATTEMPTS):
        http = urllib.request.Request(  # noqa: S310 - CloudFormation's pre-signed https URL
            url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
        )
        try:
            with urllib.request.urlopen(http, timeout=ANSWER_TIMEOUT_SECONDS) as response:  # noqa: S310
                response.read()
            return
        except OSError as exc:  # URLError and HTTPError are OSErrors
            last = exc
    logger.error("custom resource answer not delivered", extra={"reason": type(last).__name__})
    raise RuntimeError("the answer to CloudFormation could not be delivered") from last


def custom_resource_endpoint(handlers: Mapping[str, ResourceHandler]) -> Callable[[dict[str, Any], Any], None]:
    """The Lambda handler for the custom resource types in ``handlers`` (ResourceType -> handler)."""

    def handle(event: dict[str, Any], context: Any) -> None:
        request = Request.from_event(event)
        answer = Answer(request)
        # A failed Create keeps no id; Update and Delete keep the one CloudFormation holds.
        fallback = Outcome(request.physical_id or NOT_CREATED)
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        timer = None
        if remaining is not None:
            seconds = max(remaining() / 1000 - TIMEOUT_MARGIN_SECONDS, 0.0)
            timer = threading.Timer(seconds, answer.send, ("FAILED", fallback, "timed out"))
            timer.daemon = True
            timer.start()
        try:
            handler = handlers.get(request.resource_type)
            if handler is None:
                raise SetupFailed(f"this function does not serve {request.resource_type}")
            outcome = handler(request)
        except Exception as exc:  # every failure is answered: none leaves CloudFormation waiting
            reason = failure_reason(exc)
            logger.warning(
                "custom resource failed",
                extra={"resource_type": request.resource_type, "request_type": request.request_type, "reason": reason},
            )
            answer.send("FAILED", fallback, reason)
        else:
            answer.send("SUCCESS", outcome)
        finally:
            if timer is not None:
                timer.cancel()

    return lambda_invocation(handle)
