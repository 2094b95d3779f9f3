"""The fake AWS behind the local stack: an embedded moto server plus the SMS outbox.

Why a real (threaded) moto *server* rather than ``mock_aws``: the handlers run unchanged
and talk HTTP to an endpoint, exactly as they talk to AWS when deployed; only
``AWS_ENDPOINT_URL`` differs. That exercises boto3 request serialisation, retries and
error parsing too, which an in-process mock would short-circuit.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devtools.local_stack.events import ACCOUNT_ID
from devtools.local_stack.template import TableSpec

__all__ = [
    "FAKE_CREDENTIALS",
    "MotoServer",
    "SmsMessage",
    "SmsOutbox",
    "aws_environment",
    "create_secret",
    "create_tables",
]

#: Credentials moto accepts; set unconditionally so a developer's real keys never leave the shell.
FAKE_CREDENTIALS: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

#: Variables that would make boto3 ignore AWS_ENDPOINT_URL or pick a real profile.
_ENVIRONMENT_TO_DROP = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")


class MotoServer:
    """``moto.server.ThreadedMotoServer`` on 127.0.0.1 and a free port, quietly."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        # werkzeug logs one line per moto request; those are our boto3 calls, not user traffic.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self._server.stop()


def aws_environment(region: str, endpoint_url: str, environ: Mapping[str, str]) -> dict[str, str | None]:
    """The os.environ changes that point every boto3 client of this process at moto.

    ``None`` means "remove". Service-specific ``AWS_ENDPOINT_URL_<SERVICE>`` variables are
    removed because they would win over ``AWS_ENDPOINT_URL`` and send that service elsewhere.
    """
    changes: dict[str, str | None] = dict(FAKE_CREDENTIALS)
    changes.update(
        {
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_ENDPOINT_URL": endpoint_url,
        }
    )
    for name in environ:
        if name.startswith("AWS_ENDPOINT_URL_") or name in _ENVIRONMENT_TO_DROP:
            changes[name] = None
    return changes


def _client(service: str, region: str, endpoint_url: str) -> Any:
    import boto3

    session: Any = boto3.session.Session()
    return session.client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
    )


def create_tables(tables: Iterable[TableSpec], *, region: str, endpoint_url: str) -> None:
    """Create each table fresh (dropping a leftover of an earlier start in this process)."""
    client = _client("dynamodb", region, endpoint_url)
    existing = set(client.list_tables().get("TableNames", []))
    for table in tables:
        if table.name in existing:
            client.delete_table(TableName=table.name)
        client.create_table(
            TableName=table.name,
            KeySchema=table.key_schema,
            AttributeDefinitions=table.attribute_definitions,
            BillingMode="PAY_PER_REQUEST",
        )
        if table.ttl_attribute:
            client.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )


def create_secret(name: str, *, region: str, endpoint_url: str) -> None:
    """Create the JWT secret: a fresh random SecureString, never printed.

    A new secret per start means tokens from a previous run are rejected, just as they would be
    after a secret rotation; nothing persists between runs anyway.
    """
    client = _client("ssm", region, endpoint_url)
    client.put_parameter(Name=name, Type="SecureString", Value=secrets.token_urlsafe(32), Overwrite=True)


@dataclass(frozen=True)
class SmsMessage:
    """One SMS the functions sent through SNS."""

    to: str
    body: str
    sent_at: str

    def as_json(self) -> dict[str, str]:
        return {"to": self.to, "body": self.body, "sent_at": self.sent_at}


class SmsOutbox:
    """Collects SMS published to moto SNS, oldest first.

    moto keeps published SMS in ``sns_backends[account][region].sms_messages`` (an ordered
    ``message_id -> (phone, text)`` map) in this very process, because the moto server runs
    in a thread here. ``collect()`` is called after each invocation and picks up whatever is
    new. ``sent_at`` is when the stack noticed the message, at most one invocation late.
    """

    def __init__(self, region: str, *, emit: Callable[[str], None] | None = print) -> None:
        self.region = region
        self.emit = emit
        self._lock = threading.Lock()
        self._seen: set[str] = set(self._backend_messages())
        self._messages: list[SmsMessage] = []

    def _backend_messages(self) -> dict[str, tuple[str, str]]:
        from moto.sns.models import sns_backends

        return dict(sns_backends[ACCOUNT_ID][self.region].sms_messages)

    def collect(self) -> list[SmsMessage]:
        """Record (and print, one line each) SMS published since the last call."""
        new: list[SmsMessage] = []
        with self._lock:
            for message_id, (phone, text) in self._backend_messages().items():
                if message_id in self._seen:
                    continue
                self._seen.add(message_id)
                sent_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                message = SmsMessage(phone, text, sent_at)
                self._messages.append(message)
                new.append(message)
        if self.emit is not None:
            for message in new:
                # A development outbox: showing the text (and its code) is the point.
                one_line = " ".join(message.body.split())
                self.emit(f"[sms] to {message.to}: {one_line}")
        return new

    def messages(self, phone: str | None = None) -> list[SmsMessage]:
        """All recorded SMS, oldest first; only those to ``phone`` when given."""
        self.collect()
        with self._lock:
            return [m for m in self._messages if phone is None or m.to == phone]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


def apply_environment(changes: Mapping[str, str | None]) -> dict[str, str | None]:
    """Apply ``changes`` to os.environ and return what is needed to undo them."""
    previous: dict[str, str | None] = {name: os.environ.get(name) for name in changes}
    for name, value in changes.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return previous
