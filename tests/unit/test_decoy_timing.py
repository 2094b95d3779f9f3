"""The decoy paths take as long as the real ones, measured: an answer that must not tell whether
a phone is a user does not tell it by its timing either.

SNS is given a realistic latency (30-80 ms a Publish, a botocore hook), so the real path is the
slower one, as on AWS; the decoy path (a reset code for a phone without an account, a login code
for a phone an imported-users market does not know) must wait as long, and the real one must not
wait at all for it. 30 interleaved samples per class after a short warm-up: the medians within
15 %, the inter-quartile ranges overlapping, and statuses, error codes, header names and body
sizes identical.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest

from phone_auth import aws
from tests.helpers import Api, FakeClock, SetEnv, put_user

SAMPLES, WARM_UP = 30, 6


@pytest.fixture
def slow_sns() -> None:
    def publish_takes_a_while(**_: Any) -> None:
        time.sleep(random.uniform(0.03, 0.08))

    aws.sns().meta.events.register("before-call.sns.Publish", publish_takes_a_while)


def shape(answer: tuple[int, dict[str, Any], dict[str, str]], raw_size: int) -> tuple[Any, ...]:
    status, body, headers = answer
    return status, body.get("error", {}).get("code"), tuple(sorted(headers)), raw_size


def measure(
    call: Callable[[str, str], tuple[tuple[int, dict[str, Any], dict[str, str]], int]],
    known: list[str],
    unknown: list[str],
) -> tuple[list[float], list[float], set[tuple[Any, ...]]]:
    """Interleaved timings of ``call`` for known and unknown phones (each from its own address)."""
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    shapes = set()
    for index, (mine, other) in enumerate(zip(known, unknown, strict=True)):
        for kind, phone in (
            (("known", mine), ("unknown", other)) if index % 2 else (("unknown", other), ("known", mine))
        ):
            start = time.perf_counter()
            answer, size = call(phone, f"198.51.{index}.{1 if kind == 'known' else 2}")
            elapsed = time.perf_counter() - start
            if index >= WARM_UP:
                times[kind].append(elapsed)
                shapes.add(shape(answer, size))
    return times["known"], times["unknown"], shapes


def quartiles(samples: list[float]) -> tuple[float, float]:
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return q1, q3


def assert_alike(known: list[float], unknown: list[float]) -> None:
    assert len(known) == len(unknown) == SAMPLES
    ratio = statistics.median(unknown) / statistics.median(known)
    (k1, k3), (u1, u3) = quartiles(known), quartiles(unknown)
    detail = f"medians {statistics.median(known) * 1000:.1f} / {statistics.median(unknown) * 1000:.1f} ms"
    assert 0.85 <= ratio <= 1.15, detail
    assert k1 <= u3 and u1 <= k3, f"{detail}, IQRs {k1:.3f}-{k3:.3f} / {u1:.3f}-{u3:.3f}"


def phones(prefix: str) -> list[str]:
    return [f"{prefix}{index:03d}000" for index in range(SAMPLES + WARM_UP)]


def caller(api: Api, function: str) -> Callable[[str, str], tuple[tuple[int, dict[str, Any], dict[str, str]], int]]:
    def call(phone: str, source_ip: str) -> tuple[tuple[int, dict[str, Any], dict[str, str]], int]:
        answer = api.call(function, {"phone": phone}, source_ip=source_ip)
        return answer, len(str(answer[1]).encode())

    return call


def test_reset_codes_take_as_long_for_phones_without_an_account(
    api: Api, clock: FakeClock, env: SetEnv, slow_sns: None
) -> None:
    known = [put_user(phone).phone for phone in phones("+66891")]
    known_times, unknown_times, shapes = measure(caller(api, "request_password_reset_otp"), known, phones("+66892"))
    assert len(shapes) == 1, shapes
    assert_alike(known_times, unknown_times)


def test_imported_only_login_codes_take_as_long_for_phones_not_imported(
    api: Api, clock: FakeClock, env: SetEnv, slow_sns: None
) -> None:
    env(SIGNUP_MODE="imported")
    known = [put_user(phone).phone for phone in phones("+66893")]
    known_times, unknown_times, shapes = measure(caller(api, "send_verification"), known, phones("+66894"))
    assert len(shapes) == 1, shapes
    assert_alike(known_times, unknown_times)
