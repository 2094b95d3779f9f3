"""Logs, metrics and the one wrapper every Lambda invocation runs in.

**Logs**: ``logger``, powertools JSON logs with the API Gateway request id as correlation id.
Never log codes, passwords, tokens, secrets or whole events; log phones through mask_phone().
``lambda_invocation`` passes ``log_event=False`` itself, so POWERTOOLS_LOGGER_LOG_EVENT=true
cannot turn on event logging (an event carries the bearer token, codes and passwords).

**Metrics**: business metrics, written as CloudWatch embedded metric format (EMF) lines on
stdout. Flows call ``metrics.count("CodesSent", purpose="login")``; ``lambda_invocation``
flushes once per invocation, one JSON line per group of metrics that share dimensions.
CloudWatch Logs turns each line into metrics in the ``PhoneAuth`` namespace; nothing else is
sent anywhere, so a metric costs no request.

Dimensions: every metric carries ``Stage`` and ``Stack`` (two stacks may share a stage in one
account and region, e.g. phone-auth-dev and phone-auth-th-dev, and each stack's alarms must
see only its own traffic). A metric listed with an extra dimension (``Logins`` by ``Method``)
is published both without and with it, so alarms read the total and dashboards the split.

Only the names and dimension values below are accepted, and a dimension value must be a
short lower-case word: a phone number, a code or a token can never become a metric. A wrong
name or value raises ValueError (a programming error, found by the tests that run every flow).

Plain EMF lines rather than powertools' Metrics: the two cost the same on a cold start
(``make bench``), and plain lines give each metric its own dimension sets without powertools'
implicit ``service`` dimension or ``single_metric`` flushes.

**Invocations**: ``lambda_invocation`` wraps every handler (phone_auth.api.endpoint applies it):
the logger's Lambda context, the invocation's deadline (``aws.ensure_time_for``), and one
metrics flush when the handler returns or raises.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from phone_auth import aws
from phone_auth.settings import get_settings

logger = Logger(service="phone-auth")

NAMESPACE = "PhoneAuth"
BASE_DIMENSIONS = ("Stage", "Stack")

#: Every metric: name -> (CloudWatch unit, the extra dimension it may carry, or None).
CATALOGUE: dict[str, tuple[str, str | None]] = {
    "CodesSent": ("Count", "Purpose"),  # an SMS with a code went out (login, registration, password_reset)
    "CodesVerified": ("Count", "Purpose"),  # a code was spent
    "WrongCodes": ("Count", "Purpose"),  # a wrong guess was counted against a code
    "Logins": ("Count", "Method"),  # a sign-in returned a token (sms_code, password, registration)
    "Logouts": ("Count", None),
    "Refusals": ("Count", "Limit"),  # an abuse or cost limit refused a request
    "Locks": ("Count", "Limit"),  # a limit locked a phone, code or account out for a while
    "SmsFailures": ("Count", None),  # SNS did not take an SMS (the code was withdrawn)
    # SNS's delivery status, account-wide (phone_auth.sms_delivery): the carrier took it, or not and why
    "SmsDelivered": ("Count", None),
    "SmsDeliveryFailures": ("Count", "Reason"),  # reason: a word of phone_auth.sms_delivery.REASONS
    "AccountsDeleted": ("Count", None),  # an account was erased
    "PhoneChanges": ("Count", None),  # an account moved to another number
    "NoticeFailures": ("Count", None),  # a security notice SMS (the number changed) did not go out
    "EventsPublished": ("Count", None),  # lifecycle events EventBridge took
    "SmsWithheld": ("Count", "Purpose"),  # no SMS to a phone without an account: the budget's reserve
    "AdminActions": ("Count", "Action"),  # an admin API call (put_user, disable_user, ...), whatever its outcome
    "AdminEventFailures": ("Count", None),  # an AdminAction event EventBridge did not take (the call stood)
    "ImportRows": ("Count", None),  # rows an import job read, whatever became of them
    "ImportsFinished": ("Count", "Status"),  # an import job ended (done, failed)
}
_VALUE = re.compile(r"^[a-z][a-z0-9_]{0,35}$")

Writer = Callable[[str], Any]


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Metrics:
    """Collects one invocation's metrics; ``flush()`` writes them and starts over."""

    def __init__(self, write: Writer = _stdout) -> None:
        self.write = write
        # (name, extra dimension value or None) -> value
        self._counts: dict[tuple[str, str | None], float] = {}

    def count(self, name: str, value: int = 1, **dimension: str) -> None:
        """Add ``value`` to a count, e.g. ``count("Logins", method="password")``."""
        extra = _extra_value(name, dimension=dimension)
        if value < 0:
            raise ValueError(f"metric {name}: a count cannot go down ({value})")
        key = (name, extra)
        self._counts[key] = self._counts.get(key, 0) + value

    def pending(self) -> dict[str, float]:
        """What the next flush would write, by ``Name`` or ``Name/value`` (for tests and debugging)."""
        found = {name if extra is None else f"{name}/{extra}": value for (name, extra), value in self._counts.items()}
        return found

    def flush(self) -> None:
        """Write what was collected as EMF lines (none when nothing was) and forget it."""
        counts, self._counts = self._counts, {}
        if not counts:
            return
        settings = get_settings()
        base = {"Stage": settings.stage, "Stack": settings.stack_name}
        groups: dict[tuple[str, str] | None, dict[str, float]] = {}
        for (name, extra), value in counts.items():
            dimension = CATALOGUE[name][1]
            groups.setdefault(None if extra is None else (str(dimension), extra), {})[name] = value
            if extra is not None:  # the total too, so alarms need not know every value
                totals = groups.setdefault(None, {})
                totals[name] = totals.get(name, 0) + value
        timestamp = int(time.time() * 1000)
        for group, values in groups.items():
            if not values:
                continue
            dimensions = [*BASE_DIMENSIONS, *([group[0]] if group else [])]
            document: dict[str, Any] = {
                "_aws": {
                    "Timestamp": timestamp,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": NAMESPACE,
                            "Dimensions": [dimensions],
                            "Metrics": [{"Name": name, "Unit": CATALOGUE[name][0]} for name in sorted(values)],
                        }
                    ],
                },
                **base,
                **({group[0]: group[1]} if group else {}),
                **values,
            }
            self.write(json.dumps(document, separators=(",", ":"), sort_keys=True))


def _extra_value(name: str, *, dimension: dict[str, str]) -> str | None:
    """The extra dimension's value (None without one), after checking name and value."""
    if name not in CATALOGUE:
        raise ValueError(f"unknown metric {name!r}: add it to phone_auth.observability.CATALOGUE")
    _, extra = CATALOGUE[name]
    if not dimension:
        return None
    wanted = extra.lower() if extra else None
    if len(dimension) != 1 or wanted not in dimension:
        raise ValueError(
            f"metric {name} takes {wanted + '=...' if wanted else 'no dimension'}, not {sorted(dimension)}"
        )
    value = dimension[wanted]
    if not isinstance(value, str) or not _VALUE.match(value):
        raise ValueError(f"metric {name}: {wanted} must be a short lower-case word")
    return value


#: The process's metrics (one Lambda container serves one invocation at a time).
metrics = Metrics()


def lambda_invocation[E, R](
    handler: Callable[[E, Any], R], *, correlation_id_path: str | None = correlation_paths.API_GATEWAY_REST
) -> Callable[[E, Any], R]:
    """Decorate a Lambda handler ``(event, context)``: the logger's Lambda context (the request id
    as correlation id, ``correlation_id_path=None`` for events that have none, such as a stream's
    batches; never the event), the invocation's deadline for its calls (see
    ``aws.ensure_time_for``), and its metrics written when it returns or raises."""

    @functools.wraps(handler)
    def run(event: E, context: Any) -> R:
        deadline = aws.start_invocation(context)
        try:
            return handler(event, context)
        finally:
            aws.end_invocation(deadline)
            metrics.flush()

    in_context: Callable[[E, Any], R] = logger.inject_lambda_context(
        run, log_event=False, correlation_id_path=correlation_id_path
    )
    return in_context
