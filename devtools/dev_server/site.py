"""Everything ``make run`` serves besides the API: pages, API docs and the local-only routes.

Precedence, so that an app calling relative ``/api/v1/...`` URLs works as behind a Vite proxy:

1. ``/_local/...``: the local stack's own routes (``/sms``, ``/info``, ``/health``), plus ``/users`` and
   the reference client under ``/_local/web/``; they answer cross-origin requests from any origin
   ALLOWED_ORIGINS lists, preflights included, since a frontend on another port polls the outbox.
2. A path of the API (``/auth/...``, ``/api/v1/auth/...``), or any method but GET and HEAD: the gateway.
3. ``/docs`` (Swagger UI from the swagger-ui-bundle-v2 package) and ``/openapi.json`` (the committed
   document, its server the running stack).
4. A file of the static root: ``--static-dir`` (a frontend's build) or else ``web/`` (the reference
   client). A path without a file extension that a browser navigates to gets ``index.html``, for
   apps with client-side routing. Anything else: the gateway's JSON 404.
"""

from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from swagger_ui_bundle import swagger_ui_path

from devtools.local_stack.gateway import GatewayResult, IncomingRequest
from devtools.local_stack.stack import REPO_ROOT
from devtools.local_stack.template import local_name
from phone_auth.settings import cors_origin

if TYPE_CHECKING:
    from devtools.local_stack.stack import LocalStack

__all__ = ["LOCAL_WEB", "OPENAPI_JSON", "WEB_DIR", "Site"]

WEB_DIR = REPO_ROOT / "web"
OPENAPI_JSON = REPO_ROOT / "openapi.json"
#: Where the reference client is also served, so it stays reachable when a frontend's build owns ``/``.
LOCAL_WEB = "/_local/web"
#: User attributes the users route leaves out: stored hashes of passwords and tokens.
_SECRET_MARKERS = ("hash",)

DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>phone-auth API (local stack)</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
      persistAuthorization: true, tryItOutEnabled: true, displayRequestDuration: true, validatorUrl: null,
    });
  </script>
</body>
</html>
"""


class Site:
    """Answers what is not the API; :meth:`handle` is the local stack's extension hook."""

    def __init__(self, web_dir: Path = WEB_DIR, static_dir: Path | None = None) -> None:
        self.web_dir, self.static_dir = web_dir.resolve(), static_dir.resolve() if static_dir else None
        self.stack: LocalStack | None = None
        self._dynamodb: Any = None

    def setup(self, stack: LocalStack) -> list[str]:
        """Remember the stack (its routes, tables and origins); the banner lines for the pages."""
        self.stack, self._dynamodb = stack, boto3.session.Session().client("dynamodb")
        lines = [f"  Web     {stack.url}/  reference client: every flow, the SMS outbox, the users"]
        if self.static_dir:
            lines[0] = f"  Web     {stack.url}/  your app ({self.static_dir}); reference client at {LOCAL_WEB}/"
        lines.append(f"  Docs    {stack.url}/docs  Swagger UI over {stack.url}/openapi.json")
        if numbers := os.environ.get("TEST_PHONE_NUMBERS"):  # fixed codes, read by the functions themselves
            lines.append("  Test    fixed codes for " + ", ".join(pair.split("=")[0] for pair in numbers.split(",")))
        return lines

    def handle(self, request: IncomingRequest, default: Callable[[], GatewayResult]) -> GatewayResult:
        assert self.stack is not None, "setup() first"
        path, method = request.path, request.method
        if path == "/_local" or path.startswith("/_local/"):
            return self._cors(request, self._local(request, default))
        if method not in ("GET", "HEAD") or self.stack.gateway.routes_for(path)[1]:
            return default()
        if path in ("/docs", "/docs/"):
            return _answer(200, "text/html; charset=utf-8", DOCS_PAGE.encode())
        if path.startswith("/docs/"):
            return self._file(Path(str(swagger_ui_path)), path.removeprefix("/docs/"), request) or default()
        if path == "/openapi.json":
            return self._openapi(request)
        return self._file(self.static_dir or self.web_dir, path, request, fallback=True) or default()

    # ------------------------------------------------------------------ /_local
    def _local(self, request: IncomingRequest, default: Callable[[], GatewayResult]) -> GatewayResult:
        path, method = request.path.rstrip("/"), request.method
        if method == "OPTIONS":
            allow = [("Access-Control-Allow-Methods", "GET,DELETE,OPTIONS"), ("Access-Control-Max-Age", "600")]
            return GatewayResult(204, [*allow, ("Access-Control-Allow-Headers", "Content-Type")], b"")
        if path == "/_local/users" and method == "GET":
            return _answer(200, "application/json", json.dumps(self.users()).encode())
        if path == "/_local/users" and method == "DELETE":
            phone = dict(request.query).get("phone")  # an unencoded "+" arrives as a space
            self.delete_users(phone.strip().replace(" ", "+") if phone else None)
            return GatewayResult(204, [], b"")
        if (path == LOCAL_WEB or path.startswith(LOCAL_WEB + "/")) and method in ("GET", "HEAD"):
            return self._file(self.web_dir, request.path.removeprefix(LOCAL_WEB), request) or default()
        return default()

    def _cors(self, request: IncomingRequest, result: GatewayResult) -> GatewayResult:
        """The API's CORS rule (phone_auth.settings.cors_origin) for the /_local routes."""
        assert self.stack is not None
        allowed = self.stack.model.environment.get("ALLOWED_ORIGINS", "").split(",")
        origin = cors_origin(request.header("Origin"), allowed)
        headers = [(name, value) for name, value in result.headers if name.lower() != "access-control-allow-origin"]
        headers += [("Access-Control-Allow-Origin", origin)] if origin else []
        return GatewayResult(result.status, [*headers, ("Vary", "Origin")], result.body)

    def users(self) -> list[dict[str, Any]]:
        """Every stored user, oldest first, without the stored hashes (``has_password`` says if one is set)."""
        users = []
        for item in self._scan():
            user = {name: _plain(value) for name, value in item.items() if not any(m in name for m in _SECRET_MARKERS)}
            users.append(user | {"has_password": any("password" in name and "hash" in name for name in item)})
        return sorted(users, key=lambda user: (str(user.get("created_at", "")), str(user.get("phone", ""))))

    def delete_users(self, phone: str | None = None) -> None:
        """Delete one user (E.164 ``phone``) or all of them."""
        table, key_names = self._users_table(), self._users_key()
        items = [{"phone": {"S": phone}}] if phone else self._scan()
        for item in items:
            self._dynamodb.delete_item(TableName=table, Key={name: item[name] for name in key_names})

    def _users_table(self) -> str:
        assert self.stack is not None
        return self.stack.model.environment["USERS_TABLE_NAME"]

    def _users_key(self) -> list[str]:
        """The users table's key attributes, as the template defines them."""
        assert self.stack is not None
        (props,) = [t for lid, t in self.stack.model.tables.items() if local_name(lid) == self._users_table()]
        return [key["AttributeName"] for key in props["KeySchema"]]

    def _scan(self) -> list[dict[str, Any]]:
        pages = self._dynamodb.get_paginator("scan").paginate(TableName=self._users_table(), ConsistentRead=True)
        return [item for page in pages for item in page.get("Items", [])]

    # ------------------------------------------------------------------ files
    def _openapi(self, request: IncomingRequest) -> GatewayResult:
        """The committed document, its server the stack as this browser reaches it (so "Try it out" works)."""
        document = json.loads(OPENAPI_JSON.read_text(encoding="utf-8"))
        host = request.header("Host") or (self.stack.url.removeprefix("http://") if self.stack else "127.0.0.1")
        document["servers"] = [{"url": f"http://{host}", "description": "this local stack (make run)"}]
        return _answer(200, "application/json", json.dumps(document, ensure_ascii=False).encode())

    def _file(self, root: Path, path: str, request: IncomingRequest, *, fallback: bool = False) -> GatewayResult | None:
        """The file ``path`` names under ``root`` (a folder's index.html), else None.

        With ``fallback``, a browser navigating to a path without an extension gets the root's
        index.html (client-side routing), as Vite's dev server does.
        """
        parts = [part for part in path.split("/") if part not in ("", ".")]
        relative, root = PurePosixPath(*parts), root.resolve()
        target = (root / relative).resolve()
        if ".." in parts or not target.is_relative_to(root):
            return None
        if target.is_dir():
            if not request.path.endswith("/"):  # relative links in the page need the trailing slash
                return GatewayResult(301, [("Location", request.path + "/")], b"")
            target = target / "index.html"
        navigating = "text/html" in (request.header("Accept") or "") and "." not in relative.name
        if not target.is_file() and fallback and navigating:
            target = root / "index.html"
        if not target.is_file():
            return None
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/json", "application/javascript", "image/svg+xml"):
            kind += "; charset=utf-8"
        return _answer(200, kind, target.read_bytes())


def _answer(status: int, content_type: str, body: bytes) -> GatewayResult:
    # no-cache: a page reload always shows the files as they are now (the browser still revalidates).
    return GatewayResult(status, [("Content-Type", content_type), ("Cache-Control", "no-cache")], body)


def _plain(value: Any) -> Any:
    """A DynamoDB attribute value as JSON: numbers as int or float, sets as sorted lists."""
    python = TypeDeserializer().deserialize(value)

    def convert(item: Any) -> Any:
        if isinstance(item, Decimal):
            return int(item) if item == item.to_integral_value() else float(item)
        if isinstance(item, set | frozenset):
            return sorted(convert(member) for member in item)
        if isinstance(item, dict):
            return {key: convert(member) for key, member in item.items()}
        if isinstance(item, list):
            return [convert(member) for member in item]
        return item.value.hex() if hasattr(item, "value") and isinstance(item.value, bytes) else item

    return convert(python)
