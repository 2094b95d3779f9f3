"""bcrypt for the file's plaintext passwords, on every core the process may use.

``bcrypt.hashpw`` (bcrypt 5, Rust) releases the GIL while it hashes: a Python thread
keeps counting at full speed beside it. So one thread per core hashes in parallel, as
fast as processes without their start-up and pickling. Measured on 2 cores at cost 12,
16 hashes took 3.79 s one at a time, 2.00-2.15 s on 2 threads and 2.04-2.14 s on 2
processes. Threads also share the moto mock of an in-process test run.

A row's hash is started as soon as its batch read shows the user needs a password, and
made once per row: a write retried after a condition failure reuses it.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from phone_auth import passwords
from phone_auth.user_import import Row


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Hasher:
    def __init__(self, rounds: int, workers: int | None = None) -> None:
        self.rounds = rounds
        self.workers = workers or usable_cores()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="bcrypt")
        self._started: dict[int, Future[str]] = {}
        self._lock = threading.Lock()

    def start(self, row: Row) -> Future[str]:
        """The row's hash, computing in the background (or already done)."""
        if row.password_hash is not None:
            done: Future[str] = Future()
            done.set_result(row.password_hash)
            return done
        password = row.password
        if password is None:
            raise ValueError(f"row {row.line} has no password")
        with self._lock:
            future = self._started.get(row.line)
            if future is None:
                future = self._pool.submit(passwords.hash_password, password, self.rounds)
                self._started[row.line] = future
        return future

    def hash(self, row: Row) -> str:
        """The row's hash (bcrypt of its plaintext, or its password_hash as given); waits."""
        return self.start(row).result()

    def forget(self, row: Row) -> None:
        """The row is done: drop its hash."""
        with self._lock:
            self._started.pop(row.line, None)

    def close(self, *, cancel: bool = False) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)
