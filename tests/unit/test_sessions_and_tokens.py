"""Access tokens, the authorizer, /auth/me and /auth/logout.

Every refusal goes through the authorizer as API Gateway runs it and must be a 401 with
our error code, never a 500. Forged tokens are built with PyJWT from a real token, changing
one thing at a time, so each test shows that exactly that one thing is checked.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
from typing import Any

import boto3
import jwt
import pytest

from tests.helpers import Api, Context, FakeClock, load_event, load_handler, response_keys, sign_in

PHONE = "+66812345678"
THAI = re.compile(r"[\u0e00-\u0e7f]")


# ------------------------------------------------------------------ helpers
def me(api: Api, token: str | None, **kwargs: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
    return api.call("me", token=token, **kwargs)


def assert_refused(answer: tuple[int, dict[str, Any], dict[str, str]], code: str) -> None:
    status, body, _ = answer
    assert status == 401, body
    assert body["success"] is False
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"].strip()


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def signed(claims: dict[str, Any], *, key: bytes | None = None, headers: dict[str, Any] | None = None) -> str:
    from phone_auth.keys import key_ring

    ring = key_ring()
    return jwt.encode(
        claims,
        ring.token_signing_key if key is None else key,
        algorithm="HS256",
        headers={"kid": ring.kid} if headers is None else headers,
    )


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def authorizer(headers: dict[str, str]) -> dict[str, Any]:
    event = load_event("authorizer")
    event["headers"] = headers
    event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    result: dict[str, Any] = load_handler("authorizer").lambda_handler(event, Context())
    return result


def user_row(phone: str = PHONE) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(os.environ["USERS_TABLE_NAME"])
    item: dict[str, Any] = table.get_item(Key={"phone": phone}, ConsistentRead=True)["Item"]
    return item


# ------------------------------------------------------------------ revocation
def test_old_token_is_refused_after_logout(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    assert me(api, token)[0] == 200
    clock.advance(30)
    assert api.call("logout", token=token)[0] == 200
    assert_refused(me(api, token), "TOKEN_REVOKED")
    assert_refused(api.call("logout", token=token), "TOKEN_REVOKED")


def test_old_token_stays_refused_after_logging_in_again(api: Api, clock: FakeClock) -> None:
    old = sign_in(api)["access_token"]
    clock.advance(30)
    assert api.call("logout", token=old)[0] == 200
    clock.advance(30)
    again = sign_in(api)
    new = again["access_token"]
    assert new != old

    assert_refused(me(api, old), "TOKEN_REVOKED")
    status, body, _ = me(api, new)
    assert status == 200
    assert body["user"]["id"] == again["user"]["id"]
    assert body["user"]["is_active"] is True
    # The revoked token cannot end the new session either.
    assert_refused(api.call("logout", token=old), "TOKEN_REVOKED")
    assert me(api, new)[0] == 200
    assert user_row()["is_active"] is True


def test_logout_ends_every_session_of_the_user(api: Api, clock: FakeClock) -> None:
    phone_one = sign_in(api)["access_token"]
    clock.advance(1)
    phone_two = sign_in(api)["access_token"]
    assert me(api, phone_one)[0] == 200 and me(api, phone_two)[0] == 200
    assert api.call("logout", token=phone_two)[0] == 200
    assert_refused(me(api, phone_one), "TOKEN_REVOKED")
    assert_refused(me(api, phone_two), "TOKEN_REVOKED")


def test_logout_message_follows_accept_language(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    status, body, _ = api.call("logout", token=token, headers={"Accept-Language": "en"})
    assert status == 200
    assert not THAI.search(body["message"])
    token = sign_in(api)["access_token"]
    status, body, _ = api.call("logout", token=token, headers={"Accept-Language": "th"})
    assert status == 200
    assert THAI.search(body["message"])


def test_a_deactivated_user_is_refused(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    table = boto3.resource("dynamodb").Table(os.environ["USERS_TABLE_NAME"])
    table.update_item(
        Key={"phone": PHONE}, UpdateExpression="SET is_active = :f", ExpressionAttributeValues={":f": False}
    )
    assert_refused(me(api, token), "TOKEN_REVOKED")


# ------------------------------------------------------------------ expiry
def test_token_works_until_its_lifetime_ends(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    clock.advance(int(os.environ["ACCESS_TOKEN_TTL_SECONDS"]) - 1)
    assert me(api, token)[0] == 200


def test_expired_token_is_refused(api: Api, clock: FakeClock) -> None:
    from phone_auth.tokens import CLOCK_SKEW_SECONDS

    body = sign_in(api)
    assert body["expires_in"] == int(os.environ["ACCESS_TOKEN_TTL_SECONDS"])
    _, claims = parts(body["access_token"])
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    clock.advance(body["expires_in"] + CLOCK_SKEW_SECONDS + 1)
    assert_refused(me(api, body["access_token"]), "TOKEN_EXPIRED")
    assert_refused(api.call("logout", token=body["access_token"]), "TOKEN_EXPIRED")
    assert user_row()["is_active"] is True


def test_token_from_the_future_is_refused(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    _, claims = parts(token)
    claims["iat"] = claims["nbf"] = claims["iat"] + 3600
    claims["exp"] += 3600
    assert_refused(me(api, signed(claims)), "TOKEN_INVALID")


def test_a_token_not_yet_valid_is_refused(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    header, claims = parts(token)
    assert_refused(me(api, signed({**claims, "nbf": claims["iat"] + 600}, headers=header)), "TOKEN_INVALID")


def test_a_lifetime_longer_than_the_configured_one_is_refused(api: Api, clock: FakeClock) -> None:
    """Only our key can sign such a token, but we never issue one: a leaked key's forgeries
    or an old build's tokens must not live for years."""
    token = sign_in(api)["access_token"]
    header, claims = parts(token)
    assert_refused(
        me(api, signed({**claims, "exp": claims["iat"] + 10 * 365 * 86400}, headers=header)), "TOKEN_INVALID"
    )
    assert me(api, signed({**claims, "exp": claims["iat"] + 900}, headers=header))[0] == 200  # the control


def test_an_audience_list_that_contains_ours_is_refused(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    header, claims = parts(token)
    for audience in (["phone-auth-api", "another-api"], ["phone-auth-api"]):
        assert_refused(me(api, signed({**claims, "aud": audience}, headers=header)), "TOKEN_INVALID")


# ------------------------------------------------------------------ forgeries
def test_a_token_resigned_unchanged_is_accepted(api: Api, clock: FakeClock) -> None:
    # The control for the forgeries below: the crafting itself is right.
    token = sign_in(api)["access_token"]
    header, claims = parts(token)
    assert me(api, signed(claims, headers=header))[0] == 200


def test_tampered_payload_is_refused(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    header_part, _, signature = token.split(".")
    _, claims = parts(token)
    claims["sep"] = claims["sep"] + 1
    forged = f"{header_part}.{b64(claims)}.{signature}"
    assert_refused(me(api, forged), "TOKEN_INVALID")


def test_tampered_signature_is_refused(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    head, payload, signature = token.split(".")
    # Change a character in the middle: the last one may only carry padding bits.
    middle = len(signature) // 2
    replacement = "A" if signature[middle] != "A" else "B"
    forged = f"{head}.{payload}.{signature[:middle]}{replacement}{signature[middle + 1 :]}"
    assert_refused(me(api, forged), "TOKEN_INVALID")
    assert_refused(me(api, f"{head}.{payload}."), "TOKEN_INVALID")


def test_alg_none_token_is_refused(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    header, claims = parts(token)
    unsigned = f"{b64({**header, 'alg': 'none'})}.{b64(claims)}."
    assert_refused(me(api, unsigned), "TOKEN_INVALID")
    # Same, with the original signature kept.
    assert_refused(me(api, unsigned + token.split(".")[2]), "TOKEN_INVALID")


@pytest.mark.filterwarnings("ignore:The HMAC key")
def test_token_with_another_algorithm_is_refused(api: Api, clock: FakeClock) -> None:
    from phone_auth.keys import key_ring

    token = sign_in(api)["access_token"]
    header, claims = parts(token)
    forged = jwt.encode(claims, key_ring().token_signing_key, algorithm="HS512", headers={"kid": header["kid"]})
    assert_refused(me(api, forged), "TOKEN_INVALID")


def test_token_signed_with_another_secret_is_refused(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    header, claims = parts(token)
    assert_refused(me(api, signed(claims, key=secrets.token_bytes(32), headers=header)), "TOKEN_INVALID")


def test_token_signed_with_the_raw_master_secret_is_refused(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    header, claims = parts(token)
    value = boto3.client("ssm").get_parameter(Name=os.environ["JWT_SECRET_PARAMETER_NAME"], WithDecryption=True)
    master = value["Parameter"]["Value"].encode()
    assert_refused(me(api, signed(claims, key=master, headers=header)), "TOKEN_INVALID")


def outcome(answer: tuple[int, dict[str, Any], dict[str, str]]) -> tuple[int, str | None]:
    status, body, _ = answer
    error = body.get("error") or {}
    assert status != 401 or (isinstance(error.get("message"), str) and error["message"].strip())
    return status, error.get("code")


WRONG_CLAIMS: dict[str, Any] = {
    "aud": "some-other-api",
    "iss": "someone-else",
    "market": "vn",
    "token_use": "registration",
    "sep": "0",
    "sub": 12345,
    "phone": 66812345678,
}


def test_token_with_one_wrong_claim_is_refused(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    header, claims = parts(token)
    answers = {
        claim: outcome(me(api, signed({**claims, claim: value}, headers=header)))
        for claim, value in WRONG_CLAIMS.items()
    }
    assert answers == dict.fromkeys(WRONG_CLAIMS, (401, "TOKEN_INVALID"))


def test_token_missing_a_claim_is_refused(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    header, claims = parts(token)
    required = ["sub", "exp", "iat", "iss", "aud", "jti", "phone", "sep", "market", "sid"]
    answers = {
        claim: outcome(me(api, signed({k: v for k, v in claims.items() if k != claim}, headers=header)))
        for claim in required
    }
    assert answers == dict.fromkeys(required, (401, "TOKEN_INVALID"))


def test_token_with_an_unknown_kid_is_refused(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    header, claims = parts(token)
    assert_refused(me(api, signed(claims, headers={**header, "kid": "someone-elses-key"})), "TOKEN_INVALID")
    no_kid = {k: v for k, v in header.items() if k != "kid"}
    assert_refused(me(api, signed(claims, headers=no_kid)), "TOKEN_INVALID")


def test_token_of_another_user_id_for_the_phone_is_refused(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    header, claims = parts(token)
    claims["sub"] = "not-" + claims["sub"]
    assert_refused(me(api, signed(claims, headers=header)), "TOKEN_REVOKED")


def test_token_for_a_phone_without_a_user_is_refused(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    header, claims = parts(token)
    claims["phone"] = "+66898765432"
    assert_refused(me(api, signed(claims, headers=header)), "TOKEN_REVOKED")


GARBAGE = ["abc", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9", "ey." * 3000, "ñ.ñ.ñ", '{"alg":"none"}', "\x00", "🙂"]


def test_garbage_tokens_are_invalid_not_errors(api: Api, clock: FakeClock) -> None:
    sign_in(api)
    answers = {garbage[:20]: outcome(me(api, garbage)) for garbage in GARBAGE}
    assert answers == dict.fromkeys(answers, (401, "TOKEN_INVALID"))


# ------------------------------------------------------------------ the header
NOT_BEARER = [None, "", "Basic x", "Bearer", "Bearer ", "Bearer    ", "Token abc", "bearer", "Bearerabc"]


def test_missing_or_non_bearer_header_is_token_missing(api: Api, clock: FakeClock) -> None:
    sign_in(api)
    # api.call drops "Authorization"; the lowercase spelling is how HTTP/2 clients send it.
    answers = {
        repr(value): outcome(me(api, None, headers={} if value is None else {"authorization": value}))
        for value in NOT_BEARER
    }
    assert answers == dict.fromkeys(answers, (401, "TOKEN_MISSING"))


def test_scheme_is_case_insensitive(api: Api, clock: FakeClock) -> None:
    token = sign_in(api)["access_token"]
    assert me(api, None, headers={"authorization": f"bearer {token}"})[0] == 200
    assert me(api, None, headers={"authorization": f"BEARER {token}"})[0] == 200


def test_refusal_message_follows_accept_language(api: Api, clock: FakeClock) -> None:
    status, body, _ = me(api, None, headers={"Accept-Language": "th"})
    assert status == 401 and THAI.search(body["error"]["message"])
    status, body, _ = me(api, None, headers={"Accept-Language": "en"})
    assert status == 401 and not THAI.search(body["error"]["message"])


# ------------------------------------------------------------------ the authorizer itself
def test_authorizer_allows_with_the_user_in_the_context(api: Api, clock: FakeClock) -> None:
    body = sign_in(api)
    result = authorizer({"Authorization": f"Bearer {body['access_token']}"})
    statement = result["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    # The whole stage, so a cached answer is valid for every route it guards.
    assert statement["Resource"].endswith("/dev/*/*")
    assert result["principalId"] == body["user"]["id"]
    context = result["context"]
    assert context["user_id"] == body["user"]["id"]
    assert context["phone"] == PHONE
    assert context["market"] == os.environ["MARKET"]
    assert context["session_epoch"] == str(user_row()["session_epoch"])
    assert context["token_id"] == parts(body["access_token"])[1]["jti"]
    # API Gateway only passes strings, numbers and booleans in the context.
    assert all(isinstance(v, (str, int, bool)) for v in context.values())


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}])
def test_authorizer_denies_with_our_error_code(clock: FakeClock, headers: dict[str, str]) -> None:
    result = authorizer(headers)
    statement = result["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert result["context"]["error_code"] in {"TOKEN_MISSING", "TOKEN_INVALID"}
    assert result["context"]["error_message"]


def test_authorizer_survives_an_event_without_headers(clock: FakeClock) -> None:
    event = load_event("authorizer")
    event["headers"] = None
    event.pop("multiValueHeaders", None)
    result = load_handler("authorizer").lambda_handler(event, Context())
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert result["context"]["error_code"] == "TOKEN_MISSING"


# ------------------------------------------------------------------ me
def test_me_shows_the_current_state_of_the_user(api: Api, clock: FakeClock) -> None:
    body = sign_in(api)
    status, answer, _ = me(api, body["access_token"])
    assert status == 200
    assert set(answer) == response_keys("me")
    assert answer["user"]["id"] == body["user"]["id"]
    assert answer["user"]["phone"] == PHONE
    assert answer["user"]["is_active"] is True
    assert answer["user"]["last_login"] == body["user"]["last_login"]


def test_me_and_logout_without_an_authorizer_context_are_refused_not_trusted() -> None:
    from tests.helpers import Context, load_event, load_handler

    for function_dir in ("me", "logout"):
        event = load_event(function_dir)
        event["requestContext"].pop("authorizer", None)
        response = load_handler(function_dir).lambda_handler(event, Context())
        body = json.loads(response["body"])
        assert (response["statusCode"], body["error"]["code"]) == (401, "TOKEN_MISSING")
