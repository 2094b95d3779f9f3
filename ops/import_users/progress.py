"""Progress of a run: rows done out of the file's rows, rows per second and the time left.

On a terminal it is one line rewritten in place a few times a second (``StatusLine``);
anywhere else (a pipe, a log, CI) a plain line every ``Lines.interval`` seconds. A run
short enough to need neither prints no progress at all. Progress never names a phone.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from typing import Protocol, TextIO, runtime_checkable

monotonic = time.monotonic  # tests move it


@runtime_checkable
class Display(Protocol):
    interval: float  # seconds between two progress lines

    def show(self, line: str) -> None: ...

    def clear(self) -> None:
        """Make room for another line of output (the status line is redrawn by the next show)."""

    def close(self) -> None: ...


class Lines:
    """Plain lines through a printer (one every `interval` seconds)."""

    def __init__(self, printer: Callable[[str], None], interval: float = 10.0) -> None:
        self.printer = printer
        self.interval = interval

    def show(self, line: str) -> None:
        self.printer(line)

    def clear(self) -> None:
        pass

    def close(self) -> None:
        pass


class StatusLine:
    """One line on a terminal, rewritten in place; cut to the terminal's width so it never wraps."""

    interval = 0.2

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.visible = False

    def show(self, line: str) -> None:
        width = max(20, shutil.get_terminal_size(fallback=(100, 24)).columns - 1)
        self.stream.write("\r" + line[:width] + "\x1b[K")
        self.stream.flush()
        self.visible = True

    def clear(self) -> None:
        if self.visible:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.visible = False

    def close(self) -> None:
        if self.visible:
            self.stream.write("\n")
            self.stream.flush()
            self.visible = False


def display_for(stream: TextIO | None = None) -> Display:
    """A status line when `stream` (default stderr) is a terminal, plain lines otherwise."""
    out = stream if stream is not None else sys.stderr
    if out.isatty():
        return StatusLine(out)
    return Lines(lambda line: print(line, file=out, flush=True))


def duration(seconds: float) -> str:
    """42 s, 3 min 05 s, 1 h 02 min."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole // 60 % 60:02d} min"


class Meter:
    """Shows the run's progress at most once per `display.interval`; a last line at the end
    if any was shown."""

    def __init__(self, display: Display, total: int | None) -> None:
        self.display = display
        self.total = total
        self.started = self.last_shown = monotonic()
        self.shown = False

    def update(self, done: int, counts: str) -> None:
        now = monotonic()
        elapsed = now - self.started
        if now - self.last_shown < self.display.interval or elapsed <= 0 or not done:
            return
        rate = done / elapsed
        line = f"... {done:,}"
        if self.total:
            eta = duration(max(0, self.total - done) / rate)
            line += f"/{self.total:,} rows ({100 * done // self.total} %), {rate:.1f} rows/s, ETA {eta}"
        else:
            line += f" rows, {rate:.1f} rows/s"
        self.display.show(f"{line} | {counts}")
        self.last_shown = now
        self.shown = True

    def finish(self, done: int) -> None:
        if self.shown:
            elapsed = monotonic() - self.started
            rate = f", {done / elapsed:.1f} rows/s" if elapsed > 0 else ""
            self.display.show(f"... {done:,} rows in {duration(elapsed)}{rate}")
        self.display.close()
