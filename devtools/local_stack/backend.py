"""The fake AWS behind the local stack: an embedded moto server plus the SMS outbox.

Why a real (threaded) moto *server* rather than ``mock_aws``: the handlers run unchanged
and talk HTTP to an endpoint, exactly as they talk to AWS when deployed; only
``AWS_ENDPOINT_URL`` differs. That exercises boto3 request serialisation, retries and
error parsing too, which an in-process mock would short-circuit.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from moto.server import ThreadedMotoServer
from moto.sns.models import sns_backends

from devtools.local_stack.template import ACCOUNT_ID, local_name
from ops.secret import new_key_set

__all__ = ["SmsMessage", "SmsOutbox", "apply_environment", "aws_environment", "create_resources", "start_moto"]

#: Credentials moto accepts; set unconditionally so a developer's real keys never leave the shell.
FAKE_CREDENTIALS = dict.fromkeys(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), "testing")
#: Variables that would make boto3 ignore AWS_ENDPOINT_URL or pick a real profile.
_ENVIRONMENT_TO_DROP = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")


def start_moto() -> tuple[ThreadedMotoServer, str]:
    """A moto server on 127.0.0.1 and a free port, quietly, and its URL."""
    # werkzeug logs one line per moto request; those are our boto3 calls, not user traffic.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def aws_environment(region: str, endpoint_url: str, environ: Mapping[str, str]) -> dict[str, str | None]:
    """The os.environ changes that point every boto3 client of this process at moto.

    ``None`` means "remove". Service-specific ``AWS_ENDPOINT_URL_<SERVICE>`` variables are
    removed because they would win over ``AWS_ENDPOINT_URL`` and send that service elsewhere.
    """
    changes: dict[str, str | None] = {**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}
    changes["AWS_ENDPOINT_URL"] = endpoint_url
    changes |= {name: None for name in environ if name.startswith("AWS_ENDPOINT_URL_") or name in _ENVIRONMENT_TO_DROP}
    return changes


def apply_environment(changes: Mapping[str, str | None]) -> dict[str, str | None]:
    """Apply ``changes`` to os.environ and return what is needed to undo them."""
    previous = {name: os.environ.get(name) for name in changes}
    os.environ.update({name: value for name, value in changes.items() if value is not None})
    for name in [name for name, value in changes.items() if value is None]:
        os.environ.pop(name, None)
    return previous


def create_resources(tables: Mapping[str, Mapping[str, Any]], secret_name: str) -> None:
    """Create the template's tables fresh, and the JWT key set: a random SecureString, never printed.

    Call it once os.environ points at moto. A leftover table of an earlier start in this process
    is dropped first. A new secret means tokens of an earlier run are rejected, as after a secret
    rotation, unless an extension (devtools.dev_server's local-data/) puts the earlier one back.
    """
    dynamodb = boto3.session.Session().client("dynamodb")
    existing = set(dynamodb.list_tables().get("TableNames", []))
    for logical_id, props in tables.items():
        name, ttl = local_name(logical_id), props.get("TimeToLiveSpecification") or {}
        if name in existing:
            dynamodb.delete_table(TableName=name)
        keys = {key: props[key] for key in ("KeySchema", "AttributeDefinitions", "BillingMode")}
        dynamodb.create_table(TableName=name, **keys)
        if ttl.get("Enabled") in (True, "true"):
            spec = {"Enabled": True, "AttributeName": ttl["AttributeName"]}
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)
    ssm = boto3.session.Session().client("ssm")
    # A first key set, as `make secret` writes it; `make rotate-secret` rotates it while the stack runs.
    ssm.put_parameter(Name=secret_name, Type="SecureString", Value=new_key_set().to_json(), Overwrite=True)


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
