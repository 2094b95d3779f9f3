"""Bad input is a 4xx with our error body, never a 500.

Bodies are put into the functions' own events the way API Gateway delivers them (as text,
or base64 with isBase64Encoded), so the size check, the decoding and the validation are
exercised exactly as in production.
"""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any

from tests.helpers import (
    DEFAULT_ORIGIN,
    Api,
    Context,
    FakeClock,
    SetEnv,
    last_code,
    load_event,
    load_handler,
    send_code,
    sign_in,
    sms_outbox,
)

PHONE = "+66812345678"
THAI = re.compile(r"[\u0e00-\u0e7f]")
MAX_BODY_BYTES = 16384

# Every function that reads a JSON body (me and logout take none).
BODY_FUNCTIONS = [
    "send_verification",
    "verify_code",
    "check_mobile",
    "request_registration_otp",
    "verify_registration_otp",
    "complete_registration",
    "login_mobile",
    "request_password_reset_otp",
    "reset_password",
]


# ------------------------------------------------------------------ helpers
def call(
    function_dir: str,
    raw: Any,
    *,
    encoded: bool = False,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Invoke a handler with `raw` as the event body exactly as given (str, bytes->base64, None, ...)."""
    event = load_event(function_dir)
    if headers is not None:
        event["headers"] = {**(event.get("headers") or {}), **headers}
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    if encoded:
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        event["body"] = base64.b64encode(data).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = raw
        event["isBase64Encoded"] = False
    response = load_handler(function_dir).lambda_handler(event, Context())
    assert set(response) >= {"statusCode", "headers", "body"}
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def assert_error(answer: tuple[int, dict[str, Any], dict[str, str]], status: int, code: str) -> dict[str, Any]:
    got_status, body, headers = answer
    assert (got_status, body.get("error", {}).get("code")) == (status, code), body
    assert body["success"] is False
    message = body["error"]["message"]
    assert isinstance(message, str) and message.strip()
    assert headers["Access-Control-Allow-Origin"] == DEFAULT_ORIGIN
    return body


def assert_client_error(answer: tuple[int, dict[str, Any], dict[str, str]]) -> None:
    status, body, _ = answer
    assert 400 <= status < 500, (status, body)
    assert body["success"] is False
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"].strip()


def verify_body(code: Any, phone: Any = PHONE) -> str:
    return json.dumps({"phone": phone, "verification_code": code})


# ------------------------------------------------------------------ not JSON
MALFORMED = [
    '{"phone": ',
    "{phone: '+66812345678'}",
    "not json",
    "{'phone': '+66812345678'}",
    "{}}",
    '{"phone":"x",}',
    "\x00",
]


def test_malformed_json_is_invalid_json(clock: FakeClock) -> None:
    for function_dir in ("send_verification", "verify_code"):
        for raw in MALFORMED:
            assert_error(call(function_dir, raw), 400, "INVALID_JSON")


def test_json_that_is_not_an_object_is_a_validation_error(clock: FakeClock) -> None:
    for raw in ["[]", '["+66812345678"]', '"+66812345678"', "66812345678", "null", "true", "1.5"]:
        body = assert_error(call("send_verification", raw), 400, "VALIDATION_ERROR")
        echoed = raw.strip('"[]')
        assert not echoed or echoed not in json.dumps(body)
    assert sms_outbox() == []


def test_a_body_that_is_not_text_is_invalid_json(clock: FakeClock) -> None:
    assert_error(call("send_verification", {"phone": PHONE}), 400, "INVALID_JSON")


def test_missing_body_is_a_validation_error_naming_the_field(clock: FakeClock) -> None:
    for raw in (None, "", "{}"):
        body = assert_error(call("send_verification", raw), 400, "VALIDATION_ERROR")
        assert [f["field"] for f in body["error"]["details"]["fields"]] == ["phone"]


def test_missing_code_is_a_validation_error_naming_the_field(clock: FakeClock) -> None:
    body = assert_error(call("verify_code", json.dumps({"phone": PHONE})), 400, "VALIDATION_ERROR")
    assert [f["field"] for f in body["error"]["details"]["fields"]] == ["verification_code"]
    for problem in body["error"]["details"]["fields"]:
        assert isinstance(problem["problem"], str) and problem["problem"]


# ------------------------------------------------------------------ wrong types
def test_phone_of_the_wrong_type_is_a_validation_error(clock: FakeClock) -> None:
    for phone in [66812345678, 812345678.0, ["+66812345678"], {"number": "+66812345678"}, True, None]:
        body = assert_error(call("send_verification", json.dumps({"phone": phone})), 400, "VALIDATION_ERROR")
        assert [f["field"] for f in body["error"]["details"]["fields"]] == ["phone"]
    assert sms_outbox() == []


def test_code_as_a_number_is_a_validation_error(api: Api, clock: FakeClock) -> None:
    api.call("send_verification", {"phone": PHONE})
    code = last_code(PHONE)
    if code.startswith("0"):  # a JSON number cannot keep the leading zero; the type is what matters here
        code = "1" + code[1:]
    body = assert_error(call("verify_code", verify_body(int(code))), 400, "VALIDATION_ERROR")
    assert [f["field"] for f in body["error"]["details"]["fields"]] == ["verification_code"]


def test_the_right_code_as_a_number_does_not_log_in(api: Api, clock: FakeClock) -> None:
    api.call("send_verification", {"phone": PHONE})
    code = last_code(PHONE)
    status, _, _ = call("verify_code", verify_body(int(code)))
    assert status == 400
    # The code is still unspent: the string form works.
    assert call("verify_code", verify_body(code))[0] == 200


NOT_SIX_DIGITS = [
    "12345",
    "1234567",
    "12a456",
    " 123456",
    "123456 ",
    "123456\n",
    "",
    "123 456",
    "-12345",
    "1e5000",
    "１２３４５６",  # fullwidth
    "١٢٣٤٥٦",  # Arabic-Indic
    "๑๒๓๔๕๖",  # Thai
    "12345\u0663",
]


def test_codes_that_are_not_six_ascii_digits_are_validation_errors(api: Api, clock: FakeClock) -> None:
    api.call("send_verification", {"phone": PHONE})
    answers = {code: call("verify_code", verify_body(code))[:2] for code in NOT_SIX_DIGITS}
    refused = {code: (status, body["error"]["code"]) for code, (status, body) in answers.items()}
    assert refused == dict.fromkeys(NOT_SIX_DIGITS, (400, "VALIDATION_ERROR"))
    # None of them counted as a guess: the real code still has every attempt left.
    answer = call("verify_code", verify_body(f"{(int(last_code(PHONE)) + 1) % 1_000_000:06d}"))
    assert answer[1]["error"]["details"]["attempts_remaining"] == int(os.environ["OTP_MAX_ATTEMPTS"]) - 1


def test_unicode_digits_in_the_phone_never_reach_another_number(clock: FakeClock) -> None:
    for typed in ("๐๘๑๒๓๔๕๖๗๘", "٠٨١٢٣٤٥٦٧٨", "０８１２３４５６７８"):
        status, body, _ = call("send_verification", json.dumps({"phone": typed}))
        assert status in (200, 400, 429), body
        if status == 400:
            assert body["error"]["code"] in {"INVALID_PHONE", "VALIDATION_ERROR"}
    assert {to for to, _ in sms_outbox()} <= {PHONE}


def test_lone_surrogates_are_refused_cleanly(clock: FakeClock) -> None:
    assert_error(call("send_verification", '{"phone": "\\ud800"}'), 400, "VALIDATION_ERROR")
    # Not even valid UTF-8 once encoded: a raw lone surrogate in the text.
    assert_client_error(call("send_verification", '{"phone": "\ud800"}'))


def test_phone_noise_is_refused(clock: FakeClock) -> None:
    for phone in [
        "",
        " ",
        "+",
        "+66",
        "0" * 33,
        "+66812345678 ext. 12",
        "+66812345678;ext=1",
        "\x00",
        "+66812345678\n1",
    ]:
        status, body, _ = call("send_verification", json.dumps({"phone": phone}))
        assert status == 400, (phone, body)
        assert body["error"]["code"] in {"INVALID_PHONE", "VALIDATION_ERROR"}, (phone, body)
    assert sms_outbox() == []


def test_phone_longer_than_the_model_allows_is_a_validation_error(clock: FakeClock) -> None:
    assert_error(call("send_verification", json.dumps({"phone": "1" * 65})), 400, "VALIDATION_ERROR")


def test_unknown_fields_are_ignored(clock: FakeClock) -> None:
    status, body, _ = call("send_verification", json.dumps({"phone": PHONE, "admin": True, "code": "000000"}))
    assert status == 200, body


def test_camel_case_alias_is_accepted(api: Api, clock: FakeClock) -> None:
    api.call("send_verification", {"phone": PHONE})
    status, body, _ = call("verify_code", json.dumps({"mobilePhone": PHONE, "verificationCode": last_code(PHONE)}))
    assert status == 200, body


# ------------------------------------------------------------------ validation details never echo the input
def test_validation_details_never_echo_the_submitted_values(clock: FakeClock) -> None:
    marker = "SECRET-9f4c2e"
    cases = [
        ("verify_code", {"phone": PHONE, "verification_code": marker}),
        ("verify_code", {"phone": 66899999999, "verification_code": 987654}),
        ("login_mobile", {"phone": PHONE, "password": ["hunter2-" + marker]}),
        ("login_mobile", {"phone": PHONE, "password": marker * 200}),
        ("complete_registration", {"phone": PHONE, "password": marker, "registration_token": 7}),
        ("reset_password", {"phone": PHONE, "code": marker, "new_password": {"x": marker}}),
    ]
    for function_dir, payload in cases:
        status, body, _ = call(function_dir, json.dumps(payload))
        assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR"), (function_dir, body)
        text = json.dumps(body, ensure_ascii=False)
        assert marker not in text
        assert "66899999999" not in text and "987654" not in text
        assert body["error"]["details"]["fields"]


# ------------------------------------------------------------------ size
def _padded(size: int) -> str:
    """A valid send-verification body of exactly `size` bytes."""
    base = json.dumps({"phone": PHONE, "pad": ""})
    return json.dumps({"phone": PHONE, "pad": "x" * (size - len(base))})


def test_body_over_max_body_bytes_is_payload_too_large(clock: FakeClock) -> None:
    assert int(os.environ.get("MAX_BODY_BYTES", MAX_BODY_BYTES)) == MAX_BODY_BYTES
    raw = _padded(MAX_BODY_BYTES + 1)
    assert len(raw.encode()) == MAX_BODY_BYTES + 1
    assert_error(call("send_verification", raw), 413, "PAYLOAD_TOO_LARGE")
    assert_error(call("send_verification", "x" * 1_000_000), 413, "PAYLOAD_TOO_LARGE")
    assert sms_outbox() == []


def test_body_of_exactly_max_body_bytes_is_accepted(clock: FakeClock) -> None:
    raw = _padded(MAX_BODY_BYTES)
    assert len(raw.encode()) == MAX_BODY_BYTES
    status, body, _ = call("send_verification", raw)
    assert status == 200, body


def test_size_is_counted_in_bytes_not_characters(clock: FakeClock) -> None:
    pad = "ก" * (MAX_BODY_BYTES // 3 + 10)  # 3 bytes each in UTF-8
    raw = json.dumps({"phone": PHONE, "pad": pad}, ensure_ascii=False)
    assert len(raw) < MAX_BODY_BYTES < len(raw.encode())
    assert_error(call("send_verification", raw), 413, "PAYLOAD_TOO_LARGE")


def test_max_body_bytes_comes_from_the_environment(clock: FakeClock, env: SetEnv) -> None:
    env(MAX_BODY_BYTES="1024")
    assert_error(call("send_verification", _padded(1025)), 413, "PAYLOAD_TOO_LARGE")
    assert call("send_verification", _padded(1024))[0] == 200


def test_deeply_nested_json_is_refused(clock: FakeClock) -> None:
    # Over the size limit: refused before parsing.
    assert_error(call("send_verification", "[" * 100_000), 413, "PAYLOAD_TOO_LARGE")
    # Under the size limit but deeper than the parser's recursion limit.
    assert_error(call("send_verification", "[" * 16_000), 400, "INVALID_JSON")
    # Deep but within the size limit: whether the parser gives up or the model refuses it
    # depends on the interpreter's recursion limit; either way a 400 of ours.
    for deep in ('{"a":' * 2_500 + "1" + "}" * 2_500, '{"phone": ' + "[" * 5_000 + "]" * 5_000 + "}"):
        status, body, _ = call("send_verification", deep)
        assert (status, body["error"]["code"]) in {(400, "INVALID_JSON"), (400, "VALIDATION_ERROR")}, body
    # Nested but parseable: the shape is wrong.
    shallow = '{"phone": ' + "[" * 200 + "]" * 200 + "}"
    assert_error(call("send_verification", shallow), 400, "VALIDATION_ERROR")


# ------------------------------------------------------------------ base64 bodies
def test_base64_encoded_body_is_decoded(clock: FakeClock) -> None:
    status, body, _ = call("send_verification", json.dumps({"phone": PHONE}), encoded=True)
    assert status == 200, body
    assert [to for to, _ in sms_outbox()] == [PHONE]


def test_base64_body_that_is_not_base64_is_invalid_json(clock: FakeClock) -> None:
    event_body = "this is *not* base64!"
    event = load_event("send_verification")
    event["body"], event["isBase64Encoded"] = event_body, True
    response = load_handler("send_verification").lambda_handler(event, Context())
    assert_error((response["statusCode"], json.loads(response["body"]), response["headers"]), 400, "INVALID_JSON")


def test_base64_of_invalid_utf8_is_invalid_json(clock: FakeClock) -> None:
    for data in [b"\xff\xfe\xfd", b'{"phone": "\xff\xfe"}', b"\xc3\x28", b"\xed\xa0\x80"]:
        assert_error(call("send_verification", data, encoded=True), 400, "INVALID_JSON")


def test_base64_body_over_the_limit_is_payload_too_large(clock: FakeClock) -> None:
    assert_error(call("send_verification", _padded(MAX_BODY_BYTES + 1), encoded=True), 413, "PAYLOAD_TOO_LARGE")
    assert_error(call("send_verification", b"[" * 100_000, encoded=True), 413, "PAYLOAD_TOO_LARGE")
    assert call("send_verification", _padded(MAX_BODY_BYTES), encoded=True)[0] == 200


def test_base64_of_a_json_array_is_a_validation_error(clock: FakeClock) -> None:
    assert_error(call("send_verification", b"[1, 2, 3]", encoded=True), 400, "VALIDATION_ERROR")


# ------------------------------------------------------------------ every body endpoint
BAD_BODIES: list[tuple[Any, bool]] = [
    ('{"phone": ', False),
    ("[]", False),
    ('"x"', False),
    ("42", False),
    ("null", False),
    ("{}", False),
    (json.dumps({"phone": 1, "code": 2, "password": 3, "new_password": 4, "registration_token": 5}), False),
    ("[" * 16_000, False),
    ("x" * (MAX_BODY_BYTES + 1), False),
    (b"\xff\xfe", True),
    ('{"phone": ' + "1" * 5_000 + "}", False),  # beyond Python's int-from-text digit limit
    ('{"phone": NaN, "code": Infinity}', False),
    ("%%%", True),
    (json.dumps({"phone": "abc", "code": "123456", "verification_code": "123456", "password": "p" * 20}), False),
]


def test_no_body_function_answers_bad_input_with_a_5xx(clock: FakeClock) -> None:
    for function_dir, (raw, encoded) in ((f, bad) for f in BODY_FUNCTIONS for bad in BAD_BODIES):
        if raw == "%%%":  # not base64 at all
            event = load_event(function_dir)
            event["body"], event["isBase64Encoded"] = raw, True
            response = load_handler(function_dir).lambda_handler(event, Context())
            answer = (response["statusCode"], json.loads(response["body"]), response["headers"])
        else:
            answer = call(function_dir, raw, encoded=encoded)
        assert_client_error(answer)


# ------------------------------------------------------------------ languages
LANGUAGES = {
    "th": True,
    "th-TH": True,
    "th;q=0.9,en;q=0.8": True,
    "en, th;q=0.5": False,
    "en": False,
    "fr, de": False,
    "": False,
    "*": False,
    "th;q=0, en;q=0.1": False,
    ";;;,,,q=abc": False,
}


def test_error_messages_follow_accept_language(clock: FakeClock) -> None:
    thai = {}
    for accept_language in LANGUAGES:
        headers = {"Accept-Language": accept_language}
        status, body, _ = call("send_verification", json.dumps({"phone": "abc"}), headers=headers)
        assert (status, body["error"]["code"]) == (400, "INVALID_PHONE")
        thai[accept_language] = bool(THAI.search(body["error"]["message"]))
    assert thai == LANGUAGES


def test_every_error_kind_has_a_thai_message(clock: FakeClock) -> None:
    th = {"Accept-Language": "th"}
    answers = [
        call("send_verification", "{", headers=th),
        call("send_verification", "[]", headers=th),
        call("send_verification", "x" * (MAX_BODY_BYTES + 1), headers=th),
        call("send_verification", json.dumps({"phone": "abc"}), headers=th),
        call("send_verification", json.dumps({"phone": "02 123 4567"}), headers=th),
        call("verify_code", verify_body("123456"), headers=th),
    ]
    codes = [body["error"]["code"] for _, body, _ in answers]
    assert codes == [
        "INVALID_JSON",
        "VALIDATION_ERROR",
        "PAYLOAD_TOO_LARGE",
        "INVALID_PHONE",
        "PHONE_NOT_MOBILE",
        "OTP_NOT_FOUND",
    ]
    for _, body, _ in answers:
        assert THAI.search(body["error"]["message"]), body


# ------------------------------------------------------------------ media types
def test_a_body_that_is_not_declared_json_is_refused_before_any_work(api: Api, clock: FakeClock) -> None:
    """A text/plain POST is a CORS "simple request": a page on any site can make its visitors send it
    without a preflight. Only application/json (which needs one) is read."""
    body = json.dumps({"phone": PHONE})
    for content_type in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None):
        headers = {"Origin": "https://evil.example"} | ({"Content-Type": content_type} if content_type else {})
        event = load_event("send_verification")
        event["headers"] = {k: v for k, v in event["headers"].items() if k.lower() != "content-type"} | headers
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
        event["body"], event["isBase64Encoded"] = body, False
        response = load_handler("send_verification").lambda_handler(event, Context())
        answer = json.loads(response["body"])
        assert (response["statusCode"], answer["error"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE"), content_type
    assert sms_outbox() == []
    wrong_password = {"phone": PHONE, "password": "not-the-password"}
    status, answer, _ = api.call("login_mobile", wrong_password, headers={"Content-Type": "text/plain"})
    assert (status, answer["error"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_json_with_parameters_and_any_case_is_read(api: Api, clock: FakeClock) -> None:
    for index, content_type in enumerate(("application/json; charset=utf-8", "Application/JSON", "application/json")):
        phone = f"+6681234567{index}"
        assert send_code(api, phone, headers={"Content-Type": content_type})[0] == 200, content_type
        clock.advance(61)


def test_a_post_without_a_body_needs_no_content_type(api: Api, clock: FakeClock) -> None:
    """Logout everywhere sends no body: whatever its Content-Type says, there is nothing to read."""
    token = sign_in(api)["access_token"]
    assert api.call("logout", None, token=token, headers={"Content-Type": "text/plain"})[0] == 200
    token = sign_in(api, clock=clock)["access_token"]
    assert api.call("logout", None, token=token, raw_body="", headers={"Content-Type": "text/plain"})[0] == 200


def test_the_media_type_refusal_has_a_thai_message(clock: FakeClock) -> None:
    assert call("send_verification", json.dumps({"phone": PHONE}), headers={"Content-Type": "text/plain"})[0] == 415
    assert_error(call("send_verification", "{}", headers={"Content-Type": "text/plain"}), 415, "UNSUPPORTED_MEDIA_TYPE")
    th = call("send_verification", "{}", headers={"Content-Type": "text/plain", "Accept-Language": "th"})
    assert THAI.search(th[1]["error"]["message"])
