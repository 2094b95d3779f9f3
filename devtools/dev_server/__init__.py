"""What ``make run`` adds to the local stack for people: a web client, API docs, data kept across restarts.

:class:`DevServer` is the local stack's :class:`~devtools.local_stack.stack.Extension`:

* ``site`` serves the reference web client (``web/``) at ``/``, or a frontend's own build with
  ``static_dir`` (the reference client then lives at ``/_local/web/``); Swagger UI at ``/docs`` over
  ``/openapi.json``; ``GET``/``DELETE /_local/users``; and CORS on every ``/_local`` route;
* ``local_data`` keeps the tables, the JWT secret and the SMS outbox in ``local-data/<env>/``;
* ``invoke`` runs one function's handler with one event (``make invoke``).

``python -m devtools.dev_server`` is ``make run``. Tests start ``start(extension=DevServer())``, which
serves the pages and keeps nothing on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from devtools.dev_server.local_data import LocalData
from devtools.dev_server.site import WEB_DIR, Site
from devtools.local_stack.gateway import GatewayResult, IncomingRequest

if TYPE_CHECKING:
    from devtools.local_stack.stack import LocalStack

__all__ = ["DevServer", "LocalData", "Site"]


class DevServer:
    """The pages and local routes (:class:`Site`), and optionally the data kept on disk (:class:`LocalData`)."""

    def __init__(self, *, web_dir: Path = WEB_DIR, static_dir: Path | None = None, data: LocalData | None = None):
        self.site, self.data = Site(web_dir, static_dir), data

    def setup(self, stack: LocalStack) -> list[str]:
        return self.site.setup(stack) + (self.data.setup(stack) if self.data else [])

    def handle(self, request: IncomingRequest, default: Callable[[], GatewayResult]) -> GatewayResult:
        return self.site.handle(request, default)

    def stop(self) -> None:
        if self.data:
            self.data.stop()
