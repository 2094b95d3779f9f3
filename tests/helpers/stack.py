"""Talking to a running local stack over HTTP, as a browser, an app or an attacker does.

- :func:`fetch`: one request on a fresh connection, the raw answer: status, headers (names in
  lower case), body bytes. No redirect is followed and no proxy is used; ``source_ip`` picks the
  client's loopback address (127.0.0.2 and up are other clients to the stack's per-IP limits).
- :func:`call`: the same as a page on :data:`ORIGIN` sends it, with the JSON body parsed.
- :class:`StackApi`: the API's functions called by name, as ``tests.helpers.Api`` calls them in
  process, so the flow helpers there (``sign_in``, ``register``...) work against a stack too.
- :func:`signed_fetch`: a call to the stack's admin API signed with SigV4 by botocore, with the
  local back office's credentials from ``GET /_local/info`` (or others, to be refused).
"""

from __future__ import annotations

import http.client
import json
from typing import Any

from devtools.handlers import template_routes
from devtools.local_stack import LocalStack
from tests.helpers import Answer, code_in, template

#: The page's origin in every request, as a browser sends it (the local default allows any localhost port).
ORIGIN = "http://localhost:5173"


def fetch(
    stack: LocalStack,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    source_ip: str | None = None,
    data: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request: (status, lower-cased headers, raw body); ``body`` goes as JSON (``data`` as it is)."""
    if data is None:
        data = None if body is None else json.dumps(body).encode()
    sent = ({"Content-Type": "application/json"} if data is not None else {}) | (headers or {})
    source = (source_ip, 0) if source_ip else None
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30, source_address=source)
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def call(
    stack: LocalStack, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, **kwargs: Any
) -> tuple[int, dict[str, str], Any]:
    """:func:`fetch` from a page on :data:`ORIGIN`: (status, lower-cased headers, the parsed JSON body or None)."""
    status, answer_headers, raw = fetch(stack, method, path, body, {"Origin": ORIGIN} | (headers or {}), **kwargs)
    return status, answer_headers, json.loads(raw) if raw else None


class StackApi:
    """The API's functions, by handler name, over HTTP to ``stack`` (every path under ``prefix``);
    answers as (status, parsed body, lower-cased headers), codes read from the stack's outbox."""

    def __init__(self, stack: LocalStack, prefix: str = "") -> None:
        self.stack, self.prefix = stack, prefix
        self.routes = {route.function: (route.method.upper(), route.path) for route in template_routes(template())}

    def call(
        self,
        function: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        source_ip: str | None = None,
    ) -> Answer:
        method, path = self.routes[function]
        sent = ({"Authorization": f"Bearer {token}"} if token is not None else {}) | (headers or {})
        status, answer_headers, raw = fetch(self.stack, method, self.prefix + path, body, sent, source_ip=source_ip)
        return status, json.loads(raw) if raw else {}, answer_headers

    def last_code(self, phone: str) -> str:
        messages = self.stack.sms(phone)
        assert messages, f"no SMS sent to {phone}"
        return code_in(messages[-1].body)


def signed_fetch(
    stack: LocalStack,
    method: str,
    path: str,
    body: Any = None,
    *,
    credentials: dict[str, str] | None = None,
    region: str | None = None,
    tamper: bool = False,
) -> tuple[int, dict[str, str], Any]:
    """A call to the admin API (``path`` below its base URL, URL-encoded as sent) signed with
    botocore's SigV4Auth: (status, lower-cased headers, parsed JSON body). ``tamper`` changes the
    body after signing."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    _, _, raw_info = fetch(stack, "GET", "/_local/info")
    info = json.loads(raw_info)
    keys = credentials or info["admin_credentials"]
    url = info["admin_api"] + path
    data = b"" if body is None else json.dumps(body).encode()
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(
        Credentials(keys["access_key_id"], keys["secret_access_key"]), "execute-api", region or info["region"]
    ).add_auth(request)
    headers = dict(request.headers.items())
    if tamper:
        data += b" "
    base = info["admin_api"].removeprefix(f"http://127.0.0.1:{stack.port}")
    answer_status, answer_headers, raw = fetch(stack, method, base + path, None, headers, data=data)
    return answer_status, answer_headers, json.loads(raw) if raw else None
