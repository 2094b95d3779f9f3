"""Lifecycle events: each change of a user, read from moto's real stream of the users table, gives
exactly its events on the bus, in the documented shape; everything else gives none.

``LifecycleTap`` (helpers.py) reads the stream as Lambda's event source does, invokes
publish_events with the records, and reads the bus through a rule and a queue.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from phone_auth.event_bus import EventsNotPublished
from tests.helpers import (
    PHONE,
    Api,
    FakeClock,
    SetEnv,
    last_code,
    load_event,
    password_hash,
    put_user,
    sign_in,
    user_id_of,
)
from tests.helpers.lifecycle import LifecycleTap

NEW = "+66898765432"
PASSWORD = "Suan-Luang-2468"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DETAIL = {"event_id", "user_id", "market", "phone", "occurred_at"}
EN = {"Accept-Language": "en"}


@pytest.fixture
def tap() -> LifecycleTap:
    return LifecycleTap()


def shape(events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(detail-type, detail without event_id and occurred_at) of each event, after checking both."""
    found = []
    for event in events:
        assert event["source"] == "phone-auth"
        detail = dict(event["detail"])
        assert set(detail) >= DETAIL
        assert uuid.UUID(detail.pop("event_id"))
        assert ISO.match(detail.pop("occurred_at"))
        found.append((event["detail-type"], detail))
    return found


def test_each_change_publishes_its_events_once_and_nothing_else_does(
    api: Api, clock: FakeClock, tap: LifecycleTap
) -> None:
    first = sign_in(api)
    user_id = first["user"]["id"]
    assert shape(tap.publish()) == [("UserCreated", {"user_id": user_id, "market": "th", "phone": PHONE})]

    # A sign-in, a refresh, a session ended, logging out here: no lifecycle change.
    clock.advance(61)
    second = sign_in(api)
    api.call("refresh", {"refresh_token": second["refresh_token"]})
    api.call("end_session", token=second["access_token"], path_parameters={"id": first["session_id"]})
    api.call("logout", {"scope": "current"}, token=second["access_token"])
    assert tap.publish() == []

    clock.advance(61)
    token = sign_in(api)["access_token"]
    assert api.call("logout", token=token)[0] == 200
    assert shape(tap.publish()) == [
        ("SessionsEnded", {"user_id": user_id, "market": "th", "phone": PHONE, "reason": "logout"})
    ]

    clock.advance(61)
    token = sign_in(api)["access_token"]
    assert api.call("request_phone_change", {"new_phone": NEW}, token=token)[0] == 200
    answer = api.call("verify_phone_change", {"new_phone": NEW, "code": last_code(NEW)}, token=token)
    assert answer[0] == 200
    moved = shape(tap.publish())
    assert moved == [
        ("PhoneChanged", {"user_id": user_id, "market": "th", "phone": NEW, "old_phone": PHONE}),
        ("SessionsEnded", {"user_id": user_id, "market": "th", "phone": NEW, "reason": "phone_change"}),
    ]

    assert api.call("delete_account", token=answer[1]["access_token"])[0] == 200
    assert shape(tap.publish()) == [("UserDeleted", {"user_id": user_id, "market": "th", "phone": NEW})]


def test_a_password_reset_and_an_import_publish_theirs(api: Api, clock: FakeClock, tap: LifecycleTap) -> None:
    put_user(PHONE, password_hash=password_hash(PASSWORD))
    assert shape(tap.publish()) == [("UserCreated", {"user_id": user_id_of(PHONE), "market": "th", "phone": PHONE})]
    assert api.call("login_mobile", {"phone": PHONE, "password": PASSWORD})[0] == 200
    assert api.call("request_password_reset_otp", {"phone": PHONE})[0] == 200
    reset = {"phone": PHONE, "code": last_code(PHONE), "new_password": "durian season 2026"}
    assert api.call("reset_password", reset)[0] == 200
    assert shape(tap.publish()) == [
        ("SessionsEnded", {"user_id": user_id_of(PHONE), "market": "th", "phone": PHONE, "reason": "password_reset"})
    ]


def test_the_details_times_are_the_writes_own(api: Api, clock: FakeClock, tap: LifecycleTap) -> None:
    from phone_auth.clock import iso

    signed_in_at = iso(clock.value)
    token = sign_in(api)["access_token"]
    clock.advance(30)
    api.call("delete_account", token=token)
    created, deleted = tap.publish()
    assert (created["detail"]["occurred_at"], deleted["detail"]["occurred_at"]) == (signed_in_at, iso(clock.value))
    assert created["time"] == signed_in_at.split(".")[0] + "Z"  # EventBridge's own time, to the second


def test_a_retried_batch_republishes_the_same_event_ids(api: Api, clock: FakeClock, tap: LifecycleTap) -> None:
    token = sign_in(api)["access_token"]
    assert api.call("logout", token=token)[0] == 200
    records = tap.records()
    tap.deliver(records)
    once = [event["detail"]["event_id"] for event in tap.published()]
    tap.deliver(records)  # Lambda retries a failed batch whole
    again = [event["detail"]["event_id"] for event in tap.published()]
    assert once == again and len(set(once)) == 2  # UserCreated, SessionsEnded: consumers de-duplicate on these


def test_a_remove_without_an_erasure_is_the_old_half_of_a_number_change(
    api: Api, clock: FakeClock, tap: LifecycleTap
) -> None:
    token = sign_in(api)["access_token"]
    tap.publish()
    api.call("request_phone_change", {"new_phone": NEW}, token=token)
    api.call("verify_phone_change", {"new_phone": NEW, "code": last_code(NEW)}, token=token)
    records = tap.records()
    assert [record["eventName"] for record in records] == ["INSERT", "REMOVE"]  # new item, old item
    tap.deliver(records[1:])
    assert tap.published() == []


def test_an_erasure_marker_of_a_later_epoch_does_not_make_an_old_remove_a_deletion(
    api: Api, clock: FakeClock, tap: LifecycleTap
) -> None:
    """A number change, then a deletion, its REMOVE records read in the other order (two shards)."""
    token = sign_in(api)["access_token"]
    tap.publish()
    api.call("request_phone_change", {"new_phone": NEW}, token=token)
    moved = api.call("verify_phone_change", {"new_phone": NEW, "code": last_code(NEW)}, token=token)[1]
    insert, old_half = tap.records()
    api.call("delete_account", token=moved["access_token"])
    (erased,) = tap.records()
    tap.deliver([erased, old_half, insert])
    assert [event["detail-type"] for event in tap.published()] == ["UserDeleted", "PhoneChanged", "SessionsEnded"]


def test_a_partial_failure_raises_so_the_batch_is_retried(
    api: Api, clock: FakeClock, tap: LifecycleTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth import aws

    sign_in(api)
    records = tap.records()

    def half_taken(**request: Any) -> dict[str, Any]:
        return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}]}

    with monkeypatch.context() as patch:
        patch.setattr(aws.events(), "put_events", half_taken)
        with pytest.raises(EventsNotPublished):
            tap.deliver(records)
    assert tap.published() == []
    tap.deliver(records)
    assert [event["detail-type"] for event in tap.published()] == ["UserCreated"]


def test_an_unreachable_bus_raises_too(api: Api, clock: FakeClock, tap: LifecycleTap, env: SetEnv) -> None:
    from phone_auth.errors import ServiceUnavailable

    sign_in(api)
    records = tap.records()
    env(AWS_ENDPOINT_URL_EVENTBRIDGE="http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(ServiceUnavailable):
        tap.deliver(records)


def test_events_go_to_the_bus_event_bus_name_names(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(EVENT_BUS_NAME="phone-auth-events")
    tap = LifecycleTap("phone-auth-events")
    sign_in(api)
    assert [event["detail-type"] for event in tap.publish()] == ["UserCreated"]


def test_a_record_of_another_source_is_refused(tap: LifecycleTap) -> None:
    with pytest.raises(ValueError, match="not a DynamoDB stream record"):
        tap.deliver([{"eventSource": "aws:kinesis", "eventID": "1", "eventName": "INSERT"}])


def test_the_sample_event_publishes_its_two_changes(tap: LifecycleTap) -> None:
    event = load_event("publish_events")
    tap.deliver(event["Records"])
    assert shape(tap.published()) == [
        ("UserCreated", {"user_id": "3f6c2b9e-8d4a-4c1e-9b7f-2a5d6e8c1f04", "market": "th", "phone": PHONE}),
        (
            "SessionsEnded",
            {"user_id": "3f6c2b9e-8d4a-4c1e-9b7f-2a5d6e8c1f04", "market": "th", "phone": PHONE, "reason": "logout"},
        ),
    ]


def test_no_detail_holds_a_code_hash_or_token(api: Api, clock: FakeClock, tap: LifecycleTap) -> None:
    first = sign_in(api)
    api.call("request_phone_change", {"new_phone": NEW}, token=first["access_token"])
    code = last_code(NEW)
    moved = api.call("verify_phone_change", {"new_phone": NEW, "code": code}, token=first["access_token"])[1]
    api.call("delete_account", token=moved["access_token"])
    text = str(tap.publish())
    for secret in (code, first["access_token"], first["refresh_token"], moved["refresh_token"]):
        assert secret not in text
    assert "hash" not in text and "session#" not in text
