"""An HTTP stub of DynamoDB, SSM and SNS that replays recorded answers, in a process of its own.

``python -m devtools.perf.stub RECORDINGS.json`` prints its URL and serves until stdin closes.
RECORDINGS maps a step's slug to the calls :mod:`tests.helpers.steps` recorded for it; a client
points ``AWS_ENDPOINT_URL`` at ``URL/<slug>`` and gets, for each request, the answer recorded
for the next call of that service and API in the step's order (from the start again once a
step's calls are used up, or when a warm function skips its cached SSM read). Nothing is
checked or stored: the stub answers as fast as a local socket allows, so what the benchmark
times is the function and botocore, not AWS.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from tests.helpers.steps import Call

_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")
_DROPPED = frozenset({"content-length", "date", "server", "connection", "transfer-encoding", "keep-alive"})


def slug(step: str) -> str:
    """A step's name as a URL path segment: ``verify code`` -> ``verify-code``."""
    return re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")


def dump(recordings: dict[str, list[Call]]) -> str:
    """Recordings (step slug -> calls) as the JSON the stub reads."""
    return json.dumps(
        {
            name: [
                {
                    "service": call.service,
                    "api": call.api,
                    "status": call.status,
                    "headers": {k: v for k, v in call.headers.items() if k.lower() not in _DROPPED},
                    "body": base64.b64encode(call.body).decode(),
                }
                for call in calls
            ]
            for name, calls in recordings.items()
        }
    )


class _Step:
    def __init__(self, calls: list[dict[str, Any]]) -> None:
        self.calls = [
            (call["service"], call["api"], int(call["status"]), call["headers"], base64.b64decode(call["body"]))
            for call in calls
        ]
        self.cursor = 0
        self.lock = threading.Lock()

    def answer(self, service: str, api: str) -> tuple[int, dict[str, str], bytes] | None:
        with self.lock:
            order = [*range(self.cursor, len(self.calls)), *range(self.cursor)]
            for index in order:
                found_service, found_api, status, headers, body = self.calls[index]
                if (found_service, found_api) == (service, api):
                    self.cursor = (index + 1) % len(self.calls)
                    return status, headers, body
        return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    wbufsize = 64 * 1024  # one write per answer (see devtools.local_stack.server)

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _SERVICE.search(self.headers.get("Authorization", ""))
        service = match.group(1) if match else ""
        target = self.headers.get("X-Amz-Target", "")
        api = target.rpartition(".")[2] if target else parse_qs(body.decode()).get("Action", [""])[0]
        step = self.server.steps.get(self.path.strip("/").split("/")[0])
        found = step.answer(service, api) if step else None
        status, headers, answer = found or (400, {"Content-Type": "text/plain"}, f"no answer for {api}".encode())
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, steps: dict[str, _Step]) -> None:
        self.steps = steps
        super().__init__(("127.0.0.1", 0), _Handler)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    with open(args[0]) as file:
        steps = {name: _Step(calls) for name, calls in json.load(file).items()}
    server = _Server(steps)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdin.read()  # until the benchmark closes it (or exits)
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
