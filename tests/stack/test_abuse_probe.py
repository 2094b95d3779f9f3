"""What an attacker with any number of IP addresses gets through the default limits, over HTTP:
the figures docs/security.md quotes, pinned in :data:`FIGURES`. ``make probe`` runs this test with
its output shown, so the table it prints and the assertion come from the same measurement.

One local stack runs with the template's default limits (``ALLOWED_COUNTRIES`` aside: the victims
are Thai demo users). Each attacker is a function of the stack's API and the functions' clock that
plays one attack and returns its figures; it may call from as many client networks as it likes (a
loopback /24 per request: 127.0.1.2, 127.0.2.2 ...), so only the limits that do not depend on one
client or network stop it:

1. code guesses per phone per day: codes asked for one victim and wrong ones guessed, across the
   login and reset purposes, for 24 hours;
2. SMS per client IP per hour: one IP asks codes for as many numbers as it can;
3. distinct numbers per prefix per hour: many IPs text sequential numbers of one prefix;
4. password guesses per phone per hour: wrong passwords for one victim, for an hour;
5. locking an owner out: what it takes to hold an owner without a device token off every way in
   for a day (the phone's daily SMS for the code routes, the untrusted password ceiling), and
   whether the owner's device still signs in afterwards;
6. the SMS budget: reset codes for phones without an account, which text nothing, spend none of it.

Time is the only thing not real: the functions' clock (``phone_auth.clock.now``) moves forward as
the attacker waits out each Retry-After, so a day takes seconds. A new defence is probed by a new
attacker in :data:`ATTACKERS` and its figures in :data:`FIGURES`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from devtools.local_stack import LocalStack, start
from tests.helpers import Answer
from tests.helpers.stack import StackApi

HOUR, DAY = 3600, 86400
VICTIM = "+66891234567"  # a demo user (devtools/sample_users.csv): login and reset codes both reach it
PASSWORD_VICTIM = "+66898887777"  # the demo user with a password hash

#: What an attacker gets through the default limits, figure by figure.
FIGURES = {
    # Each network locks only itself (10 wrong codes); from a new network each time, what bounds
    # the guesses is the phone's 10 codes a day (3 guesses each) and the untrusted ceiling of 30.
    "wrong codes checked, one phone, 24 h": 30,
    "codes sent to that phone, 24 h": 10,
    "SMS from one IP, 1 h": 20,  # SMS_PER_IP_PER_HOUR
    "distinct numbers texted, one prefix, 1 h": 20,  # SMS_PER_PREFIX_PER_HOUR
    # PASSWORD_FAILURES_CEILING_PER_PHONE: then every untrusted client is locked until the day ends.
    "wrong passwords checked, one phone, 1 h": 100,
    # 10 code requests spend the phone's daily SMS (the code routes of untrusted clients) and 100
    # wrong passwords from 20 networks (5 each before each network locks itself) the password ceiling.
    "requests to hold an owner without a device token off, 24 h": 110,
    "networks to do it": 20,
    "owner's device signs in afterwards (password, code)": 2,
    "SMS budget spent by 100 reset requests for phones without an account": 0,
}


class Clock:
    """The functions' time: starts at a whole day, moves only when an attacker waits."""

    def __init__(self) -> None:
        self.value = 1_800_000_000.0 - 1_800_000_000.0 % DAY

    def __call__(self) -> float:
        return self.value


def addresses() -> Iterator[str]:
    """A new client network (IPv4 /24) for every request that wants one."""
    for b, a in itertools.product(range(2, 255), range(1, 255)):
        yield f"127.0.{a}.{b}"


def code_of(answer: Answer) -> str:
    return str(answer[1].get("error", {}).get("code", "OK"))


# ---------------------------------------------------------------------------- the attackers
def guesses_per_phone_per_day(api: StackApi, clock: Clock) -> dict[str, int]:
    """Wrong codes checked against real codes for one phone in 24 h, any purpose, any IP."""
    fresh, start, checked, sent = addresses(), clock.value, 0, 0
    login = ("send_verification", "verify_code", "verification_code")
    purposes = itertools.cycle([login, ("request_password_reset_otp", "reset_password", "code")])
    while clock.value < start + DAY:
        send, check, field = next(purposes)
        answer = api.call(send, {"phone": VICTIM}, source_ip=next(fresh))
        if answer[0] != 200:
            clock.value += int(answer[2].get("retry-after", "60"))
            continue
        sent += 1
        for guess in ("000001", "000002", "000003"):
            body = {"phone": VICTIM, field: guess, "new_password": "durian season 2026"}
            code = code_of(api.call(check, body, source_ip=next(fresh)))
            # Right after a code went out the phone is not locked: each of these answers checked
            # the guess (PHONE_LOCKED here is the guess that locked it).
            checked += code in ("OTP_INVALID", "OTP_ATTEMPTS_EXCEEDED", "PHONE_LOCKED")
            if code != "OTP_INVALID":
                break
        clock.value += 61
    return {"wrong codes checked, one phone, 24 h": checked, "codes sent to that phone, 24 h": sent}


def sms_per_ip_per_hour(api: StackApi, clock: Clock) -> dict[str, int]:
    phones = (f"+668{index:02d}1234567"[:12] for index in range(10, 60))
    sent = sum(api.call("send_verification", {"phone": phone}, source_ip="127.0.9.9")[0] == 200 for phone in phones)
    return {"SMS from one IP, 1 h": sent}


def numbers_per_prefix_per_hour(api: StackApi, clock: Clock) -> dict[str, int]:
    fresh = addresses()
    phones = (f"+66898765{index:03d}" for index in range(60))
    sent = sum(api.call("send_verification", {"phone": phone}, source_ip=next(fresh))[0] == 200 for phone in phones)
    return {"distinct numbers texted, one prefix, 1 h": sent}


def password_guesses_per_phone_per_hour(api: StackApi, clock: Clock) -> dict[str, int]:
    fresh, start, checked = addresses(), clock.value, 0
    body = {"phone": PASSWORD_VICTIM, "password": "not-the-password"}
    while clock.value < start + HOUR:
        # The attacker always waits a lock out, so every try is checked: a LOGIN_LOCKED answer
        # is the wrong password that set the next lock.
        answer = api.call("login_mobile", body, source_ip=next(fresh))
        checked += code_of(answer) in ("INVALID_CREDENTIALS", "LOGIN_LOCKED")
        if code_of(answer) == "LOGIN_LOCKED":
            clock.value += int(answer[2]["retry-after"])
        clock.value += 1
    return {"wrong passwords checked, one phone, 1 h": checked}


def lock_out_an_owner(api: StackApi, clock: Clock) -> dict[str, int]:
    """Hold the owner of VICTIM (password Siam-demo-2468) off every way in for the day, knowing
    nothing but the number; then the owner tries with the device token of an earlier sign-in."""
    owner = {"phone": VICTIM, "password": "Siam-demo-2468"}
    device = api.call("login_mobile", owner, source_ip="127.0.250.1")[1]["device_token"]
    fresh, requests, networks = addresses(), 0, set()
    while True:  # the phone's daily SMS: no code for any untrusted client until the day ends
        answer = api.call("send_verification", {"phone": VICTIM}, source_ip=next(fresh))
        if answer[0] == 200:
            requests += 1
            clock.value += 61
        elif answer[1]["error"]["details"]["limit"] == "sms_per_phone_per_day":
            break
        else:
            clock.value += int(answer[2]["retry-after"])
    for network in range(1, 255):  # wrong passwords, 5 a network (then it is locked), up to the ceiling
        networks.add(network)
        for index in range(5):
            guess = {"phone": VICTIM, "password": f"guess-{index}"}
            answer = api.call("login_mobile", guess, source_ip=f"127.1.{network}.1")
            requests += 1
        if int(answer[2].get("retry-after", "0")) > HOUR:  # the phone's lock until the day ends
            break
    assert code_of(api.call("login_mobile", owner, source_ip="127.0.253.1")) == "LOGIN_LOCKED"
    assert code_of(api.call("send_verification", {"phone": VICTIM}, source_ip="127.0.253.1")) == "RATE_LIMITED"
    trusted = {"phone": VICTIM, "device_token": device}
    by_password = code_of(api.call("login_mobile", {**owner, **trusted}, source_ip="127.1.1.1")) == "OK"
    clock.value += 61
    api.call("send_verification", trusted, source_ip="127.1.1.1")
    verify = {**trusted, "verification_code": api.last_code(VICTIM)}
    by_code = code_of(api.call("verify_code", verify, source_ip="127.1.1.1")) == "OK"
    return {
        "requests to hold an owner without a device token off, 24 h": requests,
        "networks to do it": len(networks),
        "owner's device signs in afterwards (password, code)": by_password + by_code,
    }


def stack_budget_spent(stack: LocalStack) -> int:
    """The stack's SMS budget counters, summed over every hour so far."""
    import boto3

    client = boto3.client("dynamodb", endpoint_url=stack.moto_url, region_name=stack.region)
    items = client.scan(TableName=stack.table_names["LimitsTable"])["Items"]
    return sum(int(item["hits"]["N"]) for item in items if item["id"]["S"].startswith("sms_per_stack_per_hour#"))


def decoys_spend_no_budget(api: StackApi, clock: Clock) -> dict[str, int]:
    fresh, before = addresses(), stack_budget_spent(api.stack)
    for index in range(100):  # 100 numbers of 50 prefixes, none a user, from 100 networks
        phone = f"+6682{index % 50:02d}{index:03d}00"
        assert api.call("request_password_reset_otp", {"phone": phone}, source_ip=next(fresh))[0] == 200
    spent = stack_budget_spent(api.stack) - before
    return {"SMS budget spent by 100 reset requests for phones without an account": spent}


#: Each plays on a new day of the functions' clock, so no window of an earlier one counts.
ATTACKERS: tuple[Callable[[StackApi, Clock], dict[str, int]], ...] = (
    guesses_per_phone_per_day,
    sms_per_ip_per_hour,
    numbers_per_prefix_per_hour,
    password_guesses_per_phone_per_hour,
    lock_out_an_owner,
    decoys_spend_no_budget,
)


# ---------------------------------------------------------------------------- the measurement
@pytest.fixture(scope="module")
def clock() -> Iterator[Clock]:
    from phone_auth import clock as clock_module
    from phone_auth.observability import logger, metrics

    with pytest.MonkeyPatch.context() as patch:
        fake = Clock()
        patch.setattr(clock_module, "now", fake)
        patch.setattr(metrics, "write", lambda line: None)  # thousands of requests: keep quiet
        level = logger.log_level
        logger.setLevel("WARNING")
        try:
            yield fake
        finally:
            logger.setLevel(level)


@pytest.fixture(scope="module")
def stack(clock: Clock) -> Iterator[LocalStack]:
    running = start(port=0, echo=False)  # the demo users imported: the victims
    try:
        yield running
    finally:
        running.stop()


def test_the_default_limits_hold_an_attacker_with_any_number_of_ips_to_these_figures(
    stack: LocalStack, clock: Clock
) -> None:
    api, figures = StackApi(stack), dict[str, int]()
    for attacker in ATTACKERS:
        clock.value += DAY - clock.value % DAY
        figures |= attacker(api, clock)
    print("\nwhat an attacker with any number of IPs gets through the default limits (local stack, HTTP)")
    for name, value in figures.items():
        print(f"  {name:<44} {value:>5}")
    assert figures == FIGURES
