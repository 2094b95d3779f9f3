"""The one module that creates boto3 clients, each with short timeouts and few retries.

Clients are created lazily, once per container (never at import time, so tests can start
moto first). The endpoint comes from the standard AWS_ENDPOINT_URL variables, which is how
the local stack points everything at its embedded moto server.

Every call to a dependency is bounded: ``CallLimits.worst_case_seconds()`` is the longest a
call can take when the dependency never answers, and template.yaml gives each function a
Timeout above the sum of those bounds along its longest path (the arithmetic is written
there). So a slow dependency ends in our 503 with nothing half-done, never in a Lambda
timeout that leaves, say, a code stored whose SMS never went out.
"""

from __future__ import annotations

import contextvars
import functools
import time
from dataclasses import dataclass
from typing import Any

#: botocore's standard retry mode sleeps at most rand(0, 1) * min(2 ** (n - 1), 20) s before
#: attempt n + 1 (less for errors that are not throttling).
_MAX_BACKOFF_SECONDS = 20


@dataclass(frozen=True)
class CallLimits:
    """How long one client waits for a dependency, and how often it tries."""

    connect_timeout: float
    #: Per socket read: the wait for the first byte of the answer, and between later bytes.
    read_timeout: float
    #: Attempts in all, the first one included (botocore's standard retry mode).
    max_attempts: int

    def worst_case_seconds(self) -> float:
        """The longest one call can take when the dependency does not answer.

        Every attempt waits connect_timeout + read_timeout, plus the largest backoff botocore
        may sleep between attempts. (A server that trickles an answer one byte per
        read_timeout could take longer; AWS endpoints answer whole or not at all.)
        """
        backoff = sum(min(1 << (attempt - 1), _MAX_BACKOFF_SECONDS) for attempt in range(1, self.max_attempts))
        return self.max_attempts * (self.connect_timeout + self.read_timeout) + backoff

    def config(self, **more: Any) -> Any:
        """botocore's Config with these limits (and ``more`` of its options)."""
        from botocore.config import Config

        return Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            # total_max_attempts counts the first attempt; botocore's "max_attempts" would not.
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
            **more,
        )


#: DynamoDB answers in milliseconds, and a connection to it inside the region opens in a few:
#: 0.5 s without a connection or 1.5 s without a byte means the request is lost. One retry.
DYNAMODB = CallLimits(connect_timeout=0.5, read_timeout=1.5, max_attempts=2)  # <= 5 s per call
#: The JWT secret, read on a cold start and after SECRET_CACHE_SECONDS. One retry.
SSM = CallLimits(connect_timeout=0.5, read_timeout=1.5, max_attempts=2)  # <= 5 s per call
#: No retry: a Publish that timed out may still have been delivered, and a retry would send a
#: second SMS. The code is withdrawn instead, so the user can ask again at once.
SNS = CallLimits(connect_timeout=1, read_timeout=3, max_attempts=1)  # <= 4 s per call
#: Calls the stack's custom resources make while CloudFormation waits (no client is waiting, and
#: account-level APIs throttle): patient, with retries. The function's Timeout covers them.
DEPLOY = CallLimits(connect_timeout=2, read_timeout=10, max_attempts=4)  # <= 55 s per call
#: Lifecycle events. One retry: an event published twice keeps its event_id, which consumers
#: de-duplicate on, and the stream retries the whole batch anyway.
EVENTBRIDGE = CallLimits(connect_timeout=0.5, read_timeout=1.5, max_attempts=2)  # <= 5 s per call

#: The import function's calls (no client waits on it; it checkpoints and resumes): patient,
#: with retries, and enough connections for its write threads (phone_auth.store.imports).
IMPORTS = CallLimits(connect_timeout=1, read_timeout=10, max_attempts=5)  # <= 70 s per call
#: S3 for import jobs: pre-signing needs no call; reading an upload and writing a report do.
S3 = CallLimits(connect_timeout=1, read_timeout=10, max_attempts=3)  # <= 36 s per call


@functools.cache
def _session() -> Any:
    import boto3

    return boto3.session.Session()


@functools.cache
def dynamodb() -> Any:
    return _session().client("dynamodb", config=DYNAMODB.config())


@functools.cache
def sns() -> Any:
    return _session().client("sns", config=SNS.config())


@functools.cache
def deploy_client(service: str) -> Any:
    """A client for the custom resources' calls (``ssm``, ``apigateway``, ``sns``, ``logs``), with DEPLOY's limits."""
    return _session().client(service, config=DEPLOY.config())


@functools.cache
def events() -> Any:
    return _session().client("events", config=EVENTBRIDGE.config())


@functools.cache
def import_dynamodb() -> Any:
    """The import function's DynamoDB client: IMPORTS' limits, a connection per write thread."""
    return _session().client("dynamodb", config=IMPORTS.config(max_pool_connections=32))


@functools.cache
def s3() -> Any:
    """S3 for import files, signing its pre-signed URLs with SigV4 (the only version S3 takes
    in every region) for the function's own region (a regional URL, no redirect)."""
    return _session().client("s3", config=S3.config(signature_version="s3v4"))


class ParameterUnavailable(Exception):
    """SSM did not give the parameter: unreachable, throttled, refusing, or no such parameter."""


class SecureParameters:
    """SecureString parameters read with one SSM client, each value kept ``max_age`` seconds.

    The one GetParameter (decrypted) a container makes per ``max_age``: no provider framework
    on the cold path, and the value is kept per name like powertools' parameters would keep it.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._values: dict[str, tuple[float, str]] = {}  # name -> (expires at, monotonic; value)

    def get(self, name: str, *, max_age: float) -> str:
        now = time.monotonic()
        cached = self._values.get(name)
        if cached is not None and now < cached[0]:
            return cached[1]
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            value = self.client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        except (BotoCoreError, ClientError) as exc:
            raise ParameterUnavailable(type(exc).__name__) from exc
        self._values[name] = (now + max_age, value)
        return str(value)


@functools.cache
def ssm_parameters() -> SecureParameters:
    """The container's parameter reader, on an SSM client with SSM's limits (the one session)."""
    return SecureParameters(_session().client("ssm", config=SSM.config()))


#: Seconds kept back from Lambda's remaining time: the answer still has to be written.
DEADLINE_MARGIN_SECONDS = 1.0
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("phone_auth_deadline", default=None)


def start_invocation(context: Any) -> contextvars.Token[float | None]:
    """Note when this invocation must have answered: Lambda's remaining time, less a margin.

    Hand the token back to ``end_invocation`` when the invocation answers, so no later call made
    outside an invocation (a test, a tool) is held to a deadline that has passed."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deadline = None if remaining is None else time.monotonic() + remaining() / 1000 - DEADLINE_MARGIN_SECONDS
    return _deadline.set(deadline)


def end_invocation(token: contextvars.Token[float | None]) -> None:
    _deadline.reset(token)


def time_left() -> float | None:
    """Seconds until this invocation's deadline (None outside an invocation)."""
    deadline = _deadline.get()
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


def ensure_time_for(seconds: float, dependency: str) -> None:
    """Refuse (503, nothing done) a call that could outlast the invocation's deadline.

    Each function's Timeout covers its usual chain of calls (template.yaml); this covers the
    rarer, longer ones (a wrong guess that locks a phone, a session cap to enforce), so even
    those end in our 503 and never in a Lambda timeout.
    """
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() + seconds > deadline:
        from phone_auth.errors import ServiceUnavailable

        raise ServiceUnavailable(details={"dependency": dependency})


def reset_clients() -> None:
    """Forget cached clients (tests that switch moto on and off call this)."""
    _session.cache_clear()
    dynamodb.cache_clear()
    sns.cache_clear()
    deploy_client.cache_clear()
    events.cache_clear()
    import_dynamodb.cache_clear()
    s3.cache_clear()
    ssm_parameters.cache_clear()
