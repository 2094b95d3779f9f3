"""The fake AWS behind the local stack: an embedded moto server plus the SMS outbox (the environment
that points boto3 at it, the tables and the key set: devtools.local_env).

Why a real (threaded) moto *server* rather than ``mock_aws``: the handlers run unchanged
and talk HTTP to an endpoint, exactly as they talk to AWS when deployed; only
``AWS_ENDPOINT_URL`` differs. That exercises boto3 request serialisation, retries and
error parsing too, which an in-process mock would short-circuit.

One fix on the way in (:class:`_PutBodiesAsSent`): moto reads the body of a PUT sent as
``application/x-www-form-urlencoded`` (urllib's default, ``curl --data-binary``'s) as a form and
stores an empty object, where S3 stores the bytes; no AWS API takes a form by PUT, so such a body
reaches moto as ``application/octet-stream`` (the object's Content-Type then says so).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from moto.server import ThreadedMotoServer
from moto.sns.models import sns_backends

from devtools.local_stack.template import ACCOUNT_ID

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["SmsMessage", "SmsOutbox", "start_moto"]


def start_moto() -> tuple[ThreadedMotoServer, str]:
    """A moto server on 127.0.0.1 and a free port, quietly, and its URL."""
    # werkzeug logs one line per moto request; those are our boto3 calls, not user traffic.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    wsgi = server._server  # moto makes its WSGI server in start(): wrap its app
    assert wsgi is not None
    wsgi.app = _PutBodiesAsSent(wsgi.app)
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


class _PutBodiesAsSent:
    """A WSGI wrapper: a PUT's form-encoded body goes to moto as bytes, as S3 takes it (module docstring)."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        content_type = str(environ.get("CONTENT_TYPE") or "")
        if environ.get("REQUEST_METHOD") == "PUT" and content_type.startswith("application/x-www-form-urlencoded"):
            environ["CONTENT_TYPE"] = "application/octet-stream"
        return self.app(environ, start_response)


@dataclass(frozen=True)
class SmsMessage:
    """One SMS the functions sent through SNS."""

    to: str
    body: str
    sent_at: str


class SmsOutbox:
    """Collects SMS published to moto SNS (``sns_backends[account][region].sms_messages``, in this
    process: its server is a thread), oldest first. ``collect()`` runs after each invocation, so
    ``sent_at`` (when the stack noticed) is at most one invocation late."""

    def __init__(self, region: str, *, emit: Callable[[str], None]) -> None:
        self._sns, self.emit, self._lock = sns_backends[ACCOUNT_ID][region], emit, threading.Lock()
        self._seen, self._messages = len(self._sns.sms_messages), list[SmsMessage]()
        self._to: dict[str, list[SmsMessage]] = {}  # by phone: reading one phone's SMS stays fast

    def collect(self) -> None:
        """Record (and print, one line each) SMS published since the last call (moto appends them)."""
        with self._lock:
            new = list(self._sns.sms_messages.values())[self._seen :]
            self._seen += len(new)
            sent_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            self._add([SmsMessage(phone, text, sent_at) for phone, text in new])
        for phone, text in new:  # A development outbox: showing the text (and its code) is the point.
            self.emit(f"[sms] to {phone}: {' '.join(text.split())}")

    def _add(self, messages: list[SmsMessage]) -> None:
        for message in messages:
            self._messages.append(message)
            self._to.setdefault(message.to, []).append(message)

    def messages(self, phone: str | None = None) -> list[SmsMessage]:
        """All recorded SMS, oldest first; only those to ``phone`` when given."""
        self.collect()
        with self._lock:
            return list(self._messages if phone is None else self._to.get(phone, []))

    def clear(self) -> None:
        with self._lock:
            self._messages, self._to = [], {}

    def restore(self, messages: list[SmsMessage]) -> None:
        """Put back the messages of an earlier run, before any of this one."""
        with self._lock:
            kept, self._messages, self._to = self._messages, [], {}
            self._add([*messages, *kept])
