"""``python -m devtools.abuse_probe``: what an attacker gets through the limits, measured over HTTP.

Starts the local stack in this process with the template's default limits (``ALLOWED_COUNTRIES``
aside: the probe's numbers are Thai), and plays four attackers against it over HTTP, each from
as many client IPs as it likes (loopback source addresses 127.0.0.2 and up), so only the
limits that do not depend on one IP stop them:

1. code guesses per phone per day: request codes for one victim phone and guess wrong ones,
   across the three purposes (login, registration, reset), for 24 hours;
2. SMS per client IP per hour: one IP asks codes for as many numbers as it can;
3. distinct numbers per prefix per hour: many IPs text sequential numbers of one prefix;
4. password guesses per phone per hour: wrong passwords for one victim phone, for an hour.

Time is the only thing not real: the functions' clock (``phone_auth.clock.now``) is moved
forward as the attacker waits out each Retry-After, so a day takes seconds. Prints a table;
asserts nothing. ``--json`` prints the figures as JSON instead.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

HOUR, DAY = 3600, 86400
VICTIM = "+66891234567"  # a demo user (devtools/sample_users.csv): login and reset codes both reach it
PASSWORD_VICTIM = "+66898887777"  # noqa: S105 (a phone: the demo user with a password hash)


class Clock:
    """The functions' time: starts at a whole day, moves only when the probe says so."""

    def __init__(self) -> None:
        self.value = 1_800_000_000.0 - 1_800_000_000.0 % DAY

    def __call__(self) -> float:
        return self.value


class Client:
    def __init__(self, port: int, source_ip: str) -> None:
        self.port, self.source_ip = port, source_ip

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30, source_address=(self.source_ip, 0))
        try:
            connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, json.loads(response.read() or b"{}"), dict(response.getheaders())
        finally:
            connection.close()


def ips() -> Iterator[str]:
    for a, b in itertools.product(range(1, 255), range(2, 255)):
        yield f"127.0.{a}.{b}"


def code_of(answer: tuple[int, dict[str, Any], dict[str, str]]) -> str:
    return str(answer[1].get("error", {}).get("code", "OK"))


def guesses_per_phone_per_day(port: int, clock: Clock) -> dict[str, int]:
    """Wrong codes checked against real codes for one phone in 24 h, any purpose, any IP."""
    fresh = ips()
    start, checked, sent = clock.value, 0, 0
    paths = {
        "login": ("/auth/send-verification", "/auth/verify-code", "verification_code"),
        "reset": ("/auth/request-password-reset-otp", "/auth/reset-password", "code"),
    }
    purposes = itertools.cycle(paths)
    while clock.value < start + DAY:
        send_path, check_path, field = paths[next(purposes)]
        answer = Client(port, next(fresh)).post(send_path, {"phone": VICTIM})
        if answer[0] != 200:
            clock.value += int(answer[2].get("Retry-After", "60"))
            continue
        sent += 1
        for guess in ("000001", "000002", "000003"):
            body = {"phone": VICTIM, field: guess, "new_password": "durian season 2026"}
            code = code_of(Client(port, next(fresh)).post(check_path, body))
            # Right after a code went out the phone is not locked: each of these answers checked
            # the guess (PHONE_LOCKED here is the guess that locked it).
            checked += code in ("OTP_INVALID", "OTP_ATTEMPTS_EXCEEDED", "PHONE_LOCKED")
            if code != "OTP_INVALID":
                break
        clock.value += 61
    return {"wrong_codes_checked": checked, "codes_sent": sent}


def sms_per_ip_per_hour(port: int, clock: Clock) -> int:
    clock.value += DAY - clock.value % DAY  # a new day: fresh windows
    client = Client(port, "127.0.9.9")
    return sum(
        client.post("/auth/send-verification", {"phone": f"+668{index:02d}1234567"[:12]})[0] == 200
        for index in range(10, 60)
    )


def numbers_per_prefix_per_hour(port: int, clock: Clock) -> int:
    clock.value += DAY - clock.value % DAY
    fresh = ips()
    return sum(
        Client(port, next(fresh)).post("/auth/send-verification", {"phone": f"+66898765{index:03d}"})[0] == 200
        for index in range(60)
    )


def password_guesses_per_phone_per_hour(port: int, clock: Clock) -> dict[str, int]:
    clock.value += DAY - clock.value % DAY
    fresh = ips()
    start, checked = clock.value, 0
    body = {"phone": PASSWORD_VICTIM, "password": "not-the-password"}
    while clock.value < start + HOUR:
        # The attacker always waits a lock out, so every try is checked: a LOGIN_LOCKED answer
        # is the wrong password that set the next lock.
        answer = Client(port, next(fresh)).post("/auth/login/mobile", body)
        checked += code_of(answer) in ("INVALID_CREDENTIALS", "LOGIN_LOCKED")
        if code_of(answer) == "LOGIN_LOCKED":
            clock.value += int(answer[2]["Retry-After"])
        clock.value += 1
    return {"wrong_passwords_checked": checked}


def measure() -> dict[str, Any]:
    """Start a local stack with the default limits, play the four attackers, stop it."""
    os.environ.setdefault("BCRYPT_ROUNDS", "10")  # the probe measures counts, not bcrypt's time
    from devtools.local_stack import start
    from phone_auth import clock as clock_module
    from phone_auth.observability import logger, metrics

    clock = Clock()
    saved = clock_module.now, metrics.write, logger.log_level
    clock_module.now, metrics.write = clock, lambda line: None  # thousands of requests: keep quiet
    logger.setLevel("WARNING")
    stack = start(port=0, echo=False)
    try:
        return {
            "guesses_per_phone_per_day": guesses_per_phone_per_day(stack.port, clock),
            "sms_per_ip_per_hour": sms_per_ip_per_hour(stack.port, clock),
            "numbers_per_prefix_per_hour": numbers_per_prefix_per_hour(stack.port, clock),
            "password_guesses_per_phone_per_hour": password_guesses_per_phone_per_hour(stack.port, clock),
        }
    finally:
        stack.stop()
        clock_module.now, metrics.write = saved[0], saved[1]
        logger.setLevel(saved[2])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser("python -m devtools.abuse_probe", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure()
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    day = figures["guesses_per_phone_per_day"]
    print("what an attacker with unlimited IPs gets through the default limits (local stack, HTTP)")
    print(
        f"  wrong codes checked, one phone, 24 h      {day['wrong_codes_checked']:>5}  ({day['codes_sent']} codes sent)"
    )
    print(f"  SMS from one IP, 1 h                      {figures['sms_per_ip_per_hour']:>5}")
    print(f"  distinct numbers, one prefix, 1 h         {figures['numbers_per_prefix_per_hour']:>5}")
    pw = figures["password_guesses_per_phone_per_hour"]
    print(f"  wrong passwords checked, one phone, 1 h   {pw['wrong_passwords_checked']:>5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
