"""CORS: ALLOWED_ORIGINS is a list, the functions echo a listed Origin, production names exact origins.

API Gateway's own preflight and gateway responses can only carry one static value, the first
origin (template.yaml); the local stack answers every listed origin (tests/stack/test_local_stack.py).
"""

from __future__ import annotations

import pytest

from devtools.template import load_template
from phone_auth.settings import SettingsError, cors_origin, load_settings, origin_matches
from tests.helpers import TEST_ENV, Api, SetEnv

LOCAL_DEFAULT = ("http://localhost:*", "http://127.0.0.1:*")


@pytest.mark.parametrize(
    ("origin", "allowed", "matches"),
    [
        ("https://app.example.com", "https://app.example.com", True),
        ("https://app.example.com:443", "https://app.example.com", False),
        ("http://localhost:5173", "http://localhost:*", True),
        ("http://localhost", "http://localhost:*", True),
        ("http://localhost:5173", "https://localhost:*", False),
        ("http://localhost.evil.test:80", "http://localhost:*", False),
        ("http://localhost:80/x", "http://localhost:*", False),
        ("http://127.0.0.1:3000", "http://localhost:*", False),
    ],
)
def test_an_origin_matches_exactly_or_on_any_port_of_a_host_pattern(origin: str, allowed: str, matches: bool) -> None:
    assert origin_matches(origin, allowed) is matches


def test_the_answer_is_the_request_origin_when_listed_else_the_first_exact_one() -> None:
    allowed = ("https://app.example.com", "https://admin.example.com", "http://localhost:*")
    assert cors_origin("https://admin.example.com", allowed) == "https://admin.example.com"
    assert cors_origin("http://localhost:8080", allowed) == "http://localhost:8080"
    assert cors_origin("https://evil.test", allowed) == "https://app.example.com"
    assert cors_origin(None, allowed) == "https://app.example.com"
    assert cors_origin("https://evil.test", LOCAL_DEFAULT) is None


def settings_with(**values: str) -> tuple[str, ...]:
    return load_settings({**TEST_ENV, **values}).allowed_origins


def test_allowed_origins_is_a_comma_separated_list() -> None:
    assert settings_with() == ("http://localhost:5173",)
    assert settings_with(ALLOWED_ORIGINS="https://a.example,https://b.example:8443") == (
        "https://a.example",
        "https://b.example:8443",
    )


@pytest.mark.parametrize(
    "value",
    ["https://a.example/", "https://a.example, https://b.example", "https://a.example,", "*", "https://*.example"],
)
def test_paths_spaces_empty_entries_and_wildcard_hosts_are_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="ALLOWED_ORIGINS"):
        settings_with(ALLOWED_ORIGINS=value)


def test_production_refuses_a_host_pattern() -> None:
    with pytest.raises(SettingsError, match="exact origins"):
        settings_with(ENVIRONMENT="production", ALLOWED_ORIGINS="https://app.example.com,http://localhost:*")
    assert settings_with(ENVIRONMENT="production", ALLOWED_ORIGINS="https://app.example.com") == (
        "https://app.example.com",
    )
    assert settings_with(ENVIRONMENT="development", ALLOWED_ORIGINS="http://localhost:*") == ("http://localhost:*",)
    # The stage's name does not make a stack production: ENVIRONMENT does.
    assert settings_with(STAGE="prod", ALLOWED_ORIGINS="http://localhost:*") == ("http://localhost:*",)


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("https://admin.example.com", "https://admin.example.com"),
        ("https://app.example.com", "https://app.example.com"),
        ("https://evil.test", "https://app.example.com"),
    ],
)
def test_functions_echo_a_listed_origin(api: Api, env: SetEnv, origin: str, expected: str) -> None:
    env(ALLOWED_ORIGINS="https://app.example.com,https://admin.example.com")
    for body in ({"phone": "+66812345678"}, {"phone": "not a phone"}):  # a success and an error
        _, _, headers = api.call("check_mobile", body, headers={"Origin": origin})
        assert headers["Access-Control-Allow-Origin"] == expected
        assert "Origin" in headers["Vary"]


def test_without_an_exact_origin_an_unlisted_origin_gets_no_header(api: Api, env: SetEnv) -> None:
    env(ALLOWED_ORIGINS=",".join(LOCAL_DEFAULT))
    _, _, headers = api.call("check_mobile", {"phone": "+66812345678"}, headers={"Origin": "http://127.0.0.1:5173"})
    assert headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5173"
    _, _, headers = api.call("check_mobile", {"phone": "+66812345678"}, headers={"Origin": "https://evil.test"})
    assert "Access-Control-Allow-Origin" not in headers


def test_api_gateway_answers_with_the_first_origin_of_the_parameter() -> None:
    """The preflight and every gateway response name the first of AllowedOrigins (a static value)."""
    first = {"Fn::Join": ["", ["'", {"Fn::Select": [0, {"Fn::Split": [",", {"Ref": "AllowedOrigins"}]}]}, "'"]]}
    api = load_template()["Resources"]["PhoneAuthApi"]["Properties"]
    assert api["Cors"]["AllowOrigin"] == first
    assert "DELETE" in api["Cors"]["AllowMethods"]  # DELETE /auth/sessions/{id}
    for name, response in api["GatewayResponses"].items():
        assert response["ResponseParameters"]["Headers"]["Access-Control-Allow-Origin"] == first, name
