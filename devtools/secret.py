"""Create the JWT signing secret of a phone-auth stack in SSM Parameter Store.

Every stack reads one secret, an SSM ``SecureString`` named by the template
parameter ``JwtSecretParameterName`` (``/phone-auth/<stage>/jwt-secret`` by
default). The stack only reads it, so it has to exist before the first deploy::

    python -m devtools.secret --stage dev
    python -m devtools.secret --stage prod --profile prod-admin
    python -m devtools.secret --stage dev --market-env th-dev
    python -m devtools.secret --stage dev --market-env us-dev --region us-east-1
    python -m devtools.secret --stage dev --parameter-name /my/own/name

``--market-env NAME`` names the secret ``/phone-auth/NAME/jwt-secret`` for a
samconfig environment that has its own secret (th-dev, us-dev).

The value is 256 random bits from ``secrets.token_bytes(32)``, base64url-encoded
without padding. It goes straight to SSM and is never printed or logged.

An existing parameter is left alone unless ``--overwrite`` is given: replacing
the secret invalidates every token already issued, which signs everyone out.

Exit status: 0 when the parameter was written, 1 when the tool refused or
failed (the reason is printed on stderr).

boto3 is used only here, in a developer/operator tool; it is not part of the
Lambda package.
"""

from __future__ import annotations

import argparse
import base64
import re
import secrets
import sys
from collections.abc import Mapping, Sequence
from typing import Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

SECRET_BYTES = 32  # 256 bits, the HS256 key size
# Same rules as the template's Stage and JwtSecretParameterName parameters.
_NAME_PART = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_PARAMETER_NAME = re.compile(r"^/[A-Za-z0-9_.\-/]+$")
DESCRIPTION = "phone-auth JWT signing secret (256 random bits, base64url). Written by devtools.secret."
OVERWRITE_WARNING = "Replacing the secret invalidates every issued token, which signs everyone out."


class SsmClient(Protocol):
    """The one boto3 SSM client method this tool uses."""

    def put_parameter(self, **kwargs: object) -> Mapping[str, object]:
        """Create or update a parameter (boto3 ``SSM.Client.put_parameter``)."""


def default_parameter_name(stage: str, market_env: str | None = None) -> str:
    """Return the name the template expects: /phone-auth/<env or stage>/jwt-secret."""
    return f"/phone-auth/{market_env or stage}/jwt-secret"


def generate_secret() -> str:
    """Return 256 random bits, base64url-encoded without '=' padding (43 chars)."""
    raw = secrets.token_bytes(SECRET_BYTES)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _name_part(value: str) -> str:
    if not _NAME_PART.match(value):
        raise argparse.ArgumentTypeError(
            f"{value!r}: use lowercase letters, digits and hyphens, starting with a letter"
        )
    return value


def _parameter_name(value: str) -> str:
    if not _PARAMETER_NAME.match(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a fully qualified SSM parameter name (it must start with '/')"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.secret",
        description="Create the phone-auth JWT signing secret as an SSM SecureString. The value is never printed.",
    )
    parser.add_argument("--stage", required=True, type=_name_part, help="deployment stage, e.g. dev")
    naming = parser.add_mutually_exclusive_group()
    naming.add_argument(
        "--market-env",
        type=_name_part,
        metavar="NAME",
        help="samconfig environment with its own secret, e.g. th-dev or us-dev (/phone-auth/NAME/jwt-secret)",
    )
    naming.add_argument(
        "--parameter-name",
        type=_parameter_name,
        metavar="NAME",
        help="full SSM parameter name, instead of /phone-auth/<stage>/jwt-secret",
    )
    parser.add_argument("--region", help="AWS region (default: environment/profile)")
    parser.add_argument("--profile", help="AWS named profile (default: usual chain)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing secret (signs everyone out)",
    )
    return parser


def _redact(text: str, secret: str) -> str:
    """Hide the secret in a message: it must never reach the terminal."""
    return text.replace(secret, "<redacted>")


def store_secret(client: SsmClient, name: str, value: str, *, overwrite: bool) -> int:
    """Write ``value`` as a SecureString and return the new parameter version.

    Without ``overwrite`` the write itself is conditional (``Overwrite=False``),
    so two people running the tool at once cannot replace each other's secret;
    SSM raises ``ClientError`` with code ``ParameterAlreadyExists`` instead.
    """
    common: dict[str, object] = {
        "Name": name,
        "Value": value,
        "Type": "SecureString",
        "Description": DESCRIPTION,
        "Tier": "Standard",
    }
    if overwrite:
        # SSM rejects Tags together with Overwrite=True; the first write's stay.
        response = client.put_parameter(**common, Overwrite=True)
    else:
        tags = [{"Key": "project", "Value": "phone-auth"}]
        response = client.put_parameter(**common, Overwrite=False, Tags=tags)
    return int(str(response["Version"]))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tool; returns the process exit status."""
    args = build_parser().parse_args(argv)
    name: str = args.parameter_name or default_parameter_name(args.stage, args.market_env)
    value = generate_secret()

    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
    except ProfileNotFound as exc:
        print(str(exc), file=sys.stderr)
        return 1
    region = session.region_name
    if not region:
        print("No AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION.", file=sys.stderr)
        return 1

    try:
        version = store_secret(session.client("ssm"), name, value, overwrite=args.overwrite)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterAlreadyExists":
            print(
                f"Refusing to overwrite {name}: the parameter already exists.\n"
                f"Re-run with --overwrite to replace it. {OVERWRITE_WARNING}",
                file=sys.stderr,
            )
        else:
            print(f"Could not write {name}: {_redact(str(exc), value)}", file=sys.stderr)
        return 1
    except NoCredentialsError:
        print("No AWS credentials: configure them or pass --profile.", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"Could not write {name}: {_redact(str(exc), value)}", file=sys.stderr)
        return 1

    if args.overwrite and version > 1:
        print(
            f"Replaced SecureString {name} in {region} (now version {version}).\n"
            "Tokens issued with the old secret are invalid: everyone is signed out "
            "(warm functions switch once their cached copy of the secret expires)."
        )
    else:
        print(f"Created SecureString {name} in {region} (version {version}). The value is not displayed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
