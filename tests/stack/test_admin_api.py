"""The admin API on the local stack, over HTTP and signed with botocore's SigV4: every route
answers its signed caller and refuses an unsigned or mis-signed one as API Gateway does; a
disabled user's token stops at once; the audit trail names the signing principal.
"""

from __future__ import annotations

import json
import sys

import pytest

from devtools.local_stack import LocalStack
from devtools.local_stack.sigv4 import LOCAL_PRINCIPAL_ARN
from tests.helpers import PHONE, password_hash
from tests.helpers.stack import StackApi, call, fetch, signed_fetch

AT = "/admin/users/%2B66812345678"
PASSWORD = "Suan-Luang-2468"


def test_info_names_the_admin_api_and_its_local_credentials(stack: LocalStack) -> None:
    status, _, info = call(stack, "GET", "/_local/info")
    assert status == 200
    assert info["admin_api"] == f"{stack.url}/_admin"
    assert set(info["admin_credentials"]) >= {"access_key_id", "secret_access_key", "region", "service"}


def test_every_route_answers_a_signed_call(stack: LocalStack) -> None:
    body = {"profile": {"branch": "Hat Yai"}, "password_hash": password_hash(PASSWORD)}
    status, _, created = signed_fetch(stack, "PUT", AT, body)
    assert (status, created["outcome"]) == (201, "created"), created
    assert signed_fetch(stack, "PUT", "/admin/users/0812345678", body)[2]["outcome"] == "unchanged"
    status, _, got = signed_fetch(stack, "GET", AT)
    assert (status, got["user"]["phone"], got["user"]["disabled"]) == (200, PHONE, False)
    status, _, page = signed_fetch(stack, "GET", "/admin/users?limit=1")
    assert status == 200 and len(page["users"]) == 1

    # A signed-in user: disabling ends the session at once, the right password then gets 403.
    api = StackApi(stack)
    signed_in = api.call("login_mobile", {"phone": PHONE, "password": PASSWORD})[1]
    assert api.call("me", token=signed_in["access_token"])[0] == 200
    assert signed_fetch(stack, "POST", AT + "/disable")[0] == 200
    assert api.call("me", token=signed_in["access_token"])[0] == 401
    refused = api.call("login_mobile", {"phone": PHONE, "password": PASSWORD})
    assert (refused[0], refused[1]["error"]["code"]) == (403, "ACCOUNT_DISABLED")
    assert signed_fetch(stack, "POST", AT + "/enable")[0] == 200
    again = api.call("login_mobile", {"phone": PHONE, "password": PASSWORD})[1]
    assert signed_fetch(stack, "POST", AT + "/sign-out")[0] == 200
    assert api.call("me", token=again["access_token"])[0] == 401

    assert signed_fetch(stack, "DELETE", AT)[0] == 200
    status, _, gone = signed_fetch(stack, "DELETE", AT)
    assert (status, gone["error"]["code"]) == (404, "USER_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", AT),
        ("PUT", AT),
        ("GET", "/admin/users"),
        ("POST", AT + "/disable"),
        ("POST", AT + "/enable"),
        ("POST", AT + "/sign-out"),
        ("DELETE", AT),
    ],
)
def test_unsigned_and_mis_signed_calls_are_refused_before_any_function(
    stack: LocalStack, method: str, path: str
) -> None:
    status, headers, raw = fetch(stack, method, "/_admin" + path, {} if method == "PUT" else None)
    assert (status, headers["x-amzn-errortype"]) == (403, "MissingAuthenticationTokenException"), raw
    other = {"access_key_id": "AKIALOCALBACKOFFICE1", "secret_access_key": "not-the-secret"}
    for answer in (
        signed_fetch(stack, method, path, {} if method == "PUT" else None, credentials=other),
        signed_fetch(stack, method, path, {"profile": {}}, tamper=True),
        signed_fetch(stack, method, path, None, region="us-east-1"),
    ):
        status, headers, body = answer
        assert (status, headers["x-amzn-errortype"], body["error"]["code"]) == (
            403,
            "InvalidSignatureException",
            "INVALID_SIGNATURE",
        )


def test_the_public_api_has_no_admin_route_and_a_bearer_token_is_no_signature(stack: LocalStack) -> None:
    status, _, body = call(stack, "GET", AT)
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    status, _, body = call(stack, "GET", "/_admin" + AT, headers={"Authorization": "Bearer eyJhbGciOi.x.y"})
    assert (status, body["error"]["code"]) == (403, "MISSING_AUTHENTICATION_TOKEN")
    status, _, body = signed_fetch(stack, "GET", "/auth/me")
    assert (status, body["error"]["code"]) == (403, "MISSING_AUTHENTICATION_TOKEN")


def test_the_audit_lines_carry_the_signing_principal(
    stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from phone_auth.observability import logger

    monkeypatch.setattr(logger.registered_handler, "stream", sys.stdout)  # bound at import time
    capsys.readouterr()
    signed_fetch(stack, "GET", "/admin/users/%2B66899999999")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (audit,) = [line["audit"] for line in lines if line.get("message") == "admin action"]
    assert audit["principal_arn"] == LOCAL_PRINCIPAL_ARN
    assert (audit["action"], audit["status"], audit["outcome"]) == ("get_user", 404, "USER_NOT_FOUND")
    assert "+66899999999" not in json.dumps(lines)
