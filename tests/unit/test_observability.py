"""Metrics: valid EMF, written once per invocation, only known names and harmless dimension values,
and the template's alarms read exactly what the code writes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from phone_auth import aws
from phone_auth.errors import ServiceUnavailable
from phone_auth.observability import BASE_DIMENSIONS, CATALOGUE, NAMESPACE, Metrics, lambda_invocation, metrics
from tests.helpers import Api, Context, SetEnv, last_code, load_event, load_handler, template

PHONE = "+66812345678"


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    written: list[str] = []
    monkeypatch.setattr(metrics, "write", written.append)
    return written


def documents(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def assert_emf(document: dict[str, Any]) -> None:
    """The shape CloudWatch's EMF specification requires, with our namespace and dimensions."""
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert isinstance(document["_aws"]["Timestamp"], int)
    assert directive["Namespace"] == NAMESPACE
    (dimensions,) = directive["Dimensions"]
    assert tuple(dimensions[:2]) == BASE_DIMENSIONS and len(dimensions) <= 3
    for name in dimensions:
        assert isinstance(document[name], str)
    for metric in directive["Metrics"]:
        assert metric["Unit"] == CATALOGUE[metric["Name"]][0]
        assert isinstance(document[metric["Name"]], int | float)


def test_counts_are_summed_and_written_with_and_without_their_extra_dimension(env: SetEnv) -> None:
    env(STACK_NAME="phone-auth-dev")
    written: list[str] = []
    collected = Metrics(write=written.append)
    collected.count("Logins", method="password")
    collected.count("Logins", method="password")
    collected.count("Logins", method="sms_code")
    collected.count("Logouts")
    collected.flush()

    docs = documents(written)
    for doc in docs:
        assert_emf(doc)
        assert (doc["Stage"], doc["Stack"]) == ("test", "phone-auth-dev")
    by_method = {doc["Method"]: doc["Logins"] for doc in docs if "Method" in doc}
    assert by_method == {"password": 2, "sms_code": 1}
    (total,) = [doc for doc in docs if "Method" not in doc]
    assert (total["Logins"], total["Logouts"]) == (3, 1)

    written.clear()
    collected.flush()
    assert written == []  # nothing collected since: nothing written


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        (lambda m: m.count("CodeSent"), "unknown metric"),
        (lambda m: m.count("Logins", purpose="login"), "takes method="),
        (lambda m: m.count("Logouts", method="password"), "no dimension"),
        (lambda m: m.count("Logins", method="password", purpose="login"), "takes method="),
        (lambda m: m.count("Logins", method="+66812345678"), "lower-case word"),
        (lambda m: m.count("Logins", method="66812345678"), "lower-case word"),
        (lambda m: m.count("Refusals", limit="123456"), "lower-case word"),
        (lambda m: m.count("Refusals", limit="x" * 40), "lower-case word"),
        (lambda m: m.count("Logouts", -1), "cannot go down"),
    ],
)
def test_unknown_names_and_values_that_could_carry_data_are_refused(call: Any, problem: str) -> None:
    collected = Metrics(write=lambda line: None)
    with pytest.raises(ValueError, match=problem):
        call(collected)
    assert collected.pending() == {}


def test_a_handler_writes_its_metrics_once_even_when_it_fails(
    api: Api, lines: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class FailingSns:
        def publish(self, **kwargs: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "Publish")

    with monkeypatch.context() as patch:  # undone before conftest's teardown resets the client caches
        patch.setattr(aws, "sns", lambda: FailingSns())
        status, _, _ = api.call("send_verification", {"phone": PHONE})
    assert status == 503
    (doc,) = documents(lines)
    assert_emf(doc)
    assert doc["SmsFailures"] == 1
    assert metrics.pending() == {}


def test_the_authorizer_flushes_when_it_raises(lines: list[str]) -> None:
    @lambda_invocation
    def handler(event: dict[str, Any], context: Any) -> None:
        metrics.count("Refusals", limit="ip_per_hour")
        raise ServiceUnavailable()

    with pytest.raises(ServiceUnavailable):
        handler({}, Context())
    assert {doc.get("Limit") for doc in documents(lines)} == {"ip_per_hour", None}
    assert metrics.pending() == {}


def test_the_authorizer_handler_is_wrapped(api: Api, lines: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from phone_auth.api import authorizer

    def authorize(event: dict[str, Any]) -> dict[str, Any]:
        metrics.count("Refusals", limit="token_checks")
        raise ServiceUnavailable()

    module = load_handler("authorizer")
    monkeypatch.setattr(authorizer, "authorize", authorize)
    monkeypatch.setattr(module, "authorize", authorize)
    with pytest.raises(ServiceUnavailable):
        module.lambda_handler(load_event("authorizer"), Context())
    assert any(doc.get("Limit") == "token_checks" for doc in documents(lines))


def test_no_phone_code_or_token_reaches_a_metric(api: Api, lines: list[str]) -> None:
    metrics.count("CodesSent", purpose="login")  # as a flow will, around a real sign-in
    api.call("send_verification", {"phone": "081-234-5678"})
    code = last_code(PHONE)
    token = api.call("verify_code", {"phone": PHONE, "verification_code": code})[1]["access_token"]
    api.call("me", token=token)
    text = "\n".join(lines)
    assert lines
    for secret in (PHONE, PHONE[1:], "812345678", token):
        assert secret not in text
    assert not re.search(rf"(?<!\d){code}(?!\d)", text)


# ------------------------------------------------------------------ the template's alarms
def alarms() -> dict[str, dict[str, Any]]:
    return {lid: r["Properties"] for lid, r in template()["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def metric_stats(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric an alarm reads: its own, or each MetricStat of its metric math."""
    if "MetricName" in alarm:
        return [{"Namespace": alarm["Namespace"], "MetricName": alarm["MetricName"], **alarm}]
    return [query["MetricStat"]["Metric"] for query in alarm["Metrics"] if "MetricStat" in query]


def test_alarms_on_our_metrics_name_metrics_the_code_writes_with_its_dimensions() -> None:
    ours = [m for alarm in alarms().values() for m in metric_stats(alarm) if m["Namespace"] == NAMESPACE]
    assert {m["MetricName"] for m in ours} == {
        "CodesSent",
        "Refusals",
        "WrongCodes",
        "CodesVerified",
        "SmsDelivered",
        "SmsDeliveryFailures",
        "SmsWithheld",
    }
    for metric in ours:
        assert metric["MetricName"] in CATALOGUE
        names = [d["Name"] for d in metric["Dimensions"]]
        assert names[:2] == list(BASE_DIMENSIONS) and names[2:] in ([], [CATALOGUE[metric["MetricName"]][1]])
        assert metric["Dimensions"][0]["Value"] == {"Ref": "Stage"}
        assert metric["Dimensions"][1]["Value"] == {"Ref": "AWS::StackName"}


def test_the_functions_know_their_stack_name() -> None:
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["STACK_NAME"] == {"Ref": "AWS::StackName"}
    assert variables["STAGE"] == {"Ref": "Stage"}


def test_every_function_has_an_errors_and_throttles_alarm() -> None:
    functions = {lid for lid, r in template()["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    watched: dict[str, set[str]] = {}
    for alarm in alarms().values():
        for metric in metric_stats(alarm):
            if metric["Namespace"] == "AWS/Lambda":
                (dimension,) = metric["Dimensions"]
                watched.setdefault(dimension["Value"]["Ref"], set()).add(metric["MetricName"])
    assert watched == {function: {"Errors", "Throttles"} for function in functions}


def test_every_alarm_notifies_the_alarm_topic_and_treats_no_data_as_fine() -> None:
    for name, alarm in alarms().items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        if "Metrics" in alarm:
            assert sum(1 for query in alarm["Metrics"] if query.get("ReturnData", True)) == 1, name


def test_the_alarms_asked_for_exist() -> None:
    found = {(m["Namespace"], m["MetricName"]) for alarm in alarms().values() for m in metric_stats(alarm)}
    assert {
        (NAMESPACE, "CodesSent"),
        (NAMESPACE, "SmsWithheld"),
        (NAMESPACE, "Refusals"),
        (NAMESPACE, "WrongCodes"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/SNS", "SMSMonthToDateSpentUSD"),
    } <= found
    resources = template()["Resources"]
    assert resources["CodesSentAlarm"]["Properties"]["Threshold"] == {"Ref": "CodesSentAlarmThreshold"}
    assert resources["SmsSpendAlarm"]["Properties"]["Threshold"] == {"Ref": "SmsSpendAlarmThresholdUsd"}
    assert resources["SmsBudgetAlarm"]["Properties"]["Threshold"] == 80
    assert resources["SmsBudgetAlarm"]["Condition"] == "HasSmsBudget"
    assert resources["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"
    # SMS that SNS took but the carrier never delivered: the rate, with a minimum volume.
    rate = resources["SmsDeliveryRateAlarm"]
    assert rate["Condition"] == "RecordsSmsDelivery"
    assert (rate["Properties"]["ComparisonOperator"], rate["Properties"]["Threshold"]) == ("LessThanThreshold", 80)
    (expression,) = [query["Expression"] for query in rate["Properties"]["Metrics"] if "Expression" in query]
    assert ">= 20" in expression and "100 * FILL(delivered, 0)" in expression


def split_totals(lines: list[str]) -> dict[str, float]:
    """Metric name or Name/value -> the sum over every line written."""
    found: dict[str, float] = {}
    for doc in documents(lines):
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        (dimensions,) = directive["Dimensions"]
        extra = doc[dimensions[2]] if len(dimensions) == 3 else None
        for metric in directive["Metrics"]:
            key = metric["Name"] if extra is None else f"{metric['Name']}/{extra}"
            found[key] = found.get(key, 0) + doc[metric["Name"]]
    return found


def test_the_flows_count_what_the_alarms_and_dashboards_read(api: Api, lines: list[str], clock: Any) -> None:
    api.call("send_verification", {"phone": PHONE})
    api.call("send_verification", {"phone": PHONE})  # too soon: a refusal by the resend wait
    api.call("verify_code", {"phone": PHONE, "verification_code": "000000"})
    signed_in = api.call("verify_code", {"phone": PHONE, "verification_code": last_code(PHONE)})[1]
    api.call("logout", token=signed_in["access_token"])
    api.call("send_verification", {"phone": "+61412345678"})  # a country the market does not text

    totals = split_totals(lines)
    assert totals["CodesSent/login"] == totals["CodesSent"] == 1
    assert totals["WrongCodes/login"] == 1
    assert totals["CodesVerified/login"] == 1
    assert totals["Logins/sms_code"] == 1
    assert totals["Logouts"] == 1
    assert totals["Refusals/otp_resend_seconds"] == 1
    assert "Refusals/country" not in totals  # refused before any write: not a limit's refusal


def test_a_limit_refusal_and_a_lock_are_counted_by_name(api: Api, lines: list[str], env: Any) -> None:
    env(OTP_FAILURES_PER_PHONE="1")
    api.call("send_verification", {"phone": PHONE})
    api.call("verify_code", {"phone": PHONE, "verification_code": "000000"})  # locks the phone
    api.call("send_verification", {"phone": PHONE})  # refused: locked

    totals = split_totals(lines)
    assert totals["Locks/otp_lock"] == 1
    assert totals["Refusals/otp_lock"] == 1
