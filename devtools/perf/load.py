"""Load on the local stack: many users at once, each walking whole flows until the time is up.

The stack runs in a process of its own (``python -m devtools.dev_server``, nothing kept on disk,
one Lambda-like container per request), with the abuse limits that count per client IP, per
number prefix and per stack switched off (every SMS-per-phone limit stays on: each flow uses a
phone of its own). Each user also calls from an address of its own on the loopback network
(127.0.1.N), so a limit per IP would see N clients, as API Gateway would.

A user alternates two flows, each with a new phone:
- passwordless: send a code, read it from the outbox, verify, me, refresh, logout;
- password: check the phone, registration code, outbox, verify it, complete the registration
  (bcrypt), log in with the password (bcrypt), reset code, outbox, reset the password (bcrypt).

Reported: requests per second, p50/p95/p99 per endpoint (and p50 in the first and the last
third of the run, to show whether latency grows with the tables), every non-2xx, and the
users: each flow's phone must exist once, signed in as new exactly once.

Run on its own: ``python -m devtools.perf.load --users 20 --seconds 30``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: The limits a load test switches off (see phone_auth.settings); per-phone limits stay.
LIMITS_OFF = {
    "SMS_PER_IP_PER_HOUR": "0",
    "SMS_PER_PREFIX_PER_HOUR": "0",
    "SMS_PER_STACK_PER_HOUR": "0",
    "CODE_CHECKS_PER_IP_PER_HOUR": "0",
    "LOOKUPS_PER_IP_PER_HOUR": "0",
    "PASSWORD_FAILURES_PER_IP_PER_HOUR": "0",
    "OTP_RESEND_SECONDS": "0",
    "BCRYPT_ROUNDS": "10",
}


@dataclass
class Sample:
    endpoint: str
    started: float
    seconds: float
    status: int


@dataclass
class Results:
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    new_users: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    signed_in: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _User:
    def __init__(self, index: int, port: int, results: Results, deadline: float) -> None:
        self.index, self.port, self.results, self.deadline = index, port, results, deadline
        self.address = f"127.0.1.{index % 250 + 1}"
        self.connection = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60, source_address=(self.address, 0))
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def call(self, method: str, path: str, body: Any = None, token: str | None = None, *, endpoint: str = "") -> Any:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        payload = None if body is None else json.dumps(body)
        started = time.perf_counter()
        try:
            self.connection.request(method, path, payload, headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = self._connect()
            raise
        took = time.perf_counter() - started
        name = endpoint or f"{method} {path.split('?')[0]}"
        with self.results.lock:
            self.results.samples.append(Sample(name, started, took, response.status))
            if response.status >= 300:
                self.results.errors.append(f"{name} {response.status} {data[:200].decode(errors='replace')}")
        if response.status >= 300:
            raise _Refused(name)
        return json.loads(data) if data else None

    def code(self, phone: str) -> str:
        sent = self.call("GET", f"/_local/sms?phone={phone.replace('+', '%2B')}", endpoint="GET /_local/sms")
        match = re.search(r"\b(\d{6})\b", sent[-1]["body"])
        assert match, sent
        return match.group(1)

    def passwordless(self, phone: str) -> None:
        self.call("POST", "/auth/send-verification", {"phone": phone})
        body = self.call("POST", "/auth/verify-code", {"phone": phone, "verification_code": self.code(phone)})
        self._signed_in(phone, body)
        token = body["access_token"]
        self.call("GET", "/auth/me", token=token)
        token = self.call("POST", "/auth/refresh", {"refresh_token": body["refresh_token"]})["access_token"]
        self.call("POST", "/auth/logout", {}, token=token)

    def password(self, phone: str) -> None:
        password, new_password = f"mango sticky rice {self.index}", f"durian season {self.index}"
        self.call("POST", "/auth/check-mobile", {"phone": phone})
        self.call("POST", "/auth/request-registration-otp", {"phone": phone})
        registration = self.call("POST", "/auth/verify-registration-otp", {"phone": phone, "code": self.code(phone)})
        complete = {"phone": phone, "password": password, "registration_token": registration["registration_token"]}
        self._signed_in(phone, self.call("POST", "/auth/complete-registration", complete))
        self.call("POST", "/auth/login/mobile", {"phone": phone, "password": password})
        self.call("POST", "/auth/request-password-reset-otp", {"phone": phone})
        reset = {"phone": phone, "code": self.code(phone), "new_password": new_password}
        self.call("POST", "/auth/reset-password", reset)

    def _signed_in(self, phone: str, body: dict[str, Any]) -> None:
        with self.results.lock:
            self.results.signed_in.add(phone)
            self.results.new_users[phone] += bool(body.get("is_new_user"))

    def run(self) -> None:
        iteration = 0
        while time.perf_counter() < self.deadline:
            phone = f"+668{self.index:03d}{iteration:05d}"  # +66 8x: a Thai mobile, one per flow
            try:
                (self.passwordless if iteration % 2 == 0 else self.password)(phone)
            except _Refused:
                pass
            except Exception as exc:  # a broken connection, a bad answer: counted, the user goes on
                with self.results.lock:
                    self.results.errors.append(f"{type(exc).__name__}: {exc}")
            iteration += 1
        self.connection.close()


class _Refused(Exception):
    """A non-2xx answer (already recorded)."""


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@contextlib.contextmanager
def local_stack(workdir: Path) -> Iterator[int]:
    """The local stack in its own process (limits off as above); yields its port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **LIMITS_OFF}
    args = [sys.executable, "-m", "devtools.dev_server", "--port", str(port), "--no-data", "--no-demo-users"]
    # One invocation per function at a time, as in one Lambda container (and make run).
    log = (workdir / f"local-stack-{port}.log").open("w")
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        for _ in range(600):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            with contextlib.suppress(OSError), contextlib.closing(connection):
                connection.request("GET", "/_local/health")
                if connection.getresponse().status == 200:
                    break
            if process.poll() is not None:
                raise RuntimeError(f"the local stack stopped; see {log.name}")
            time.sleep(0.1)
        else:
            raise RuntimeError(f"the local stack did not start; see {log.name}")
        yield port
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        if process.poll() is None:
            process.kill()
        log.close()


def _users_in_table(port: int) -> list[str]:
    with contextlib.closing(http.client.HTTPConnection("127.0.0.1", port, timeout=60)) as connection:
        connection.request("GET", "/_local/users")
        return [user["phone"] for user in json.loads(connection.getresponse().read())]


def run(users: int, seconds: float, workdir: Path) -> dict[str, Any]:
    """``users`` users for ``seconds`` against a fresh local stack; the figures described above."""
    with local_stack(workdir) as port:
        results = Results()
        start = time.perf_counter()
        deadline = start + seconds
        threads = [
            threading.Thread(target=_User(index, port, results, deadline).run, daemon=True) for index in range(users)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 120)
        duration = time.perf_counter() - start
        stored = _users_in_table(port)
    by_endpoint: dict[str, list[Sample]] = defaultdict(list)
    for sample in results.samples:
        by_endpoint[sample.endpoint].append(sample)
    third = seconds / 3
    endpoints = {}
    for name, samples in sorted(by_endpoint.items()):
        times = [sample.seconds * 1000 for sample in samples]
        early = [s.seconds * 1000 for s in samples if s.started - start < third]
        late = [s.seconds * 1000 for s in samples if s.started - start >= 2 * third]
        endpoints[name] = {
            "requests": len(samples),
            "p50_ms": round(_percentile(times, 0.50), 1),
            "p95_ms": round(_percentile(times, 0.95), 1),
            "p99_ms": round(_percentile(times, 0.99), 1),
            "p50_first_third_ms": round(statistics.median(early), 1) if early else None,
            "p50_last_third_ms": round(statistics.median(late), 1) if late else None,
        }
    lost = sorted(results.signed_in - set(stored))
    doubled = sorted(phone for phone, count in results.new_users.items() if count != 1)
    return {
        "users": users,
        "seconds": round(duration, 1),
        "requests": len(results.samples),
        "requests_per_second": round(len(results.samples) / duration, 1),
        "endpoints": endpoints,
        "non_2xx": results.errors,
        "signed_in_phones": len(results.signed_in),
        "lost_users": lost,
        "doubled_users": doubled,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser("python -m devtools.perf.load", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args(argv)
    from devtools.perf.layer import temporary_workdir

    print(json.dumps(run(args.users, args.seconds, temporary_workdir()), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
