"""ops.secret: creates the JWT key set once, rotates and retires keys, converts the legacy
single secret, refuses values it does not understand, and never prints a secret."""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ops import secret as secret_cli
from phone_auth import keys

REGION = "ap-southeast-1"
NAME = "/phone-auth/dev/jwt-secret"


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # Fake credentials so nothing can ever reach a real account.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("ssm", region_name=REGION)


def _get(ssm: Any, name: str = NAME) -> dict[str, Any]:
    parameter: dict[str, Any] = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    return parameter


def _decoded(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _stored(ssm: Any, name: str = NAME) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(_get(ssm, name)["Value"])
    return document


def _all_values(ssm: Any, name: str = NAME) -> list[str]:
    """Every value the parameter ever held, and every secret inside them."""
    history = ssm.get_parameter_history(Name=name, WithDecryption=True)["Parameters"]
    values = [str(h["Value"]) for h in history]
    for value in list(values):
        if value.startswith("{"):
            values += [key["secret"] for key in json.loads(value)["keys"]]
    return values


def assert_key_set_shape(document: dict[str, Any]) -> None:
    assert set(document) == {"version", "current", "keys"}
    assert document["version"] == 1
    assert document["current"] == document["keys"][0]["kid"]
    for key in document["keys"]:
        assert set(key) == {"kid", "secret", "created_at"}
        assert re.fullmatch(r"[0-9a-f]{16}", key["kid"])
        assert "=" not in key["secret"]
        assert len(_decoded(key["secret"])) >= 32
        created = datetime.fromisoformat(key["created_at"].replace("Z", "+00:00"))
        assert created.utcoffset() == timedelta(0)
    assert len({key["kid"] for key in document["keys"]}) == len(document["keys"])


# ------------------------------------------------------------------ create
def test_creates_a_key_set_of_one_random_256_bit_key(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert secret_cli.main(["--stage", "dev"]) == 0

    param = _get(ssm)
    assert param["Type"] == "SecureString"
    assert param["Version"] == 1
    document = json.loads(param["Value"])
    assert_key_set_shape(document)
    (key,) = document["keys"]
    assert len(_decoded(key["secret"])) == 32

    out, err = capsys.readouterr()
    assert NAME in out and key["kid"] in out
    assert key["secret"] not in out + err


def test_refuses_a_second_run_and_keeps_the_key_set(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert secret_cli.main(["--stage", "dev"]) == 0
    first = str(_get(ssm)["Value"])
    capsys.readouterr()

    assert secret_cli.main(["--stage", "dev"]) == 1

    param = _get(ssm)
    assert param["Value"] == first
    assert param["Version"] == 1
    out, err = capsys.readouterr()
    assert "--rotate" in err and "--overwrite" in err
    assert "signs everyone out" in err
    assert first not in out + err


def test_overwrite_replaces_the_whole_key_set(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert secret_cli.main(["--stage", "dev"]) == 0
    first = _stored(ssm)

    assert secret_cli.main(["--stage", "dev", "--overwrite"]) == 0

    param = _get(ssm)
    second = json.loads(param["Value"])
    assert param["Version"] == 2
    assert_key_set_shape(second)
    assert {k["kid"] for k in second["keys"]}.isdisjoint({k["kid"] for k in first["keys"]})
    out, err = capsys.readouterr()
    assert "signed out" in out
    for value in _all_values(ssm):
        assert value not in out + err


# ------------------------------------------------------------------ rotate and retire
def test_rotate_adds_a_current_key_and_keeps_the_old_one(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert secret_cli.main(["--stage", "dev"]) == 0
    (old,) = _stored(ssm)["keys"]

    assert secret_cli.main(["--stage", "dev", "--rotate"]) == 0

    param = _get(ssm)
    assert param["Version"] == 2
    document = json.loads(param["Value"])
    assert_key_set_shape(document)
    new, kept = document["keys"]
    assert kept == old  # byte for byte: tokens it signed keep verifying
    assert document["current"] == new["kid"] != old["kid"]
    assert len(_decoded(new["secret"])) == 32

    assert secret_cli.main(["--stage", "dev", "--rotate"]) == 0
    assert [k["kid"] for k in _stored(ssm)["keys"]][1:] == [new["kid"], old["kid"]]
    out, err = capsys.readouterr()
    assert new["kid"] in out and old["kid"] in out
    for value in _all_values(ssm):
        assert value not in out + err


def test_retire_drops_the_keys_older_than_the_current_one(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert secret_cli.main(["--stage", "dev"]) == 0
    assert secret_cli.main(["--stage", "dev", "--rotate"]) == 0
    current, old = _stored(ssm)["keys"]

    assert secret_cli.main(["--stage", "dev", "--retire", "--min-age", "0"]) == 0

    document = _stored(ssm)
    assert_key_set_shape(document)
    assert document["keys"] == [current]
    out, err = capsys.readouterr()
    assert old["kid"] in out
    for value in _all_values(ssm):
        assert value not in out + err

    # Nothing older left: a second retire writes nothing.
    assert secret_cli.main(["--stage", "dev", "--retire", "--min-age", "0"]) == 0
    assert _get(ssm)["Version"] == 3
    assert "Nothing to retire" in capsys.readouterr().out


def test_retire_waits_until_tokens_of_the_older_keys_expired(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert secret_cli.main(["--stage", "dev"]) == 0
    assert secret_cli.main(["--stage", "dev", "--rotate"]) == 0
    before = _stored(ssm)

    assert secret_cli.main(["--stage", "dev", "--retire"]) == 1  # the new key is seconds old
    assert _stored(ssm) == before
    assert "--force" in capsys.readouterr().err

    assert secret_cli.main(["--stage", "dev", "--retire", "--force"]) == 0
    assert _stored(ssm)["keys"] == before["keys"][:1]


def test_retire_keeps_a_key_newer_than_the_current_one(ssm: Any) -> None:
    old, current, newer = (
        keys.StoredKey(secret_cli.new_kid(), secret_cli.generate_secret(), f"2026-0{month}-01T00:00:00Z")
        for month in (1, 2, 3)
    )
    key_set = keys.KeySet((current, newer, old))
    assert secret_cli.retired(key_set).keys == (current, newer)


# ------------------------------------------------------------------ legacy single secret
def test_the_first_rotation_converts_a_legacy_secret_and_keeps_it(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    legacy = secret_cli.generate_secret()
    ssm.put_parameter(Name=NAME, Value=legacy, Type="SecureString")

    assert secret_cli.main(["--stage", "dev", "--rotate"]) == 0

    document = _stored(ssm)
    assert_key_set_shape(document)
    new, kept = document["keys"]
    master = _decoded(legacy)
    assert _decoded(kept["secret"]) == master
    assert kept["kid"] == keys.legacy_kid(master)
    assert document["current"] == new["kid"]
    out, err = capsys.readouterr()
    assert "legacy" in out and kept["kid"] in out
    for value in [*_all_values(ssm), legacy]:
        assert value not in out + err


def test_retire_refuses_a_legacy_secret(ssm: Any) -> None:
    ssm.put_parameter(Name=NAME, Value=secret_cli.generate_secret(), Type="SecureString")
    assert secret_cli.main(["--stage", "dev", "--retire", "--force"]) == 1
    assert _get(ssm)["Version"] == 1


def test_the_legacy_kid_is_the_one_the_functions_derive() -> None:
    """A legacy secret in the functions' parameter: their key ring names it with the tool's kid."""
    import os

    from phone_auth.keys import key_ring

    name = os.environ["JWT_SECRET_PARAMETER_NAME"]
    boto3.client("ssm").put_parameter(Name=name, Value=secrets.token_urlsafe(32), Type="SecureString", Overwrite=True)
    value = boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)
    key_set = secret_cli.parse_key_set(value["Parameter"]["Value"])
    assert key_set.legacy
    assert key_set.current.kid == key_ring().kid


@pytest.mark.parametrize(
    "legacy",
    [
        secrets.token_urlsafe(32),
        secrets.token_urlsafe(48),
        base64.b64encode(secrets.token_bytes(32)).decode(),
        "x" * 40,
    ],
)
def test_legacy_secrets_in_every_accepted_spelling_keep_their_key(legacy: str) -> None:
    key_set = secret_cli.parse_key_set(legacy)
    master = keys.legacy_master(legacy)
    assert _decoded(key_set.current.secret) == master
    assert key_set.current.kid == keys.legacy_kid(master)


# ------------------------------------------------------------------ malformed values
def _valid_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(secret_cli.rotated(secret_cli.new_key_set()).to_json())
    return document


def _malformed() -> list[tuple[str, str]]:
    cases: list[tuple[str, str]] = [("short legacy secret", "too-short"), ("broken JSON", '{"version": 1,')]
    for label, change in [
        ("another version", lambda d: d.update(version=2)),
        ("not an object", None),
        ("no keys", lambda d: d.update(keys=[])),
        ("current not first", lambda d: d.update(current=d["keys"][1]["kid"])),
        ("bad kid", lambda d: d["keys"][0].update(kid="XYZ")),
        ("short key", lambda d: d["keys"][1].update(secret=secret_cli.generate_secret()[:20])),
        ("not base64url", lambda d: d["keys"][1].update(secret="+" * 43)),
        ("local time", lambda d: d["keys"][0].update(created_at="2026-11-21T10:00:00+07:00")),
        ("extra field", lambda d: d["keys"][0].update(note="x")),
        ("duplicate kid", lambda d: d["keys"][1].update(kid=d["keys"][0]["kid"])),
    ]:
        document = _valid_document()
        if change is None:
            cases.append((label, json.dumps([document])))
            continue
        change(document)
        cases.append((label, json.dumps(document)))
    return cases


@pytest.mark.parametrize(("label", "value"), _malformed(), ids=[label for label, _ in _malformed()])
@pytest.mark.parametrize("action", ["--rotate", "--retire"])
def test_a_malformed_value_is_refused_and_left_alone(
    ssm: Any, capsys: pytest.CaptureFixture[str], label: str, value: str, action: str
) -> None:
    ssm.put_parameter(Name=NAME, Value=value, Type="SecureString")

    assert secret_cli.main(["--stage", "dev", action, "--force"]) == 1

    param = _get(ssm)
    assert (param["Value"], param["Version"]) == (value, 1)
    out, err = capsys.readouterr()
    assert err.strip()
    assert value not in out + err
    if value.startswith("{") and '"keys"' in value:
        for key in json.loads(value)["keys"]:
            assert str(key.get("secret")) not in out + err


@pytest.mark.parametrize(("label", "value"), _malformed(), ids=[label for label, _ in _malformed()])
def test_the_functions_refuse_what_the_tool_refuses(label: str, value: str) -> None:
    """One format: the functions' key ring reads exactly what the tool accepts."""
    with pytest.raises(keys.KeySetError):
        keys.parse_key_set(value)


def test_the_functions_read_every_key_the_tool_writes() -> None:
    key_set = secret_cli.rotated(secret_cli.rotated(secret_cli.new_key_set()))
    ring = keys.parse_key_set(key_set.to_json()).ring()
    assert [key.kid for key in ring.keys] == [key.kid for key in key_set.keys]
    assert ring.kid == key_set.current.kid


def test_rotating_a_missing_parameter_says_to_create_it(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert secret_cli.main(["--stage", "dev", "--rotate"]) == 1
    assert "make secret" in capsys.readouterr().err


def test_a_string_parameter_is_refused(ssm: Any) -> None:
    ssm.put_parameter(Name=NAME, Value=secret_cli.new_key_set().to_json(), Type="String")
    assert secret_cli.main(["--stage", "dev", "--rotate"]) == 1


# ------------------------------------------------------------------ naming and arguments
def test_secret_never_appears_in_output(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    runs = [
        ["--stage", "dev"],
        ["--stage", "dev"],  # refused
        ["--stage", "dev", "--overwrite"],
        ["--stage", "dev", "--rotate"],
        ["--stage", "dev", "--retire"],  # refused: too young
        ["--stage", "dev", "--retire", "--force"],
        ["--stage", "dev", "--market-env", "us-dev", "--region", REGION],
    ]
    for argv in runs:
        secret_cli.main(argv)
    out, err = capsys.readouterr()

    values = _all_values(ssm) + _all_values(ssm, "/phone-auth/us-dev/jwt-secret")
    for value in values:
        assert value not in out
        assert value not in err


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["--stage", "prod"], "/phone-auth/prod/jwt-secret"),
        (["--stage", "dev", "--market-env", "th-dev"], "/phone-auth/th-dev/jwt-secret"),
        (["--stage", "dev", "--parameter-name", "/custom/jwt"], "/custom/jwt"),
    ],
)
def test_parameter_naming(ssm: Any, argv: list[str], name: str) -> None:
    assert secret_cli.main(argv) == 0
    assert _get(ssm, name)["Type"] == "SecureString"
    assert secret_cli.main([*argv, "--rotate"]) == 0
    assert len(_stored(ssm, name)["keys"]) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["--stage", "dev", "--market-env", "us-dev", "--parameter-name", "/x/y"],
        ["--stage", "dev", "--rotate", "--retire"],
        ["--stage", "dev", "--rotate", "--overwrite"],
        ["--rotate"],  # neither --stage nor --local
    ],
)
def test_conflicting_or_missing_arguments_are_refused(ssm: Any, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        secret_cli.main(argv)
    assert exc.value.code == 2


def test_missing_region_fails_cleanly(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert secret_cli.main(["--stage", "dev"]) == 1
    assert "--region" in capsys.readouterr().err


def test_no_local_stack_is_a_clear_refusal(capsys: pytest.CaptureFixture[str]) -> None:
    assert secret_cli.main(["--local", "http://127.0.0.1:9", "--rotate"]) == 1
    assert "make run" in capsys.readouterr().err


def test_key_ages_are_measured_in_utc() -> None:
    key = keys.StoredKey("0" * 16, secret_cli.generate_secret(), "2026-01-01T00:00:00Z")
    assert secret_cli.age_seconds(key, datetime(2026, 1, 1, 1, 0, tzinfo=UTC)) == 3600


def test_a_key_created_in_the_same_instant_as_the_current_one_counts_as_older() -> None:
    same = "2026-11-21T10:00:00.000Z"
    current, earlier = (keys.StoredKey(secret_cli.new_kid(), secret_cli.generate_secret(), same) for _ in range(2))
    assert secret_cli.retired(keys.KeySet((current, earlier))).keys == (current,)


# ------------------------------------------------------------------ CloudFront's origin header
def test_origin_header_prints_what_the_stack_accepts_after_a_rotation_too(
    ssm: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The value is derived from the current key (no secret of its own); the functions accept the
    value of every live key, so CloudFront can be updated after a rotation, before a retirement."""
    from phone_auth.callers import ORIGIN_VERIFY_HEADER, origin_verify_values

    assert secret_cli.main(["--stage", "dev"]) == 0
    capsys.readouterr()
    assert secret_cli.main(["--stage", "dev", "--origin-header", "th"]) == 0
    first = capsys.readouterr().out.strip()
    name, _, value = first.partition(": ")
    ring = keys.parse_key_set(str(_get(ssm)["Value"])).ring()
    assert (name, [value]) == (ORIGIN_VERIFY_HEADER, origin_verify_values(ring, "th"))
    for key in _stored(ssm)["keys"]:
        assert key["secret"] not in first

    assert secret_cli.main(["--stage", "dev", "--rotate"]) == 0
    capsys.readouterr()
    assert secret_cli.main(["--stage", "dev", "--origin-header", "th"]) == 0
    rotated = capsys.readouterr().out.strip().partition(": ")[2]
    accepted = origin_verify_values(keys.parse_key_set(str(_get(ssm)["Value"])).ring(), "th")
    assert accepted == [rotated, value] and rotated != value
