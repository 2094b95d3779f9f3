"""The deploy front door: ``make deploy ENV=... PARAMS=...`` keeps the environment's parameters,
``make secret``/``make rotate-secret`` take region and parameter name from samconfig.toml's ENV, and
``make lint`` validates every environment.

What ``sam deploy`` receives is read with SAM CLI's own command parser (its click command, which
reads samconfig.toml as ``sam deploy`` does), so the test sees what a deploy would pass on.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import boto3
import pytest

from devtools import samconfig
from ops import deploy
from ops import secret as secret_cli
from phone_auth import keys
from tests.helpers import ROOT


def what_sam_deploy_receives(argv: list[str]) -> dict[str, Any]:
    """The parameters SAM CLI's deploy command parses out of ``sam deploy ...`` (run from the repository)."""
    from samcli.commands.deploy.command import cli

    assert argv[1] == "deploy"
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        context = cli.make_context("deploy", argv[2:])
    finally:
        os.chdir(cwd)
    return dict(context.params)


def test_sam_deploys_own_overrides_would_drop_the_environments() -> None:
    """Why make deploy merges: --parameter-overrides replaces samconfig.toml's whole list."""
    received = what_sam_deploy_receives(["sam", "deploy", "--config-env", "th-dev", "--parameter-overrides", "A=1"])
    assert received["parameter_overrides"] == {"A": "1"}


@pytest.mark.parametrize("env_name", ["th-dev", "us-dev"])
def test_an_override_is_added_and_the_environment_keeps_its_settings(env_name: str) -> None:
    environment = samconfig.environment(env_name)
    command = deploy.deploy_command(env_name, ["AlarmEmail=ops@example.com", "AuthorizerReservedConcurrency=50"])

    received = what_sam_deploy_receives(command)

    assert received["config_env"] == env_name
    assert received["parameter_overrides"] == {
        **environment.parameters,
        "AlarmEmail": "ops@example.com",
        "AuthorizerReservedConcurrency": "50",
    }
    assert received["stack_name"] == environment.stack_name  # and the rest still from samconfig.toml
    assert received["capabilities"] == ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]


def test_th_dev_stays_the_back_office_market_and_us_dev_keeps_its_empty_sender_id() -> None:
    th_dev = what_sam_deploy_receives(deploy.deploy_command("th-dev", ["LogLevel=DEBUG"]))["parameter_overrides"]
    assert (th_dev["SignupMode"], th_dev["OtpLoginEnabled"], th_dev["LogLevel"]) == ("imported", "false", "DEBUG")
    us_dev = what_sam_deploy_receives(deploy.deploy_command("us-dev", []))["parameter_overrides"]
    assert us_dev["SmsSenderId"] == ""  # 'SmsSenderId=""' in samconfig.toml: empty, not two quotes
    assert us_dev == samconfig.environment("us-dev").parameters


def test_an_override_replaces_the_environments_value_for_its_key_only() -> None:
    received = what_sam_deploy_receives(deploy.deploy_command("us-dev", ["SmsSenderId=PhoneAuth"]))
    assert received["parameter_overrides"]["SmsSenderId"] == "PhoneAuth"
    assert received["parameter_overrides"]["Market"] == "us"


def test_an_unknown_environment_or_parameter_is_refused_before_anything_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert deploy.main(["--config-env", "staging", "--dry-run"]) == 2
    assert "has no environment 'staging'; it has: default, prod, th-dev, us-dev" in capsys.readouterr().err
    assert deploy.main(["--config-env", "th-dev", "--dry-run", "OtpLoginEnabeld=true"]) == 2
    assert "not parameters of template.yaml: OtpLoginEnabeld" in capsys.readouterr().err
    assert deploy.main(["--config-env", "th-dev", "--dry-run", "not-an-override"]) == 2


def test_the_dry_run_prints_the_command() -> None:
    command = deploy.deploy_command("th-dev", [])
    assert command[1:4] == ["deploy", "--config-env", "th-dev"]
    assert "OtpLoginEnabled=false" in command


# ------------------------------------------------------------------ the key set's tool
def test_secret_takes_the_region_and_name_from_the_environment_never_the_aws_default() -> None:
    """The bug this fixes: with AWS_DEFAULT_REGION=ap-southeast-1 (as here), us-dev's key set must
    still land in us-east-1, under us-dev's name."""
    assert os.environ["AWS_DEFAULT_REGION"] == "ap-southeast-1"
    assert secret_cli.main(["--config-env", "us-dev"]) == 0
    stored = boto3.client("ssm", region_name="us-east-1").get_parameter(
        Name="/phone-auth/us-dev/jwt-secret", WithDecryption=True
    )
    keys.parse_key_set(stored["Parameter"]["Value"])
    elsewhere = boto3.client("ssm", region_name="ap-southeast-1").describe_parameters()["Parameters"]
    assert "/phone-auth/us-dev/jwt-secret" not in [p["Name"] for p in elsewhere]
    assert secret_cli.main(["--config-env", "us-dev", "--rotate"]) == 0


def test_secret_refuses_an_environment_samconfig_does_not_have(capsys: pytest.CaptureFixture[str]) -> None:
    assert secret_cli.main(["--config-env", "staging"]) == 1
    assert "has no environment 'staging'; it has: default, prod, th-dev, us-dev" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--region", "eu-west-1"], ["--stage", "dev"], ["--parameter-name", "/x/y"]])
def test_secret_takes_nothing_that_could_contradict_the_environment(extra: list[str]) -> None:
    with pytest.raises(SystemExit):
        secret_cli.main(["--config-env", "us-dev", *extra])


# ------------------------------------------------------------------ the Makefile
def make(*arguments: str) -> str:
    """What make would run (make -n), for targets whose prerequisites are up to date."""
    done = subprocess.run(  # noqa: S603
        ["make", "--no-print-directory", "-n", *arguments],  # noqa: S607 - make on PATH
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={name: value for name, value in os.environ.items() if name != "ENV"},  # only what the test says
    )
    return done.stdout


def test_make_deploy_builds_and_deploys_the_environment_with_the_extra_parameters() -> None:
    commands = make("deploy", "ENV=us-dev", "PARAMS=AlarmEmail=ops@example.com")
    assert "sam build --config-env us-dev" in commands
    assert "-m ops.deploy --config-env us-dev AlarmEmail=ops@example.com" in commands
    assert "sam deploy" not in commands  # only through ops.deploy, which merges


def test_make_secret_and_rotate_secret_name_the_environment() -> None:
    assert "-m ops.secret --config-env th-dev" in make("secret", "ENV=th-dev")
    assert "--rotate" in make("rotate-secret", "ENV=prod") and "--config-env prod" in make("rotate-secret", "ENV=prod")
    assert "--retire" in make("rotate-secret", "ENV=prod", "RETIRE=1")
    local = make("rotate-secret")
    assert "--local http://127.0.0.1:3000" in local and "--config-env" not in local


def test_make_lint_validates_every_environment() -> None:
    commands = make("lint")
    assert "for env in $(.venv/bin/python -m devtools.samconfig)" in commands
    assert "sam validate --lint --config-env $env" in commands
    assert "-m devtools.validate" in commands
    listed = subprocess.run(  # noqa: S603
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "devtools.samconfig"], cwd=ROOT, capture_output=True, text=True
    )
    assert listed.stdout.split() == list(samconfig.environments())
