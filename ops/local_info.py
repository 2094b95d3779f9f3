"""The running local stack as the command-line tools find it: ``--local [URL]`` and its ``/_local/info``.

Kept apart from :mod:`devtools.local_stack` so a tool's ``--help`` and its start stay light (no SAM CLI import).
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any, Protocol


class LocalStackUnreachable(Exception):
    """Nothing answers at the URL given with ``--local``: the message says so and how to start one."""


class _TakesArguments(Protocol):
    def add_argument(self, *args: Any, **kwargs: Any) -> Any: ...


def add_local_argument(parser: _TakesArguments, uses: str) -> None:
    """``--local [URL]``, defaulting to this machine's ``make run`` ($PORT); ``uses`` says what of it the tool uses."""
    parser.add_argument(
        "--local",
        nargs="?",
        const=f"http://127.0.0.1:{os.environ.get('PORT', '3000')}",
        metavar="URL",
        help=f"the running local stack (`make run`; default http://127.0.0.1:$PORT): its {uses}",
    )


def local_stack_info(url: str) -> dict[str, Any]:
    """The local stack's ``/_local/info`` (moto endpoint, region, table names, environment)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/_local/info", timeout=5) as response:  # noqa: S310 (a loopback URL the user chose)
            info: dict[str, Any] = json.load(response)
    except OSError as exc:
        raise LocalStackUnreachable(f"no local stack answers at {url} (start it with `make run`): {exc}") from None
    return info
