"""SMS delivery you can see: SNS's delivery status lines become metrics, failures by reason.

SNS takes an SMS (Publish answers at once) and only later learns from the carrier whether it
reached the phone. With delivery status logging on (the stack's ``Custom::SmsDeliveryStatus``),
it writes one JSON line per SMS to ``sns/<region>/<account>/DirectPublishToPhoneNumber``
(successes) or ``.../Failure`` (failures), documented as::

    {"notification": {"messageId": "...", "timestamp": "2016-06-28 00:40:34.559"},
     "delivery": {"destination": "+1XXX5550100", "providerResponse": "Unknown error attempting to reach phone",
                  "smsType": "Transactional", "priceInUSD": 0.00645, "mcc": 0, "mnc": 0,
                  "dwellTimeMs": 1420, "dwellTimeMsUntilDeviceAck": 1692},
     "status": "FAILURE"}

A CloudWatch Logs subscription on both groups hands the lines to the SmsDeliveryStatus function
(gzipped, base64, in ``event["awslogs"]["data"]``). Each becomes ``SmsDelivered`` or
``SmsDeliveryFailures`` with a ``Reason``: the carrier's free-text ``providerResponse`` mapped to
one of the few words of REASONS, so a metric dimension never takes an unbounded set of values
(nor a phone number). The lines hold the destination phone: nothing of a line is ever logged.

The groups are the account's, not the stack's: the metrics count every SMS SNS sends in the
account and region, whichever stack or team sent it.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from phone_auth.observability import lambda_invocation, logger, metrics

#: Reason -> what SNS's providerResponse says for it, first match wins. Anything else is "other".
REASONS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (reason, re.compile(pattern, re.IGNORECASE))
    for reason, pattern in (
        ("opted_out", r"opted.?out"),
        ("max_price", r"max(imum)? price"),
        ("spend_limit", r"quota|spend(ing)? limit"),
        ("carrier_blocked", r"carrier has blocked|blocked by (the )?carrier|rejected by (the )?carrier|spam"),
        ("phone_blocked", r"phone has blocked|blocked list|blocklist|blacklist"),
        ("unreachable", r"unreachable|unavailable|switched off|ttl|expired"),
        ("invalid_number", r"invalid|not valid|not a mobile|landline|does not exist|unknown subscriber"),
        ("unknown", r"unknown error"),
    )
)
OTHER = "other"


def reason_of(provider_response: object) -> str:
    """The metric's Reason for a carrier's answer: a word of REASONS, or ``other``."""
    text = provider_response if isinstance(provider_response, str) else ""
    return next((reason for reason, pattern in REASONS if pattern.search(text)), OTHER)


@dataclass(frozen=True)
class Deliveries:
    """What one batch of lines said: delivered SMS, failures by reason, lines that were not status lines."""

    delivered: int
    failed: dict[str, int]
    unreadable: int


def tally(lines: Iterable[str]) -> Deliveries:
    """Read SNS delivery status lines (one JSON document each)."""
    delivered, unreadable = 0, 0
    failed: Counter[str] = Counter()
    for line in lines:
        try:
            document = json.loads(line)
        except ValueError:
            unreadable += 1
            continue
        status = document.get("status") if isinstance(document, dict) else None
        delivery = document.get("delivery") if isinstance(document, dict) else None
        if status == "SUCCESS":
            delivered += 1
        elif status == "FAILURE":
            failed[reason_of(delivery.get("providerResponse") if isinstance(delivery, dict) else None)] += 1
        else:
            unreadable += 1
    return Deliveries(delivered, dict(failed), unreadable)


def count_deliveries(lines: Iterable[str]) -> Deliveries:
    """Count a batch of lines as metrics (written when the invocation ends) and log the totals."""
    deliveries = tally(lines)
    if deliveries.delivered:
        metrics.count("SmsDelivered", deliveries.delivered)
    for reason, failures in sorted(deliveries.failed.items()):
        metrics.count("SmsDeliveryFailures", failures, reason=reason)
    logger.info(
        "sms delivery status",
        extra={
            "delivered": deliveries.delivered,
            "failed": deliveries.failed,
            "unreadable": deliveries.unreadable,
        },
    )
    return deliveries


def log_lines(event: dict[str, Any]) -> list[str]:
    """The messages of a CloudWatch Logs subscription event (none for its control message)."""
    payload = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    if payload.get("messageType") != "DATA_MESSAGE":
        return []
    return [str(entry["message"]) for entry in payload.get("logEvents", [])]


def log_subscription_endpoint(handle: Callable[[list[str]], object]) -> Callable[[dict[str, Any], Any], None]:
    """A Lambda handler for a CloudWatch Logs subscription: ``handle`` gets the batch's lines."""

    def run(event: dict[str, Any], context: Any) -> None:
        handle(log_lines(event))

    return lambda_invocation(run)
