"""Generate openapi.json (the public API) and openapi-admin.json (the back office's admin API)
from template.yaml's routes and each handler's pydantic models.

Every API function's handler carries `request_model` and `response_model` (set by
phone_auth.api.endpoint.api_endpoint and phone_auth.api.admin.admin_endpoint); the routes,
methods, authorizers and the API each route belongs to come from the template, so a document
cannot list an endpoint the stack does not have. `make openapi` writes both files; a test
fails when a committed file differs from what the code would generate.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from devtools import local_env
from devtools.handlers import ADMIN_API, ApiRoute, template_routes
from devtools.template import load_template

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_API = "PhoneAuthApi"
#: Each REST API of the template -> its committed document.
OUTPUTS = {PUBLIC_API: ROOT / "openapi.json", ADMIN_API: ROOT / "openapi-admin.json"}
OUTPUT = OUTPUTS[PUBLIC_API]
_INFO = {
    PUBLIC_API: {
        "title": "phone-auth",
        "version": "1.0.0",
        "description": "Phone-number authentication: SMS-code login, back-office registration, password login.",
    },
    ADMIN_API: {
        "title": "phone-auth admin API",
        "version": "1.0.0",
        "description": (
            "The back office's own API: user management, signed with AWS SigV4 (service execute-api) by an "
            "IAM principal allowed execute-api:Invoke on it (the stack's BackOfficePolicy). Every call is audited."
        ),
    },
}
_SERVERS = {
    PUBLIC_API: {"url": "{apiBaseUrl}", "variables": {"apiBaseUrl": {"default": "http://127.0.0.1:3000"}}},
    ADMIN_API: {
        "url": "{adminApiBaseUrl}",
        "variables": {"adminApiBaseUrl": {"default": "http://127.0.0.1:3000/_admin"}},
    },
}
_SECURITY_SCHEMES = {
    PUBLIC_API: {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
    ADMIN_API: {
        "sigv4": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "description": "AWS Signature Version 4 (service execute-api), as botocore's SigV4Auth signs.",
        }
    },
}


def _error_responses() -> dict[str, str]:
    """Status -> the codes it may carry and what each means, from phone_auth.errors' classes."""
    from phone_auth.errors import catalogue

    by_status: dict[str, list[str]] = {}
    for code, error in catalogue().items():
        meaning = (error.__doc__ or "").strip().splitlines()[0]
        by_status.setdefault(str(error.status), []).append(f"`{code}`: {meaning}")
    return {status: "\n".join(lines) for status, lines in by_status.items()}


def routes(api: str = PUBLIC_API) -> list[ApiRoute]:
    """Every route of the template's REST API ``api``, by path and method."""
    return [route for route in template_routes(load_template(ROOT / "template.yaml")) if route.api == api]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _path_parameters(path: str) -> list[dict[str, Any]]:
    """The ``{name}`` segments of ``path``, each described by its field of phone_auth.api.models.PathParameters."""
    from phone_auth.api.models import PathParameters

    properties = PathParameters.model_json_schema()["properties"]
    parameters = []
    for name in re.findall(r"\{(\w+)\}", path):
        if name not in properties:
            raise KeyError(f"{path}: no field {name!r} in phone_auth.api.models.PathParameters")
        schema = dict(properties[name])
        description = schema.pop("description", None)
        schema.pop("title", None)
        parameter = {"name": name, "in": "path", "required": True, "schema": schema}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def build_document(api: str = PUBLIC_API) -> dict[str, Any]:
    # The handlers read their settings when imported: the fake environment's, unless set (no AWS call is made).
    for name, value in local_env.environment("openapi").items():
        os.environ.setdefault(name, value)
    from devtools.handlers import function_module
    from phone_auth.api.models import ErrorResponse

    operations: list[tuple[ApiRoute, type[BaseModel] | None, type[BaseModel]]] = []
    for route in routes(api):
        handler = function_module(route.function).lambda_handler
        operations.append((route, handler.request_model, handler.response_model))

    models: list[tuple[type[BaseModel], Any]] = [(ErrorResponse, "serialization")]
    for *_, request_model, response_model in operations:
        if request_model is not None:
            models.append((request_model, "validation"))
        models.append((response_model, "serialization"))
    _, schemas = models_json_schema(list(dict.fromkeys(models)), ref_template="#/components/schemas/{model}")

    error_responses = _error_responses()
    paths: dict[str, dict[str, Any]] = {}
    for route, request_model, response_model in operations:
        responses: dict[str, Any] = {
            "200": {
                "description": "Success",
                "content": {"application/json": {"schema": _ref(response_model)}},
            }
        }
        for status, text in error_responses.items():
            responses[status] = {
                "description": text,
                "content": {"application/json": {"schema": _ref(ErrorResponse)}},
            }
        operation: dict[str, Any] = {
            "operationId": route.function,
            "summary": (function_module(route.function).__doc__ or "").strip().splitlines()[0],
            "parameters": [
                *_path_parameters(route.path),
                {
                    "name": "Accept-Language",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "th for Thai messages, English otherwise.",
                },
            ],
            "responses": responses,
        }
        if request_model is not None:
            operation["requestBody"] = {
                # No body reads as {} (phone_auth.api.endpoint.read_json_body): optional when no field is required.
                "required": any(field.is_required() for field in request_model.model_fields.values()),
                "content": {"application/json": {"schema": _ref(request_model)}},
            }
        if route.protected:
            operation["security"] = [{"bearerAuth": []}]
        if route.signed:
            operation["security"] = [{"sigv4": []}]
        paths.setdefault(route.path, {})[route.method] = operation

    return {
        "openapi": "3.1.0",
        "info": _INFO[api],
        "servers": [_SERVERS[api]],
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {}), "securitySchemes": _SECURITY_SCHEMES[api]},
    }


def render(api: str = PUBLIC_API) -> str:
    return json.dumps(build_document(api), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write openapi.json and openapi-admin.json from the code.")
    parser.add_argument("--check", action="store_true", help="exit 1 if a document is not up to date")
    args = parser.parse_args(argv)
    stale = 0
    for api, output in OUTPUTS.items():
        text = render(api)
        if args.check:
            if not output.exists() or output.read_text() != text:
                print(f"{output.name} is out of date: run `make openapi`", file=sys.stderr)
                stale = 1
            continue
        output.write_text(text)
        print(f"wrote {output.relative_to(ROOT)}")
    return stale


if __name__ == "__main__":
    raise SystemExit(main())
