"""A thread that calls ``deliver()`` every ``interval`` seconds until stopped: what the local stack's
stream poller (``streams.py``) and EventBridge rules (``event_rules.py``) share."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Poller:
    """Subclasses define ``deliver()``; a failing call is logged as ``[<label>] ...`` and the thread
    goes on (moto going away while the stack stops, or a bug: the stack keeps serving)."""

    label = "poller"

    def __init__(self, log: Callable[[str], None], interval: float) -> None:
        self.log, self.interval = log, interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def deliver(self) -> None:
        raise NotImplementedError

    def start_polling(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"local-stack-{self.label}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.deliver()
            except Exception as exc:
                if not self._stopping.is_set():
                    self.log(f"[{self.label}] polling failed: {type(exc).__name__}: {exc}")
