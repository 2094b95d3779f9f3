"""The HTTP front door: turns raw HTTP into gateway requests and serves the /_local routes.

Logging rule: one access line per request (time, method, path without the query string, status,
duration; none for a successful GET of /_local, which pages poll) and nothing else about it.
Bodies and headers carry phone numbers, one-time codes, passwords and tokens: never printed here.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import socket
import time
import traceback
import uuid
from dataclasses import asdict
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from devtools.local_stack.gateway import Gateway, GatewayResult, IncomingRequest

if TYPE_CHECKING:
    from devtools.local_stack.stack import Extension
    from devtools.local_stack.streams import LifecycleEvents

__all__ = ["MAX_BODY_BYTES", "LocalHTTPServer"]

#: API Gateway REST rejects payloads over 10 MB with REQUEST_TOO_LARGE.
MAX_BODY_BYTES = 10 * 1024 * 1024
LOCAL_PREFIX = "/_local"


#: The names a browser on this machine reaches the stack by (the Host header without its port).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
HOST_REFUSED = (
    "This local stack answers only Host 127.0.0.1:{port}, localhost:{port} or [::1]:{port}"
    " (a page that reached it under another name may be a DNS-rebinding attack)."
)


def _decoded_path(raw: str) -> str | None:
    """The percent-decoded path ("/" when empty), or None when it decodes to a NUL or to bytes that
    are not UTF-8: API Gateway has no resource by such a name, and a file name cannot hold one."""
    try:
        path = unquote(raw, errors="strict") or "/"
    except UnicodeDecodeError:
        return None
    return None if "\x00" in path else path


def host_and_port(host_header: str) -> tuple[str, int | None]:
    """``Host`` as (name in lower case, an IPv6 address in brackets; port, None when none is given,
    -1 when it is not a number)."""
    value = host_header.strip().lower()
    if value.startswith("["):  # [::1]:3000
        address, bracket, rest = value.partition("]")
        name, (colon, port) = address + bracket, (rest[:1], rest[1:])
    else:
        name, colon, port = value.partition(":")
    if not colon:
        return name, None if not port else -1
    return name, int(port) if port.isdigit() else -1


def _bound_name(host: str) -> set[str]:
    """The address the stack was bound to (HOST=192.168.1.5), as a Host header names it: an IP
    address cannot be rebound to another site. A wildcard or a name names nothing more."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return set()
    if address.is_unspecified:
        return set()
    return {f"[{address.compressed}]" if address.version == 6 else address.compressed}


class _Unreadable(Exception):
    """The body cannot be read; the argument is the gateway response type to answer with."""


class LocalHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying the gateway (and its outbox and log), /_local/info and the extension."""

    daemon_threads = True
    allow_reuse_address = True
    #: socketserver's default listen backlog is 5: a burst of parallel requests (a race test,
    #: a page firing several calls) would see connection resets instead of answers.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        gateway: Gateway,
        info: Any,
        extension: Extension | None,
        lifecycle: LifecycleEvents,
    ) -> None:
        self.gateway, self.info, self.extension, self.lifecycle = gateway, info, extension, lifecycle
        super().__init__(address, _Handler)
        self.host_names = LOOPBACK_HOSTS | _bound_name(address[0])

    def serves_host(self, host_header: str | None) -> bool:
        """Whether ``Host`` names this stack: a loopback name (or the address it was bound to) and its
        own port. Anything else, a DNS-rebinding page's own name above all, is refused."""
        if not host_header:
            return False
        name, port = host_and_port(host_header)
        return name in self.host_names and (port if port is not None else 80) == self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    server: LocalHTTPServer
    protocol_version = "HTTP/1.1"
    #: Each response leaves in one write (handle_one_request flushes after it): status line,
    #: headers and body sent separately would meet Nagle's algorithm and the client's delayed
    #: ACK on a kept-alive connection, ~40 ms per request. TCP_NODELAY covers larger bodies.
    wbufsize = 64 * 1024

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return "phone-auth-local"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's own log (it would print the raw request line, query included)."""

    def __getattr__(self, name: str) -> Any:
        """Every verb, known or not (TRACE, FOO...), goes to the gateway, which answers as API Gateway does.

        Without this, http.server would answer a verb it has no ``do_<VERB>`` for with its own 501 page.
        """
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        started, split, gateway = time.monotonic(), urlsplit(self.path), self.server.gateway
        path = _decoded_path(split.path)
        try:
            result = self._answer(path, split.path, split.query)
        except _Unreadable as refusal:
            self.close_connection = True  # what is left of the body is still on the socket
            result = gateway.gateway_response(str(refusal))
        except Exception:  # a bug in the emulator itself: answer like API Gateway's 5XX, keep serving
            gateway.log(f"[gateway] internal error:\n{traceback.format_exc()}")
            self.close_connection = True
            result = gateway.gateway_response("DEFAULT_5XX")
        try:
            self._write(gateway.echo_origin(self.headers.get("Origin"), result))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            elapsed_ms = (time.monotonic() - started) * 1000
            shown = path if path is not None else repr(split.path)
            if not (self.command == "GET" and shown.startswith(LOCAL_PREFIX + "/") and result.status < 400):  # polls
                gateway.log(f"{datetime.now():%H:%M:%S} {self.command} {shown} {result.status} {elapsed_ms:.0f}ms")

    def _answer(self, path: str | None, raw_path: str, query: str) -> GatewayResult:
        """The answer to a request for the decoded ``path`` (None: not a path any route can name)."""
        if not self.server.serves_host(self.headers.get("Host")):
            self.close_connection = True  # the body, if any, is left unread
            return _json(403, {"message": HOST_REFUSED.format(port=self.server.server_address[1])})
        if path is None:  # a NUL or bytes that are not UTF-8: no route, file or function has such a name
            self.close_connection = True
            return self.server.gateway.gateway_response("MISSING_AUTHENTICATION_TOKEN")
        body = self._read_body()
        request = IncomingRequest(
            self.command,
            path,
            self._gateway_headers(),
            parse_qsl(query, keep_blank_values=True),
            body,
            self.client_address[0],
            raw_path=raw_path or "/",
            raw_query=query,
        )
        route = functools.partial(self._route, request, query)
        return self.server.extension.handle(request, route) if self.server.extension else route()

    def _gateway_headers(self) -> list[tuple[str, str]]:
        """Client headers plus the X-Forwarded-* API Gateway adds in front of the integration."""
        added = ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-port")
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in added]
        forwarded = [v for k, v in self.headers.items() if k.lower() == "x-forwarded-for"]
        return [
            *headers,
            ("X-Forwarded-For", ", ".join([*forwarded, self.client_address[0]])),
            ("X-Forwarded-Proto", "http"),
            ("X-Forwarded-Port", str(self.server.server_address[1])),
            ("X-Amzn-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"),
        ]

    def _read_body(self) -> bytes:
        """The request body (plain or chunked), refused unread when it is over the limit."""
        if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
            length = (self.headers.get("Content-Length") or "0").strip()
            if not length.isdigit():
                raise _Unreadable("DEFAULT_4XX")
            if int(length) > MAX_BODY_BYTES:
                raise _Unreadable("REQUEST_TOO_LARGE")
            return self.rfile.read(int(length))
        parts: list[bytes] = []
        while True:
            try:
                size = int(self.rfile.readline(1024).split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _Unreadable("DEFAULT_4XX") from None
            if sum(map(len, parts)) + size > MAX_BODY_BYTES:
                raise _Unreadable("REQUEST_TOO_LARGE")
            parts.append(self.rfile.read(size))
            while self.rfile.readline(1024).strip() and size == 0:  # the CRLF after a chunk; trailers
                pass
            if size == 0:
                return b"".join(parts)

    def _route(self, request: IncomingRequest, query: str) -> GatewayResult:
        if request.path == LOCAL_PREFIX or request.path.startswith(LOCAL_PREFIX + "/"):
            return self._local_route(request.path, query)
        return self.server.gateway.handle(request)

    def _local_route(self, path: str, query: str) -> GatewayResult:
        """Development-only routes; they do not exist in the deployed API."""
        if path == f"{LOCAL_PREFIX}/health" and self.command == "GET":
            return _json(200, {"ok": True})
        if path == f"{LOCAL_PREFIX}/info" and self.command == "GET":
            return _json(200, self.server.info)
        if path == f"{LOCAL_PREFIX}/sms" and self.command == "GET":
            phone = dict(parse_qsl(query.replace("+", "%2B"))).get("phone")  # an unencoded "+" stays a "+"
            return _json(200, [asdict(message) for message in self.server.gateway.outbox.messages(phone or None)])
        if path == f"{LOCAL_PREFIX}/sms" and self.command == "DELETE":
            self.server.gateway.outbox.clear()
            return GatewayResult(204, [], b"")
        if path == f"{LOCAL_PREFIX}/events" and self.command == "GET":
            return _json(200, self.server.lifecycle.events())
        if path == f"{LOCAL_PREFIX}/events" and self.command == "DELETE":
            self.server.lifecycle.clear()
            return GatewayResult(204, [], b"")
        return self.server.gateway.gateway_response("MISSING_AUTHENTICATION_TOKEN")

    def _write(self, result: GatewayResult) -> None:
        self.send_response(result.status)
        for name, value in result.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(result.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(result.body)
        self.wfile.flush()


def _json(status: int, payload: Any) -> GatewayResult:
    return GatewayResult(status, [("Content-Type", "application/json")], json.dumps(payload).encode("utf-8"))
