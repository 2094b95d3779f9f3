"""The committed openapi.json is what the code generates, and covers every route of the template."""

from __future__ import annotations

import json

import pytest

from devtools import openapi
from devtools.handlers import ADMIN_API


@pytest.mark.parametrize("api", sorted(openapi.OUTPUTS))
def test_committed_openapi_documents_match_the_code(api: str) -> None:
    output = openapi.OUTPUTS[api]
    assert output.read_text() == openapi.render(api), f"{output.name} is stale: run `make openapi`"


def test_the_admin_document_has_every_admin_route_signed_and_the_public_one_none() -> None:
    admin = json.loads(openapi.render(ADMIN_API))
    public = json.loads(openapi.render())
    admin_routes = openapi.routes(ADMIN_API)
    assert (
        {route.path for route in admin_routes}
        == set(admin["paths"])
        == {
            "/admin/imports",
            "/admin/imports/{import_id}",
            "/admin/users",
            "/admin/users/{phone}",
            "/admin/users/{phone}/disable",
            "/admin/users/{phone}/enable",
            "/admin/users/{phone}/sign-out",
        }
    )
    for route in admin_routes:
        assert admin["paths"][route.path][route.method]["security"] == [{"sigv4": []}]
    assert not [path for path in public["paths"] if path.startswith("/admin")]


def test_every_template_route_is_documented_with_explicit_models() -> None:
    document = json.loads(openapi.render())
    schemas = document["components"]["schemas"]
    for route in openapi.routes():
        method, path, secured = route.method, route.path, route.protected
        operation = document["paths"][path][method]
        ok_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ok_schema.rsplit("/", 1)[1] in schemas
        if method == "post" and path not in ("/auth/logout",):
            body_schema = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert body_schema.rsplit("/", 1)[1] in schemas
        assert ("security" in operation) == secured
    assert "ErrorResponse" in schemas


def test_request_schemas_name_the_fields_the_existing_frontends_send() -> None:
    schemas = json.loads(openapi.render())["components"]["schemas"]
    assert set(schemas["VerifyCodeRequest"]["required"]) == {"phone", "verification_code"}
    assert set(schemas["AuthSuccessResponse"]["properties"]) >= {
        "success",
        "access_token",
        "token_type",
        "expires_in",
        "user",
        "is_new_user",
    }
