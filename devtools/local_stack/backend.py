"""The fake AWS behind the local stack: an embedded moto server plus the SMS outbox (the environment
that points boto3 at it, the tables and the key set: devtools.local_env).

Why a real (threaded) moto *server* rather than ``mock_aws``: the handlers run unchanged
and talk HTTP to an endpoint, exactly as they talk to AWS when deployed; only
``AWS_ENDPOINT_URL`` differs. That exercises boto3 request serialisation, retries and
error parsing too, which an in-process mock would short-circuit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from moto.server import ThreadedMotoServer
from moto.sns.models import sns_backends

from devtools.local_stack.template import ACCOUNT_ID

__all__ = ["SmsMessage", "SmsOutbox", "start_moto"]


def start_moto() -> tuple[ThreadedMotoServer, str]:
    """A moto server on 127.0.0.1 and a free port, quietly, and its URL."""
    # werkzeug logs one line per moto request; those are our boto3 calls, not user traffic.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


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
