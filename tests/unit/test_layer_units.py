"""Small pieces of the shared layer on their own: languages, messages, masking, codes,
hashes, settings validation, key derivation and the token round trip."""

from __future__ import annotations

import inspect
import re
import secrets

import pytest

from phone_auth.errors import AuthError
from tests.helpers import TEST_ENV, FakeClock

THAI = re.compile(r"[\u0e00-\u0e7f]")


# ------------------------------------------------------------------ Accept-Language
LANGUAGE_CASES: dict[str | None, str] = {
    None: "en",
    "": "en",
    "th": "th",
    "TH": "th",
    "th-TH": "th",
    "en": "en",
    "en-US": "en",
    "th;q=0.9,en;q=0.8": "th",
    "en, th;q=0.5": "en",
    "en;q=0.5, th": "th",
    "th-TH,th;q=0.9,en-US;q=0.8,en;q=0.7": "th",
    "en-US,en;q=0.9,th;q=0.8": "en",
    "th, en": "th",  # a tie goes to the one listed first
    "en, th": "en",
    "th;q=0.5, en;q=0.5": "th",
    "fr, de": "en",
    "fr, th;q=0.1": "th",  # the only supported language the client accepts
    "th;q=0": "en",  # q=0 means "not acceptable"
    "en;q=0, th;q=0": "en",
    "th;q=abc": "en",
    "*": "en",
    " th ; q = 0.9 , en ; q = 0.8 ": "th",
    ",,,;;;": "en",
    "x" * 10_000: "en",
    ",".join(["fr"] * 1000) + ",th": "en",  # only the first 20 entries are read
}


def test_preferred_language() -> None:
    from phone_auth.messages import preferred_language

    got = {header: preferred_language(header) for header in LANGUAGE_CASES}
    assert got == LANGUAGE_CASES


# ------------------------------------------------------------------ messages
def _error_classes() -> list[type[AuthError]]:
    from phone_auth import errors

    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.AuthError) and cls.__module__ == errors.__name__
    ]


def test_every_error_code_has_an_english_and_a_thai_message() -> None:
    from phone_auth.messages import MESSAGES

    codes = {cls.code for cls in _error_classes()}
    assert codes <= set(MESSAGES), codes - set(MESSAGES)
    for code in codes:
        assert MESSAGES[code]["en"].strip() and not THAI.search(MESSAGES[code]["en"]), code
        assert THAI.search(MESSAGES[code]["th"]), code


def test_every_error_has_a_client_or_server_status() -> None:
    for cls in _error_classes():
        assert 400 <= cls.status < 600, cls


def test_message_falls_back_to_english_and_to_bad_request() -> None:
    from phone_auth.messages import message

    assert message("OTP_INVALID", "fr") == message("OTP_INVALID", "en")
    assert message("NO_SUCH_CODE", "en") == message("BAD_REQUEST", "en")
    assert THAI.search(message("NO_SUCH_CODE", "th"))


def test_sms_text_holds_the_code_and_the_minutes_in_both_languages() -> None:
    from phone_auth.messages import message

    for language in ("en", "th"):
        text = message("SMS_LOGIN", language).format(code="042917", minutes=5)
        assert "042917" in text and "5" in text


def test_rate_limited_carries_retry_after_of_at_least_one_second() -> None:
    from phone_auth.errors import CodeAttemptsExceeded, RateLimited

    for cls in (RateLimited, CodeAttemptsExceeded):
        for seconds, expected in ((45, "45"), (0, "1"), (-10, "1")):
            error = cls(seconds)
            assert error.status == 429
            assert error.headers == {"Retry-After": expected}
            assert error.details == {"retry_after": int(expected)}


# ------------------------------------------------------------------ phones
def test_mask_phone_keeps_only_the_ends() -> None:
    from phone_auth.phones import mask_phone

    masked = mask_phone("+66812345678")
    assert masked == "+668*****678"
    assert "12345" not in masked
    assert len(masked) == len("+66812345678")
    assert mask_phone("+16502530000") == "+165*****000"
    assert mask_phone("12345") == "*****"
    assert mask_phone("") == ""


E164_CASES = {
    "081-234-5678": "+66812345678",
    "+66 81 234 5678": "+66812345678",
    "0812345678": "+66812345678",
    "0066812345678": "+66812345678",
    "  +66812345678  ": "+66812345678",
    "(081) 234-5678": "+66812345678",
    "+1 650 253 0000": "+16502530000",  # another country, in full international form
}

REFUSED_PHONES = {
    "abc": "INVALID_PHONE",
    "123": "INVALID_PHONE",
    "+999123": "INVALID_PHONE",
    "": "INVALID_PHONE",
    "0" * 40: "INVALID_PHONE",
    "+66812345678 ext. 5": "INVALID_PHONE",
    "02 123 4567": "PHONE_NOT_MOBILE",
    "1800 123 456": "PHONE_NOT_MOBILE",
}


def test_normalize_phone_gives_e164() -> None:
    from phone_auth.phones import normalize_phone

    assert {typed: normalize_phone(typed, "TH") for typed in E164_CASES} == E164_CASES


def test_normalize_phone_refuses() -> None:
    from phone_auth.errors import AuthError
    from phone_auth.phones import normalize_phone

    got = {}
    for typed in REFUSED_PHONES:
        try:
            got[typed] = normalize_phone(typed, "TH")
        except AuthError as error:
            got[typed] = error.code
    assert got == REFUSED_PHONES


# ------------------------------------------------------------------ codes and hashes
def test_new_code_is_six_digits_and_not_constant() -> None:
    from phone_auth.crypto import new_code

    draws = [new_code() for _ in range(50)]
    for code in draws:
        assert isinstance(code, str)
        assert re.fullmatch(r"[0-9]{6}", code), code
    assert len(set(draws)) > 1


def test_new_code_keeps_leading_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    from phone_auth import crypto

    monkeypatch.setattr(secrets, "randbelow", lambda n: 42)  # the module phone_auth.crypto draws from
    assert crypto.new_code() == "000042"


def test_opaque_tokens_are_long_and_unique() -> None:
    from phone_auth.crypto import new_opaque_token

    tokens = {new_opaque_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(token) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", token) for token in tokens)


def test_keyed_hash_depends_on_key_and_on_part_boundaries() -> None:
    from phone_auth.crypto import keyed_hash

    key, other = b"k" * 32, b"o" * 32
    assert keyed_hash(key, "otp", "+66812345678", "login", "123456") == keyed_hash(
        key, "otp", "+66812345678", "login", "123456"
    )
    assert keyed_hash(key, "a", "bc") != keyed_hash(key, "ab", "c")
    assert keyed_hash(key, "x") != keyed_hash(other, "x")
    assert re.fullmatch(r"[0-9a-f]{64}", keyed_hash(key, "x"))


def test_code_hash_is_bound_to_phone_and_purpose() -> None:
    from phone_auth.codes import code_hash

    base = code_hash("+66812345678", "login", "123456")
    assert base != code_hash("+66898765432", "login", "123456")
    assert base != code_hash("+66812345678", "password_reset", "123456")
    assert base != code_hash("+66812345678", "login", "123457")


# ------------------------------------------------------------------ settings
def test_the_test_environment_is_a_valid_configuration() -> None:
    from phone_auth.settings import load_settings

    settings = load_settings(dict(TEST_ENV))
    assert settings.code_ttl_seconds == int(TEST_ENV["OTP_TTL_SECONDS"])
    assert settings.passwordless_login_enabled is True
    assert settings.max_body_bytes == 16384
    assert not settings.is_production


INVALID_SETTINGS = [
    ("OTP_TTL_SECONDS", "abc"),
    ("OTP_TTL_SECONDS", "0"),
    ("OTP_MAX_ATTEMPTS", "0"),
    ("ACCESS_TOKEN_TTL_SECONDS", "5"),
    ("SMS_SENDER", "carrier-pigeon"),
    ("SIGNUP_MODE", "everyone"),
    ("OTP_LOGIN_ENABLED", "perhaps"),
    ("MARKET", "TH!"),
    ("DEFAULT_REGION", "thailand"),
    ("BCRYPT_ROUNDS", "3"),
    ("MAX_BODY_BYTES", "10"),
    ("SMS_SENDER_ID", "A-NAME-FAR-TOO-LONG"),
    ("USERS_TABLE_NAME", ""),
    ("ENVIRONMENT", "prod"),
    ("STACK_NAME", ""),
]


def _settings_error(environ: dict[str, str]) -> str:
    from phone_auth.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as raised:
        load_settings(environ)
    return str(raised.value)


def test_an_invalid_setting_is_named_in_the_error() -> None:
    for name, value in INVALID_SETTINGS:
        assert name in _settings_error({**TEST_ENV, name: value}), (name, value)


def test_a_missing_required_setting_is_named_in_the_error() -> None:
    for name in ["STAGE", "USERS_TABLE_NAME", "OTP_TABLE_NAME", "JWT_SECRET_PARAMETER_NAME"]:
        assert name in _settings_error({k: v for k, v in TEST_ENV.items() if k != name}), name


def test_production_refuses_the_log_sms_sender() -> None:
    from phone_auth.settings import load_settings

    for stage in ["prod", "live", "prod-th"]:
        production = {**TEST_ENV, "STAGE": stage, "ENVIRONMENT": "production"}
        assert "SMS_SENDER" in _settings_error({**production, "SMS_SENDER": "log"})
        assert load_settings({**production, "SMS_SENDER": "sns"}).is_production


def test_log_sender_is_fine_outside_production() -> None:
    from phone_auth.settings import load_settings

    for stage in ["dev", "prod", "production"]:  # the stage's name never makes a stack production
        settings = load_settings({**TEST_ENV, "STAGE": stage, "SMS_SENDER": "log"})
        assert settings.sms_sender == "log" and not settings.is_production
    development = {**TEST_ENV, "ENVIRONMENT": "development", "SMS_SENDER": "log"}
    assert load_settings(development).sms_sender == "log"


@pytest.mark.parametrize("stage", ["prod", "th-prod", "live", "prd", "dev"])
def test_every_production_guard_follows_environment_whatever_the_stage_is_called(stage: str) -> None:
    """TEST_PHONE_NUMBERS, SMS_SENDER=log and host:* origins: refused with ENVIRONMENT=production,
    allowed with ENVIRONMENT=development, for a stage of any name."""
    from phone_auth.settings import load_settings

    unsafe = {"TEST_PHONE_NUMBERS": "+66800000001=123456", "SMS_SENDER": "log", "ALLOWED_ORIGINS": "http://localhost:*"}
    for name, value in unsafe.items():
        production = {**TEST_ENV, "STAGE": stage, "ENVIRONMENT": "production", "SMS_SENDER": "sns", name: value}
        assert name in _settings_error(production), (stage, name)
        development = {**production, "ENVIRONMENT": "development"}
        assert not load_settings(development).is_production, (stage, name)


# ------------------------------------------------------------------ keys and tokens
def test_a_short_secret_is_refused() -> None:
    from phone_auth.keys import KeySetError, legacy_master

    with pytest.raises(KeySetError):
        legacy_master("too-short")
    assert len(legacy_master("A" * 43)) >= 32  # base64url of 32 bytes
    assert legacy_master("not base64 but long enough: " + "!" * 10) == b"not base64 but long enough: " + b"!" * 10


def test_key_ring_derives_separate_keys_from_the_ssm_secret() -> None:
    import boto3

    from phone_auth.keys import key_ring

    ring = key_ring()
    master = boto3.client("ssm").get_parameter(Name=TEST_ENV["JWT_SECRET_PARAMETER_NAME"], WithDecryption=True)
    value = master["Parameter"]["Value"].encode()
    assert len(ring.token_signing_key) == len(ring.current.hash_key) == 32
    assert ring.token_signing_key != ring.current.hash_key
    assert value not in (ring.token_signing_key, ring.current.hash_key)
    assert ring.kid and ring.kid == key_ring().kid


def test_access_token_round_trip(clock: FakeClock) -> None:
    from phone_auth.tokens import decode_access_token, issue_access_token

    token, lifetime = issue_access_token("user-1", "+66812345678", 4, "session-1")
    assert lifetime == int(TEST_ENV["ACCESS_TOKEN_TTL_SECONDS"])
    claims = decode_access_token(token)
    assert (claims.user_id, claims.phone, claims.session_epoch, claims.market) == ("user-1", "+66812345678", 4, "th")
    assert claims.session_id == "session-1"
    assert claims.expires_at == int(clock()) + lifetime
    again = issue_access_token("user-1", "+66812345678", 4, "session-1")[0]
    assert decode_access_token(again).token_id != claims.token_id


def test_decode_refuses_empty_and_oversized_tokens(clock: FakeClock) -> None:
    from phone_auth.errors import TokenInvalid
    from phone_auth.tokens import MAX_TOKEN_LENGTH, decode_access_token

    for token in ("", "a" * (MAX_TOKEN_LENGTH + 1)):
        with pytest.raises(TokenInvalid):
            decode_access_token(token)


def test_iso_timestamps_are_utc_with_milliseconds() -> None:
    from phone_auth.clock import iso

    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(1_800_000_000.1234) == "2027-01-15T08:00:00.123Z"


@pytest.mark.parametrize(
    "typed",
    [
        "081 ABC 5678",
        "tel:+66812345678",
        "Phone: +66812345678",
        "abc+66812345678",
        "+66 81 234 5678 ext 9",
        "++66812345678",
    ],
)
def test_letters_and_words_around_a_number_are_refused_not_read_as_keypad_digits(typed: str) -> None:
    """phonenumbers alone would text "081 ABC 5678" to +66812225678: someone else."""
    from phone_auth.errors import InvalidPhone
    from phone_auth.phones import normalize_phone

    with pytest.raises(InvalidPhone):
        normalize_phone(typed, "TH")


@pytest.mark.parametrize("typed", ["๐๘๑๒๓๔๕๖๗๘", "(0066)812345678", "0 066 812 345 678", "+66 (81) 234-5678"])
def test_thai_digits_and_a_spaced_international_prefix_read_as_the_number(typed: str) -> None:
    from phone_auth.phones import normalize_phone

    assert normalize_phone(typed, "TH") == "+66812345678"
