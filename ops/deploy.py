"""``make deploy ENV=<env> [PARAMS="Key=Value ..."]``: sam deploy with the environment's parameters and yours.

``sam deploy --config-env ENV --parameter-overrides ...`` replaces the environment's whole
``parameter_overrides`` list with the one given: an extra parameter on the command line would
silently drop every setting of th-dev or us-dev. So this reads the environment's list from
samconfig.toml (devtools.samconfig), puts the extra ``Key=Value`` overrides on top (a key given
again takes the new value, every other key keeps the environment's) and passes the merged list.
Every other setting (stack name, region, capabilities, S3 bucket, change set confirmation) still
comes from samconfig.toml through ``--config-env``.

    python -m ops.deploy --config-env th-dev                        # th-dev as samconfig.toml says
    python -m ops.deploy --config-env us-dev AlarmEmail=ops@example.com
    python -m ops.deploy --config-env prod --dry-run                 # print the sam command only

An unknown environment or a key that is not a template parameter is refused before anything runs.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from devtools import samconfig
from devtools.template import load_template


class Refused(Exception):
    """Nothing was deployed; the message says why."""


def sam_executable() -> str:
    """The venv's sam, beside this interpreter (make deploy's), else the one on PATH."""
    beside = Path(sys.executable).with_name("sam")
    return str(beside) if beside.is_file() else "sam"


def deploy_command(config_env: str, extra: Sequence[str]) -> list[str]:
    """The ``sam deploy`` command line for ``config_env`` with ``extra`` overrides merged on top."""
    try:
        env = samconfig.environment(config_env)
        parameters = samconfig.merged(env, extra)
    except (samconfig.UnknownEnvironment, samconfig.BadOverride) as exc:
        raise Refused(str(exc)) from None
    known = set(load_template()["Parameters"])
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise Refused(f"not parameters of template.yaml: {', '.join(unknown)}")
    command = [sam_executable(), "deploy", "--config-env", config_env]
    if parameters:
        command += ["--parameter-overrides", *samconfig.as_overrides(parameters)]
    return command


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.deploy",
        description="sam deploy with a samconfig.toml environment's parameters and extra overrides merged on top.",
    )
    parser.add_argument("--config-env", required=True, metavar="ENV", help="samconfig.toml environment")
    parser.add_argument("overrides", nargs="*", metavar="Key=Value", help="parameters to set on top of ENV's")
    parser.add_argument("--dry-run", action="store_true", help="print the sam deploy command, run nothing")
    args = parser.parse_args(argv)
    try:
        command = deploy_command(args.config_env, args.overrides)
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(shlex.join(command), flush=True)
    if args.dry_run:
        return 0
    return subprocess.call(command)  # noqa: S603 - our own argument list, no shell


if __name__ == "__main__":
    raise SystemExit(main())
