"""The error classes are the one source of error codes: everything else that names a code
(messages, the error table in docs/api.md, the template's gateway responses) must agree with them."""

from __future__ import annotations

import json
import re

import pytest

from phone_auth.errors import AuthError, catalogue
from phone_auth.messages import MESSAGES, SUPPORTED_LANGUAGES
from tests.helpers import ROOT, template


def test_every_code_has_a_status_a_meaning_and_a_message_in_every_language() -> None:
    for code, error in catalogue().items():
        assert re.fullmatch(r"[A-Z][A-Z_]+", code)
        assert 400 <= error.status <= 599
        assert (error.__doc__ or "").strip(), f"{error.__name__} needs a one-line meaning"
        for language in SUPPORTED_LANGUAGES:
            assert MESSAGES[code][language], (code, language)


def documented_error_table() -> dict[str, list[int]]:
    """code -> statuses its row names, from the table under docs/api.md's "Errors"."""
    text = (ROOT / "docs" / "api.md").read_text()
    found: dict[str, list[int]] = {}
    for line in text.splitlines():
        match = re.fullmatch(r"\| ([0-9 /]+) \| (.*) \|", line.strip())
        if not match or "`" not in match.group(2):
            continue
        statuses = [int(status) for status in match.group(1).split("/")]
        for code in re.findall(r"`([A-Z][A-Z_]+)`", match.group(2)):
            found.setdefault(code, []).extend(statuses)
    return found


def test_the_documented_error_table_names_every_code_with_its_status() -> None:
    table = documented_error_table()
    codes = catalogue()
    unknown = set(table) - set(codes)
    assert not unknown, f"docs/api.md names codes that do not exist: {unknown}"
    for code, statuses in table.items():
        assert codes[code].status in statuses, (code, statuses)
    missing = set(codes) - set(table)
    assert not missing, f"docs/api.md's error table misses {missing}"


def gateway_responses() -> dict[str, dict[str, object]]:
    """ "<API logical id>.<response type>" -> its definition, for every REST API of the template."""
    return {
        f"{api_id}.{response_type}": response
        for api_id, api in template()["Resources"].items()
        if api["Type"] == "AWS::Serverless::Api"
        for response_type, response in api["Properties"]["GatewayResponses"].items()
    }


@pytest.mark.parametrize("response_type", sorted(gateway_responses()))
def test_each_gateway_response_names_a_real_code_with_its_status_and_message(response_type: str) -> None:
    response = gateway_responses()[response_type]
    templates = response["ResponseTemplates"]
    assert isinstance(templates, dict)
    body = templates["application/json"]
    if "$context.authorizer.error_code" in body:
        return  # the authorizer fills in one of our codes (ACCESS_DENIED)
    error = json.loads(body)["error"]
    error_class: type[AuthError] = catalogue()[error["code"]]
    if "StatusCode" in response:
        assert int(str(response["StatusCode"])) == error_class.status
    assert error["message"] == MESSAGES[error["code"]]["en"]


@pytest.mark.parametrize("document_name", ["openapi.json", "openapi-admin.json"])
def test_the_openapi_document_lists_every_code_under_its_status(document_name: str) -> None:
    document = json.loads((ROOT / document_name).read_text())
    described: dict[str, str] = {}
    for operation in (op for path in document["paths"].values() for op in path.values()):
        for status, response in operation["responses"].items():
            for code in re.findall(r"`([A-Z][A-Z_]+)`", response["description"]):
                described[code] = status
    assert described == {code: str(error.status) for code, error in catalogue().items()}
