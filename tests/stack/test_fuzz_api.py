"""Schemathesis over openapi.json against the real handlers: no 5xx, nothing outside the document.

The document is the committed openapi.json; the handlers run in the in-process local stack
(``devtools.local_stack.start``: the template's routes, the authorizer and the gateway responses
as API Gateway answers them, moto for AWS), which schemathesis calls over HTTP on 127.0.0.1.
Every operation gets its schema examples, schemathesis's coverage cases (boundaries and
schema-invalid values) and a fixed number of generated cases, positive and negative, from a
fixed seed with derandomised generation, so a run is the same every time. Each answer must

* not be a 5xx (not even a documented 503: nothing here makes a dependency fail);
* have a status code, content type and body the operation documents (ErrorResponse for errors);
* refuse what the document says is invalid (a 4xx);
* be refused without a valid token on the protected routes.

Protected routes run twice: signed in (one user who registered through the API; after a logout
or an ended session it signs in again, and after it deleted its own account, or moved it to
another number, the back office imports it again) and with garbage tokens of every kind. Half of the valid
bodies generated get a phone as people type one (tests/strategies.py), so they reach the flows
behind normalize_phone; the per-IP limits are raised, every request coming from 127.0.0.1.
positive_data_acceptance is
off: a schema cannot say which strings are valid phone numbers, so a well-formed phone may well
be refused with 400 INVALID_PHONE, as documented. unsupported_method and
allow_header_conformance are off: API Gateway (REST) answers a method a path lacks with our
NOT_FOUND gateway response, never 405 (see the template's MISSING_AUTHENTICATION_TOKEN).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig

from devtools.local_stack import LocalStack, start
from tests.helpers import ROOT, password_hash, protected_functions, put_user
from tests.helpers.stack import StackApi
from tests.helpers.strategies import thai_phone_inputs

#: Generated cases per operation (valid and invalid ones together), on top of the examples and coverage.
EXAMPLES_PER_OPERATION = 20
SEED = 20261121
#: Every request comes from 127.0.0.1, so the per-IP limits would soon refuse everything and the
#: fuzzer would only see 429s; the per-phone limits and locks stay as deployed.
FUZZ_PARAMETERS = {
    "SmsPerIpPerHour": "100000",
    "SmsPerPrefixPerHour": "100000",
    "SmsPerStackPerHour": "1000000",
    "CodeChecksPerIpPerHour": "100000",
    "PasswordFailuresPerIpPerHour": "100000",
    "LookupsPerIpPerHour": "100000",
}
#: The fuzzer's own user: not a number the document's examples use.
USER_PHONE = "+66898765432"
USER_PASSWORD = "Fuzzing-Kingfisher-2026"
#: The document's example session id: in the examples phase it becomes the user's live session.
SESSION_ID_EXAMPLE = "5f0c3e9a1b7d4e2f8a6c0b1d3e5f7a9c"

CONFIG = {
    "seed": SEED,
    "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
    "generation": {
        "deterministic": True,
        "max-examples": EXAMPLES_PER_OPERATION,
        "database": "none",
        "mode": "all",
    },
    "phases": {"stateful": {"enabled": False}},
    "checks": {
        "positive_data_acceptance": {"enabled": False},
        "unsupported_method": {"enabled": False},
        "allow_header_conformance": {"enabled": False},
        # A 5xx is a failure whatever it is: the default already says so, this makes it explicit.
        "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx"]},
    },
}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    running = start(port=0, echo=False, import_sample_users=False, parameter_overrides=FUZZ_PARAMETERS)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False  # never a proxy from the developer's environment for 127.0.0.1
    yield session
    session.close()


class SignedInUser:
    """One user of the stack, registered through the API: ``token()`` is a live access token.

    Its own calls go through the document too (explicit cases, every response check), so the
    success answers of the sign-in steps are checked against their schemas as well.
    """

    def __init__(self, stack: LocalStack, http: requests.Session) -> None:
        self.stack, self.http = stack, http
        self.signed_in: dict[str, Any] | None = None

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        operation = signed_in[path][method]
        case = operation.Case(body=body, **kwargs) if body is not None else operation.Case(**kwargs)
        response = case.call_and_validate(base_url=self.stack.url, session=self.http)
        assert response.status_code == 200, (path, response.status_code, response.text)
        answer: dict[str, Any] = response.json()
        return answer

    def sms_code(self) -> str:
        return StackApi(self.stack).last_code(USER_PHONE)

    def register(self) -> None:
        self.call("POST", "/auth/request-registration-otp", {"phone": USER_PHONE})
        verified = self.call("POST", "/auth/verify-registration-otp", {"phone": USER_PHONE, "code": self.sms_code()})
        body = {"phone": USER_PHONE, "password": USER_PASSWORD, "registration_token": verified["registration_token"]}
        self.signed_in = self.call("POST", "/auth/complete-registration", body)

    def current(self) -> dict[str, Any]:
        if self.signed_in is None:
            self.signed_in = self.call("POST", "/auth/login/mobile", {"phone": USER_PHONE, "password": USER_PASSWORD})
        return self.signed_in

    def token(self) -> str:
        return str(self.current()["access_token"])

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def forget_token(self) -> None:
        self.signed_in = None

    def import_again(self) -> None:
        """DELETE /auth/me erased the user, or a number change moved it away: put it back at its
        number as the back office's import would, password and all, under a new id."""
        import uuid

        put_user(USER_PHONE, id=str(uuid.uuid4()), password_hash=password_hash(USER_PASSWORD))
        self.signed_in = None


@pytest.fixture(scope="module")
def user(stack: LocalStack, http: requests.Session) -> SignedInUser:
    signed_in_user = SignedInUser(stack, http)
    signed_in_user.register()
    return signed_in_user


def _schema(*, phases: dict[str, Any] | None = None, generation: dict[str, Any] | None = None) -> Any:
    config = json.loads(json.dumps(CONFIG))
    config["generation"].update(generation or {})
    config["phases"].update(phases or {})
    document = json.loads((ROOT / "openapi.json").read_text())
    return schemathesis.openapi.from_dict(document, config=SchemathesisConfig.from_dict(config))


# Loaded at import, not from a fixture: the schema is a file, and the stack's address is given per call.
#: Every operation; the protected ones with the user's token (schemathesis adds none).
signed_in = _schema(generation={"with-security-parameters": False})
#: The protected operations, with whatever Authorization the test gives them.
#: Generated cases only: the examples and coverage phases cannot draw the extra Authorization.
garbage = _schema(
    phases={"examples": {"enabled": False}, "coverage": {"enabled": False}},
    generation={"with-security-parameters": False},
).include(operation_id=sorted(protected_functions()))


def keeps_type[F: Callable[..., Any]](decorator: Callable[[Any], Any]) -> Callable[[F], F]:
    """A decorator of schemathesis' (they are typed as returning a bare Callable) that keeps the function's type."""
    return decorator


@keeps_type(signed_in.hook)
def flatmap_case(context: Any, case: Any) -> st.SearchStrategy[Any]:
    """Half of the generated valid bodies get a phone as people type one, so they reach past
    normalize_phone (a schema cannot describe a valid number: random text almost never is one)."""
    body = case.body
    if case.meta is None or case.meta.generation.mode.is_negative or not isinstance(body, dict):
        return st.just(case)
    if not isinstance(body.get("phone"), str):
        return st.just(case)

    def with_phone(phone: str) -> Any:
        case.body = {**body, "phone": phone}
        return case

    return st.one_of(st.just(case), thai_phone_inputs().map(with_phone))


@keeps_type(signed_in.parametrize())
def test_every_operation_answers_within_the_document(
    case: Any, stack: LocalStack, http: requests.Session, user: SignedInUser
) -> None:
    operation_id = case.operation.definition.raw["operationId"]
    protected = operation_id in protected_functions()
    if operation_id == "end_session" and case.path_parameters == {"id": SESSION_ID_EXAMPLE}:
        case.path_parameters = {"id": user.current()["session_id"]}  # the document's example: a live session
    response = case.call_and_validate(base_url=stack.url, session=http, headers=user.bearer() if protected else None)
    if operation_id in ("delete_account", "verify_phone_change") and response.status_code == 200:
        user.import_again()  # the account is gone (or moved away), as asked: the next case needs one
    signed_out = operation_id in ("logout", "end_session") and response.status_code == 200
    if protected and (signed_out or response.status_code == 401):
        user.forget_token()  # signed out, as asked: sign in again for the next case


def test_each_sign_in_step_answers_as_documented(user: SignedInUser) -> None:
    """The success answers the fuzzer rarely reaches, each checked like a fuzzed one."""
    user.forget_token()
    first = user.current()
    refreshed = user.call("POST", "/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert refreshed["session_id"] == first["session_id"]
    user.call("GET", "/auth/me", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    sessions = user.call("GET", "/auth/sessions", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert first["session_id"] in [session["id"] for session in sessions["sessions"]]
    user.call("POST", "/auth/send-verification", {"phone": USER_PHONE})
    by_code = user.call("POST", "/auth/verify-code", {"phone": USER_PHONE, "verification_code": user.sms_code()})
    user.call(
        "DELETE",
        "/auth/sessions/{id}",
        path_parameters={"id": first["session_id"]},
        headers={"Authorization": f"Bearer {by_code['access_token']}"},
    )
    user.call("POST", "/auth/request-password-reset-otp", {"phone": USER_PHONE})
    body = {"phone": USER_PHONE, "code": user.sms_code(), "new_password": USER_PASSWORD}
    user.call("POST", "/auth/reset-password", body)
    user.forget_token()  # the reset ended every session
    user.call("POST", "/auth/logout", {"scope": "current"}, headers=user.bearer())
    user.forget_token()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _jwt(header: dict[str, Any], claims: dict[str, Any], signature: str = "c2lnbmF0dXJl") -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{signature}"


def garbage_authorizations(valid: str) -> st.SearchStrategy[str]:
    """Authorization header values that must all be refused with a 401."""
    now = int(time.time())
    claims = {"sub": "x", "iat": now, "exp": now + 60, "jti": "j", "iss": "phone-auth", "aud": "phone-auth-api"}
    header, payload, signature = valid.split(".")
    # What HTTP can carry in a header: Latin-1, no line breaks.
    texts = st.text(alphabet=st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=60)
    return st.one_of(
        st.just(""),
        st.sampled_from(["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bearer", f"Token {valid}", valid]),
        texts.map(lambda text: f"Bearer {text}"),
        st.lists(st.from_regex(r"[A-Za-z0-9_-]{0,40}", fullmatch=True), min_size=2, max_size=4).map(
            lambda parts: "Bearer " + ".".join(parts)
        ),
        st.sampled_from(
            [
                f"Bearer {header}.{payload}.{signature[:-2]}AA",  # tampered signature
                f"Bearer {header}.{payload}.",  # stripped signature
                f"Bearer {header}.{_b64(b'{}')}.{signature}",  # payload swapped
                "Bearer " + _jwt({"alg": "none", "typ": "JWT"}, claims, ""),
                "Bearer " + _jwt({"alg": "HS256", "kid": "../../etc/passwd"}, claims),
                "Bearer " + _jwt({"alg": "RS256", "kid": None}, claims),
                "Bearer " + _jwt({"alg": "HS256"}, {**claims, "exp": "soon", "sep": [], "sid": {}}),
                "Bearer " + _jwt({"alg": "HS256"}, []),  # type: ignore[arg-type]
                "Bearer " + "e" * 4097,  # one past the longest token read
                f"Bearer {valid} {valid}",
            ]
        ),
    )


@keeps_type(garbage.parametrize())
@keeps_type(garbage.given(data=st.data()))
def test_protected_operations_refuse_garbage_tokens(
    case: Any, data: st.DataObject, stack: LocalStack, http: requests.Session, user: SignedInUser
) -> None:
    authorization = data.draw(garbage_authorizations(user.token()), label="Authorization")
    response = case.call_and_validate(base_url=stack.url, session=http, headers={"Authorization": authorization})
    assert response.status_code == 401, (authorization, response.status_code, response.text)
