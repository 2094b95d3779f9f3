"""The life of login codes as a state machine, driven through the API with hypothesis.

Rules: ask for a code (send-verification), answer with the right code or a wrong one
(verify-code), let time pass (the ``clock`` fixture). A model of what the API must do runs
alongside; after every step:

* a code signs in at most once, and only while it is the phone's latest, unused, unexpired code
  with attempts left, on a phone that is not locked;
* a code's attempts never go past OTP_MAX_ATTEMPTS (read from the codes table too);
* after OTP_FAILURES_PER_PHONE wrong codes in a day the phone is locked (PHONE_LOCKED): even
  the right code is refused and no code is sent until the lock ends;
* an expired code is refused (OTP_EXPIRED);
* a new code waits OTP_RESEND_SECONDS unless the last one was used, and the SMS limits per
  phone hold.

Each example is a new day (the clock moves two days on), a new phone and a new client IP, so
the examples share the test's moto account but nothing else: every window, lock and code of
an earlier example is over.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from phone_auth.limits import CODE_LOCK_BASE, CODE_LOCK_MAX
from phone_auth.store import codes
from tests.helpers import Api, FakeClock, SetEnv, last_code, sms_outbox

DAY, HOUR = 86_400, 3_600
#: Lower than the default so that a lock is a few codes away.
FAILURES_PER_PHONE = 4
#: Steps in which time moves: around the resend wait, the code's lifetime and the lock lengths.
TIME_STEPS = [1, 30, 59, 60, 61, 120, 299, 300, 301, 899, 900, 901, 1800, 3600, 7200]

_examples = itertools.count(1)


@dataclass
class Model:
    """What the API must have done so far for this example's phone."""

    ttl: int
    max_attempts: int
    resend_seconds: int
    failures_limit: int
    code: str | None = None
    sent_at: int = 0
    used: bool = False
    attempts: int = 0
    locked_until: int = 0
    failures: dict[int, int] = field(default_factory=dict)  # day window -> wrong codes
    sms: dict[tuple[str, int], int] = field(default_factory=dict)  # (window kind, window) -> SMS sent
    sign_ins: dict[str, int] = field(default_factory=dict)  # code -> successful sign-ins

    def expired(self, now: int) -> bool:
        return self.sent_at + self.ttl <= now

    def locked(self, now: int) -> bool:
        return self.locked_until > now

    def send_refusals(self, now: int) -> set[str]:
        """The error codes a send may be refused with now; empty: it must succeed."""
        refusals = set()
        if self.locked(now):
            refusals.add("PHONE_LOCKED")
        if self.sms.get(("hour", now // HOUR), 0) >= int(os.environ.get("SMS_PER_PHONE_PER_HOUR", "5")):
            refusals.add("RATE_LIMITED")
        if self.sms.get(("day", now // DAY), 0) >= int(os.environ.get("SMS_PER_PHONE_PER_DAY", "10")):
            refusals.add("RATE_LIMITED")
        if self.code is not None and not self.used and now - self.sent_at < self.resend_seconds:
            refusals.add("RATE_LIMITED")
        return refusals


class LoginCodes(RuleBasedStateMachine):
    def __init__(self, api: Api, clock: FakeClock) -> None:
        super().__init__()
        self.api, self.clock = api, clock
        n = next(_examples)
        clock.advance(2 * DAY)  # a new day: every window and lock of the earlier examples is over
        self.phone = f"+6689{n:07d}"
        self.ip = f"198.51.{n // 250 % 250}.{n % 250 + 1}"
        self.model = Model(
            ttl=int(os.environ["OTP_TTL_SECONDS"]),
            max_attempts=int(os.environ["OTP_MAX_ATTEMPTS"]),
            resend_seconds=int(os.environ["OTP_RESEND_SECONDS"]),
            failures_limit=int(os.environ["OTP_FAILURES_PER_PHONE"]),
        )

    @property
    def now(self) -> int:
        return int(self.clock())

    def call(self, function_dir: str, body: dict[str, str]) -> tuple[int, dict[str, object]]:
        status, answer, _ = self.api.call(function_dir, body, source_ip=self.ip)
        return status, answer

    # ---------------------------------------------------------------- rules
    @rule()
    def send(self) -> None:
        model, now = self.model, self.now
        refusals = model.send_refusals(now)
        before = len([to for to, _ in sms_outbox() if to == self.phone])
        status, answer = self.call("send_verification", {"phone": self.phone})
        texted = len([to for to, _ in sms_outbox() if to == self.phone]) - before
        if status == 200:
            assert not refusals, (refusals, answer)
            assert texted == 1
            model.code, model.sent_at, model.used, model.attempts = last_code(self.phone), now, False, 0
            for kind, window in (("hour", now // HOUR), ("day", now // DAY)):
                model.sms[kind, window] = model.sms.get((kind, window), 0) + 1
        else:
            assert status == 429 and error_code(answer) in refusals, (refusals, status, answer)
            assert texted == 0

    @precondition(lambda self: self.model.code is not None)
    @rule()
    def verify_right_code(self) -> None:
        model, now = self.model, self.now
        assert model.code is not None
        status, answer = self.call("verify_code", {"phone": self.phone, "verification_code": model.code})
        if model.locked(now):
            expected = (429, "PHONE_LOCKED")
        elif model.used:
            expected = (400, "OTP_NOT_FOUND")
        elif model.attempts >= model.max_attempts:
            expected = (429, "OTP_ATTEMPTS_EXCEEDED")
        elif model.expired(now):
            expected = (400, "OTP_EXPIRED")
        else:
            expected = (200, "")
        assert (status, error_code(answer)) == expected, answer
        if status == 200:
            model.used = True
            model.sign_ins[model.code] = model.sign_ins.get(model.code, 0) + 1

    @rule(offset=st.integers(1, 999_999))
    def verify_wrong_code(self, offset: int) -> None:
        model, now = self.model, self.now
        wrong = f"{(int(model.code or '0') + offset) % 1_000_000:06d}"
        status, answer = self.call("verify_code", {"phone": self.phone, "verification_code": wrong})
        got = (status, error_code(answer))
        if model.locked(now):
            assert got == (429, "PHONE_LOCKED"), answer
        elif model.code is None or model.used:
            assert got == (400, "OTP_NOT_FOUND"), answer
        elif model.attempts >= model.max_attempts:
            assert got == (429, "OTP_ATTEMPTS_EXCEEDED"), answer
        elif model.expired(now):
            assert got == (400, "OTP_EXPIRED"), answer
        else:  # a counted wrong guess
            model.attempts += 1
            day = now // DAY
            failures = model.failures[day] = model.failures.get(day, 0) + 1
            if failures >= model.failures_limit:
                lock = min(CODE_LOCK_BASE * 2 ** (failures - model.failures_limit), CODE_LOCK_MAX)
                model.locked_until = now + lock
                assert got == (429, "PHONE_LOCKED"), answer
                assert answer["error"]["details"]["retry_after"] == lock  # type: ignore[index]
            elif model.attempts >= model.max_attempts:
                assert got == (429, "OTP_ATTEMPTS_EXCEEDED"), answer
            else:
                assert got == (400, "OTP_INVALID"), answer
                remaining = answer["error"]["details"]["attempts_remaining"]  # type: ignore[index]
                assert remaining == model.max_attempts - model.attempts

    @rule(seconds=st.sampled_from(TIME_STEPS))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # ---------------------------------------------------------------- invariants
    @invariant()
    def a_code_signs_in_at_most_once(self) -> None:
        assert all(count <= 1 for count in self.model.sign_ins.values()), self.model.sign_ins

    @invariant()
    def attempts_never_pass_the_limit(self) -> None:
        stored, _ = codes.get_code_and_user(self.phone, "login")
        if stored is not None:
            assert stored.attempts <= self.model.max_attempts, stored
            assert stored.attempts == self.model.attempts, (stored, self.model)
            assert stored.used == self.model.used


def error_code(answer: dict[str, object]) -> str:
    error = answer.get("error")
    return str(error["code"]) if isinstance(error, dict) else ""


def test_login_codes_behave_as_the_model_says(api: Api, clock: FakeClock, env: SetEnv) -> None:
    env(OTP_FAILURES_PER_PHONE=str(FAILURES_PER_PHONE))

    class Machine(LoginCodes):
        def __init__(self) -> None:
            super().__init__(api, clock)

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=15,
            stateful_step_count=30,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
