"""devtools.secret: creates the JWT secret once, refuses to clobber it, never prints it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devtools import secret as secret_cli

REGION = "ap-southeast-1"


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


def _get(ssm: Any, name: str) -> dict[str, Any]:
    return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]


def _decoded(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def test_creates_a_securestring_of_32_random_bytes(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert secret_cli.main(["--stage", "dev"]) == 0

    param = _get(ssm, "/phone-auth/dev/jwt-secret")
    assert param["Type"] == "SecureString"
    assert param["Version"] == 1
    value = str(param["Value"])
    assert len(_decoded(value)) == 32
    assert "=" not in value  # base64url without padding

    out, err = capsys.readouterr()
    assert "/phone-auth/dev/jwt-secret" in out
    assert value not in out + err


def test_refuses_a_second_run_and_keeps_the_secret(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert secret_cli.main(["--stage", "dev"]) == 0
    first = str(_get(ssm, "/phone-auth/dev/jwt-secret")["Value"])
    capsys.readouterr()

    assert secret_cli.main(["--stage", "dev"]) == 1

    param = _get(ssm, "/phone-auth/dev/jwt-secret")
    assert param["Value"] == first
    assert param["Version"] == 1
    out, err = capsys.readouterr()
    assert "--overwrite" in err
    assert "signs everyone out" in err
    assert first not in out + err


def test_overwrite_replaces_the_secret(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert secret_cli.main(["--stage", "dev"]) == 0
    first = str(_get(ssm, "/phone-auth/dev/jwt-secret")["Value"])

    assert secret_cli.main(["--stage", "dev", "--overwrite"]) == 0

    param = _get(ssm, "/phone-auth/dev/jwt-secret")
    second = str(param["Value"])
    assert param["Type"] == "SecureString"
    assert param["Version"] == 2
    assert second != first
    assert len(_decoded(second)) == 32
    out, err = capsys.readouterr()
    assert "signed out" in out
    assert first not in out + err
    assert second not in out + err


def test_secret_never_appears_in_output(ssm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    runs = [
        ["--stage", "dev"],
        ["--stage", "dev"],  # refused
        ["--stage", "dev", "--overwrite"],
        ["--stage", "dev", "--market-env", "us-dev", "--region", REGION],
    ]
    for argv in runs:
        secret_cli.main(argv)
    out, err = capsys.readouterr()

    values = [str(_get(ssm, name)["Value"]) for name in ("/phone-auth/dev/jwt-secret", "/phone-auth/us-dev/jwt-secret")]
    history = ssm.get_parameter_history(Name="/phone-auth/dev/jwt-secret", WithDecryption=True)["Parameters"]
    values += [str(h["Value"]) for h in history]
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


def test_market_env_and_parameter_name_are_exclusive(ssm: Any) -> None:
    with pytest.raises(SystemExit) as exc:
        secret_cli.main(["--stage", "dev", "--market-env", "us-dev", "--parameter-name", "/x/y"])
    assert exc.value.code == 2


def test_missing_region_fails_cleanly(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert secret_cli.main(["--stage", "dev"]) == 1
    assert "--region" in capsys.readouterr().err
