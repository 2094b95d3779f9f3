"""SNS's SMS delivery status lines become SmsDelivered and SmsDeliveryFailures by reason
(phone_auth/sms_delivery.py, functions/sms_delivery_status.py).

The lines are SNS's documented ones (docs "Monitoring SMS deliveries with CloudWatch Logs"): one JSON
document per SMS in sns/<region>/<account>/DirectPublishToPhoneNumber, and in .../Failure for
failures; CloudWatch Logs hands them to the function gzipped and base64-encoded.
"""

from __future__ import annotations

import base64
import gzip
import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from phone_auth import sms_delivery
from phone_auth.observability import metrics
from tests.helpers import Context, load_event, load_handler

DELIVERED: dict[str, Any] = {
    "notification": {"messageId": "34d9b400-c6dd-5444-820d-fbeb0f1f54cf", "timestamp": "2016-06-28 00:40:34.558"},
    "delivery": {
        "phoneCarrier": "My Phone Carrier",
        "mnc": 270,
        "destination": "+1XXX5550100",
        "priceInUSD": 0.00645,
        "smsType": "Transactional",
        "mcc": 310,
        "providerResponse": "Message has been accepted by phone carrier",
        "dwellTimeMs": 599,
        "dwellTimeMsUntilDeviceAck": 1344,
    },
    "status": "SUCCESS",
}
FAILED: dict[str, Any] = {
    "notification": {"messageId": "1077257a-92f3-5ca3-bc97-6a915b310625", "timestamp": "2016-06-28 00:40:34.559"},
    "delivery": {
        "mnc": 0,
        "destination": "+1XXX5550100",
        "priceInUSD": 0.00645,
        "smsType": "Transactional",
        "mcc": 0,
        "providerResponse": "Unknown error attempting to reach phone",
        "dwellTimeMs": 1420,
        "dwellTimeMsUntilDeviceAck": 1692,
    },
    "status": "FAILURE",
}
PHONE = "+66812345678"


def failure(provider_response: str, destination: str = PHONE) -> dict[str, Any]:
    return {
        **FAILED,
        "delivery": {**FAILED["delivery"], "providerResponse": provider_response, "destination": destination},
    }


def subscription_event(*lines: dict[str, Any] | str, message_type: str = "DATA_MESSAGE") -> dict[str, Any]:
    """What CloudWatch Logs sends a subscribed function."""
    payload = {
        "messageType": message_type,
        "owner": "123456789012",
        "logGroup": "sns/ap-southeast-1/123456789012/DirectPublishToPhoneNumber/Failure",
        "logStream": "stream",
        "subscriptionFilters": ["filter"],
        "logEvents": [
            {
                "id": str(index),
                "timestamp": 1467074434559,
                "message": line if isinstance(line, str) else json.dumps(line),
            }
            for index, line in enumerate(lines)
        ],
    }
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    monkeypatch.setattr(metrics, "write", lambda line: documents.append(json.loads(line)))
    return documents


def watch_stdout(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[[], str]:
    """Call in the test itself (pytest swaps stdout again between a fixture and the test): a reader of
    what the function writes to stdout from now on (its logs, its metrics)."""
    from phone_auth.observability import logger

    monkeypatch.setattr(logger.registered_handler, "stream", sys.stdout)  # bound at import time
    capsys.readouterr()
    return lambda: capsys.readouterr().out


def counted(documents: list[dict[str, Any]]) -> dict[str, float]:
    """Metric name (with /reason when it has one) -> value, over the EMF documents written."""
    found: dict[str, float] = {}
    for document in documents:
        for name in ("SmsDelivered", "SmsDeliveryFailures"):
            if name in document:
                key = f"{name}/{document['Reason']}" if "Reason" in document else name
                found[key] = found.get(key, 0) + document[name]
    return found


@pytest.mark.parametrize(
    ("provider_response", "reason"),
    [
        ("Unknown error attempting to reach phone", "unknown"),
        ("Phone carrier has blocked this message", "carrier_blocked"),
        ("Phone carrier is currently unreachable/unavailable", "unreachable"),
        ("Phone is currently unreachable/unavailable", "unreachable"),
        ("Phone has blocked SMS", "phone_blocked"),
        ("Phone is on a blocked list", "phone_blocked"),
        ("Phone number is opted out", "opted_out"),
        ("This delivery would exceed max price", "max_price"),
        ("No quota left for account", "spend_limit"),
        ("Invalid phone number", "invalid_number"),
        ("Something new the carrier says", "other"),
        ("", "other"),
    ],
)
def test_a_carriers_answer_becomes_one_of_a_few_reasons(provider_response: str, reason: str) -> None:
    assert sms_delivery.reason_of(provider_response) == reason


def test_every_reason_is_a_valid_metric_dimension_value() -> None:
    for reason in [*(reason for reason, _ in sms_delivery.REASONS), sms_delivery.OTHER]:
        metrics.count("SmsDeliveryFailures", reason=reason)  # raises on anything but a short lower-case word
    metrics.flush()


def test_the_documented_lines_are_one_delivery_and_one_failure() -> None:
    tally = sms_delivery.tally([json.dumps(DELIVERED), json.dumps(FAILED)])
    assert tally == sms_delivery.Deliveries(delivered=1, failed={"unknown": 1}, unreadable=0)


def test_the_sample_event_is_counted_by_the_function(emitted: list[dict[str, Any]]) -> None:
    load_handler("sms_delivery_status").lambda_handler(
        load_event("sms_delivery_status"), Context("sms_delivery_status")
    )
    assert counted(emitted) == {"SmsDeliveryFailures": 1, "SmsDeliveryFailures/unknown": 1}
    (by_reason,) = [document for document in emitted if "Reason" in document]
    assert by_reason["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Stage", "Stack", "Reason"]]
    assert by_reason["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "PhoneAuth"


def test_a_batch_is_counted_by_reason_and_nothing_of_a_line_is_logged(
    emitted: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    written = watch_stdout(capsys, monkeypatch)
    event = subscription_event(
        DELIVERED,
        DELIVERED,
        failure("Phone carrier has blocked this message"),
        failure("Phone carrier has blocked this message", "+66899999999"),
        failure("Phone number is opted out"),
        "not json at all " + PHONE,
        {"status": "SOMETHING ELSE", "delivery": {"destination": PHONE}},
    )

    load_handler("sms_delivery_status").lambda_handler(event, Context("sms_delivery_status"))

    assert counted(emitted) == {
        "SmsDelivered": 2,
        "SmsDeliveryFailures": 3,
        "SmsDeliveryFailures/carrier_blocked": 2,
        "SmsDeliveryFailures/opted_out": 1,
    }
    logged = written()
    assert '"unreadable":2' in logged.replace(" ", "")
    for secret in (PHONE, "+66899999999", "carrier has blocked", "not json"):
        assert secret not in logged + json.dumps(emitted)


def test_the_control_message_counts_nothing(emitted: list[dict[str, Any]]) -> None:
    event = subscription_event(message_type="CONTROL_MESSAGE")
    load_handler("sms_delivery_status").lambda_handler(event, Context("sms_delivery_status"))
    assert counted(emitted) == {}
