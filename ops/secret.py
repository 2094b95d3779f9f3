"""``python -m ops.secret`` (``make secret``, ``make rotate-secret``): create, rotate and retire the
JWT signing keys of a phone-auth stack, the key set in the SSM ``SecureString`` the template's
``JwtSecretParameterName`` names (``/phone-auth/<stage>/jwt-secret`` by default, or a running
local stack's with ``--local``).

The key set's format is the functions' own (``phone_auth.keys`` reads, writes and converts it,
the legacy single secret included; docs/deploy.md#key-rotation describes it). This tool decides
when a key is added (``--rotate``: a new current key, the older ones kept, so nobody is signed
out) or dropped (``--retire``: the keys older than the current one, refused while the current key
is younger than ``--min-age``, 3900 s by default, unless ``--force``), and reads and writes the
parameter. ``--origin-header MARKET`` prints the header a CloudFront distribution in front of the
stack adds (``TRUSTED_PROXY=cloudfront``; docs/deploy.md), derived from the current key. Without
any of these it creates the first key set and refuses to replace one (``--overwrite`` does,
signing everyone out).

The stack creates the key set itself on its first deploy when the parameter does not exist
(template.yaml's KeySet), so a new stack needs no step here. ``--config-env`` names a
samconfig.toml environment and takes its region and parameter name from it (``make secret
ENV=...``, ``make rotate-secret ENV=...``); a name samconfig.toml does not have is refused with
the names it has, and no region is ever taken from the AWS environment then.

Secrets come from ``secrets.token_bytes(32)``, go straight to SSM and are never printed or
logged: the output names kids only. A stored value the functions could not read is refused,
never rewritten. Exit status: 0 when the parameter was written (or nothing needed retiring), 1
when the tool refused or failed (the reason on stderr).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from ops.local_info import LocalStackUnreachable, add_local_argument, local_stack_info
from phone_auth import keys
from phone_auth.keys import KeySet, new_key
from phone_auth.keys import StoredKey as Key

# Re-exported for the tests and tools that make keys as this tool does (phone_auth.keys makes them).
from phone_auth.keys import generate_secret as generate_secret
from phone_auth.keys import new_key_set as new_key_set
from phone_auth.keys import new_kid as new_kid

#: Default --min-age for --retire: the default access-token lifetime plus the secret cache.
RETIRE_MIN_AGE_SECONDS = 3600 + 300
# Same rules as the template's Stage and JwtSecretParameterName parameters.
_NAME_PART = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_PARAMETER_NAME = re.compile(r"^/[A-Za-z0-9_.\-/]+$")
_MARKET = re.compile(r"^[a-z]{2}$")
DESCRIPTION = "phone-auth JWT signing key set (JSON: version, current kid, keys). Written by ops.secret."
OVERWRITE_WARNING = "Replacing the secret invalidates every issued token, which signs everyone out."


class Refused(Exception):
    """The tool will not write; the message says why and never holds a secret."""


# ------------------------------------------------------------------ the key set's policy
# The format (reading, writing, the legacy conversion) and a new key are the functions' own:
# phone_auth.keys (generate_secret, new_kid, new_key, new_key_set).
def age_seconds(key: Key, now: datetime) -> float:
    return (now - _instant(key.created_at)).total_seconds()


def rotated(key_set: KeySet) -> KeySet:
    """A new current key in front; every key so far kept."""
    kids = {key.kid for key in key_set.keys}
    key = new_key()
    while key.kid in kids:  # pragma: no cover - 64 random bits
        key = new_key()
    return KeySet((key, *key_set.keys))


def retired(key_set: KeySet) -> KeySet:
    """The current key and any key created after it; the others (listed after the current key,
    created before it or in the same instant) are dropped."""
    current = _instant(key_set.current.created_at)
    newer = (key for key in key_set.keys[1:] if _instant(key.created_at) > current)
    return replace(key_set, keys=(key_set.current, *newer))


def _instant(created_at: str) -> datetime:
    return datetime.fromisoformat(created_at.replace("Z", "+00:00"))


def parse_key_set(value: str, *, legacy_created_at: str | None = None) -> KeySet:
    """The stored value read as the functions read it; Refused (never quoting it) when they could not."""
    try:
        return keys.parse_key_set(value, legacy_created_at=legacy_created_at)
    except keys.KeySetError as exc:
        raise Refused(str(exc)) from None


# ------------------------------------------------------------------ SSM
def default_parameter_name(stage: str, market_env: str | None = None) -> str:
    """Return the name the template expects: /phone-auth/<env or stage>/jwt-secret."""
    return f"/phone-auth/{market_env or stage}/jwt-secret"


def store_secret(client: Any, name: str, value: str, *, overwrite: bool) -> int:
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


def read_key_set(client: Any, name: str) -> tuple[KeySet, int]:
    """The stored key set (a legacy value read as one key) and the parameter's version."""
    parameter = client.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    if parameter.get("Type") != "SecureString":
        raise Refused(f"{name} is a {parameter.get('Type')}, not a SecureString")
    modified = parameter.get("LastModifiedDate")
    created_at = modified.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if modified else None
    return parse_key_set(str(parameter["Value"]), legacy_created_at=created_at), int(parameter["Version"])


def rotate(client: Any, name: str, hidden: list[str] | None = None) -> tuple[KeySet, KeySet, int]:
    """Add a new current key: (before, after, new parameter version). ``hidden`` collects the secrets."""
    before, version = read_key_set(client, name)
    after = rotated(before)
    if hidden is not None:
        hidden += after.secrets()
    written = store_secret(client, name, after.to_json(), overwrite=True)
    if written != version + 1:
        raise Refused(
            f"{name} changed while rotating (version {version} -> {written}): someone else wrote it; "
            "check it with this tool before going on"
        )
    return before, after, written


def retire(
    client: Any, name: str, *, min_age_seconds: float, force: bool, hidden: list[str] | None = None
) -> tuple[KeySet, KeySet, int | None]:
    """Drop the keys older than the current one: (before, after, new version or None if nothing changed)."""
    before, version = read_key_set(client, name)
    if hidden is not None:
        hidden += before.secrets()
    if before.legacy:
        raise Refused(f"{name} still holds a single legacy secret: rotate first, nothing to retire")
    after = retired(before)
    if after.keys == before.keys:
        return before, after, None
    age = age_seconds(before.current, datetime.now(UTC))
    if age < min_age_seconds and not force:
        raise Refused(
            f"the current key {before.current.kid} is only {int(age)} s old: tokens signed with the older keys "
            f"may still be in use (wait until it is {int(min_age_seconds)} s old, or pass --force)"
        )
    written = store_secret(client, name, after.to_json(), overwrite=True)
    if written != version + 1:
        raise Refused(f"{name} changed while retiring (version {version} -> {written}): check it before going on")
    return before, after, written


# ------------------------------------------------------------------ command line
def _name_part(value: str) -> str:
    if not _NAME_PART.match(value):
        raise argparse.ArgumentTypeError(
            f"{value!r}: use lowercase letters, digits and hyphens, starting with a letter"
        )
    return value


def _market(value: str) -> str:
    if not _MARKET.match(value):
        raise argparse.ArgumentTypeError(f"{value!r}: a market is two lowercase letters, as the Market parameter")
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
        prog="python -m ops.secret",
        description="Create, rotate or retire the phone-auth JWT signing keys (an SSM SecureString). "
        "Secrets are never printed.",
    )
    parser.add_argument(
        "--config-env",
        metavar="ENV",
        help="samconfig.toml environment (default, prod, th-dev, us-dev...): its region and JwtSecretParameterName",
    )
    parser.add_argument(
        "--stage", type=_name_part, help="deployment stage, e.g. dev (required unless --config-env or --local)"
    )
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
    add_local_argument(parser, uses="moto SSM and parameter")
    parser.add_argument("--region", help="AWS region (default: environment/profile)")
    parser.add_argument("--profile", help="AWS named profile (default: usual chain)")
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing key set with a new one (signs everyone out)",
    )
    action.add_argument("--rotate", action="store_true", help="add a new current key, keeping the older ones")
    action.add_argument("--retire", action="store_true", help="remove the keys older than the current one")
    action.add_argument(
        "--origin-header",
        metavar="MARKET",
        type=_market,
        help="print the header CloudFront must add for TRUSTED_PROXY=cloudfront (derived from the current key)",
    )
    parser.add_argument(
        "--min-age",
        type=float,
        default=RETIRE_MIN_AGE_SECONDS,
        metavar="SECONDS",
        help=f"--retire refuses while the current key is younger (default {RETIRE_MIN_AGE_SECONDS})",
    )
    parser.add_argument("--force", action="store_true", help="--retire even when the current key is young")
    return parser


def _redact(text: str, hidden: Sequence[str]) -> str:
    """Hide every secret in a message: none may reach the terminal."""
    for secret in hidden:
        text = text.replace(secret, "<redacted>")
    return text


def _local_stack(url: str) -> tuple[str, str, str]:
    """(moto endpoint, region, parameter name) of the local stack answering at ``url``."""
    try:
        info = local_stack_info(url)
    except LocalStackUnreachable as exc:
        raise Refused(str(exc)) from None
    return info["moto_endpoint_url"], info["region"], info["environment"]["JWT_SECRET_PARAMETER_NAME"]


def config_env_target(name: str) -> tuple[str, str]:
    """(region, parameter name) of a samconfig.toml environment; Refused when it has none or no region."""
    from devtools import samconfig
    from devtools.template import load_template

    try:
        env = samconfig.environment(name)
    except samconfig.UnknownEnvironment as exc:
        raise Refused(str(exc)) from None
    if not env.region:
        raise Refused(f'samconfig.toml\'s {name} environment names no region: add region = "..." to it')
    default = load_template()["Parameters"]["JwtSecretParameterName"]["Default"]
    return env.region, env.parameter("JwtSecretParameterName", str(default))


def _client(args: argparse.Namespace) -> tuple[Any, str, str]:
    """(SSM client, region, parameter name) for the arguments."""
    if args.config_env:
        region, name = config_env_target(args.config_env)
        session = boto3.Session(profile_name=args.profile, region_name=region)
        return session.client("ssm"), region, name
    if args.local:
        endpoint, region, name = _local_stack(args.local)
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)  # noqa: S106
        return session.client("ssm", endpoint_url=endpoint), region, args.parameter_name or name
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    if not session.region_name:
        raise Refused("No AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION.")
    name = args.parameter_name or default_parameter_name(args.stage, args.market_env)
    return session.client("ssm"), session.region_name, name


def _kids(keys: Sequence[Key]) -> str:
    return ", ".join(key.kid for key in keys) or "none"


def _create(client: Any, name: str, region: str, overwrite: bool, hidden: list[str]) -> str:
    key_set = new_key_set()
    hidden += key_set.secrets()
    try:
        version = store_secret(client, name, key_set.to_json(), overwrite=overwrite)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterAlreadyExists":
            raise Refused(
                f"Refusing to overwrite {name}: the parameter already exists.\n"
                f"Use --rotate to add a key without signing anyone out, or --overwrite to replace it. "
                f"{OVERWRITE_WARNING}"
            ) from None
        raise
    if overwrite and version > 1:
        return (
            f"Replaced SecureString {name} in {region} (now version {version}) with a new key set, "
            f"current key {key_set.current.kid}.\n"
            "Tokens issued with the old keys are invalid: everyone is signed out "
            "(warm functions switch once their cached copy of the secret expires)."
        )
    return (
        f"Created SecureString {name} in {region} (version {version}): a key set with current key "
        f"{key_set.current.kid}. The secret is not displayed."
    )


def _rotate(client: Any, name: str, region: str, hidden: list[str]) -> str:
    before, after, version = rotate(client, name, hidden)
    lines = [
        f"Rotated {name} in {region} (now version {version}): new current key {after.current.kid}; "
        f"older keys kept: {_kids(after.keys[1:])}."
    ]
    if before.legacy:
        lines.append(f"The legacy single secret became a key set; it stays as the older key {before.current.kid}.")
    lines.append(
        "New tokens are signed with the new key once warm functions reread the parameter (SECRET_CACHE_SECONDS). "
        "Retire the older keys (make rotate-secret RETIRE=1) after ACCESS_TOKEN_TTL_SECONDS plus "
        "SECRET_CACHE_SECONDS, when no token they signed is still valid."
    )
    return "\n".join(lines)


def _origin_header(client: Any, name: str, market: str) -> str:
    """The custom origin header of a CloudFront distribution in front of the stack (TRUSTED_PROXY=
    cloudfront): derived from the current key, so it needs no secret of its own; every live key's
    value is accepted, so after a rotation update the distribution before retiring the old key."""
    from phone_auth.callers import ORIGIN_VERIFY_HEADER, origin_verify_values

    key_set, _ = read_key_set(client, name)
    return f"{ORIGIN_VERIFY_HEADER}: {origin_verify_values(key_set.ring(), market)[0]}"


def _retire(client: Any, name: str, region: str, args: argparse.Namespace, hidden: list[str]) -> str:
    before, after, version = retire(client, name, min_age_seconds=args.min_age, force=args.force, hidden=hidden)
    if version is None:
        return f"Nothing to retire in {name}: no key is older than the current key {before.current.kid}."
    gone = [key for key in before.keys if key not in after.keys]
    return (
        f"Retired {len(gone)} key(s) of {name} in {region} (now version {version}): {_kids(gone)}. "
        f"Kept: {_kids(after.keys)} (current {after.current.kid}). Tokens they signed no longer verify."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tool; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.config_env and (args.local or args.stage or args.market_env or args.parameter_name or args.region):
        parser.error(
            "--config-env names the region and the parameter: it goes with none of --local, --stage, "
            "--market-env, --parameter-name or --region"
        )
    if not args.local and not args.stage and not args.config_env:
        parser.error("--config-env (or --stage) is required, or --local for the running local stack")
    hidden: list[str] = []
    name = "the parameter"
    try:
        client, region, name = _client(args)
        if args.rotate:
            message = _rotate(client, name, region, hidden)
        elif args.retire:
            message = _retire(client, name, region, args, hidden)
        elif args.origin_header:
            message = _origin_header(client, name, args.origin_header)
        else:
            message = _create(client, name, region, args.overwrite, hidden)
    except Refused as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except ProfileNotFound as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except NoCredentialsError:
        print("No AWS credentials: configure them or pass --profile.", file=sys.stderr)
        return 1
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            print(
                f"{name} does not exist: deploy the stack (it creates it) or create it with make secret.",
                file=sys.stderr,
            )
        else:
            print(f"Could not update {name}: {_redact(str(exc), hidden)}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"Could not update {name}: {_redact(str(exc), hidden)}", file=sys.stderr)
        return 1
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
