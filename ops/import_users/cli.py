"""The command line: run the import in one of two modes, print rejections and the summary on
stdout and progress on stderr (a status line on a terminal), and exit 0, 2 or 1.

- Through the admin API (``remote``): ``--stack NAME`` (its ``AdminApiUrl`` output, read with
  cloudformation:DescribeStacks), ``--admin-api URL`` (no CloudFormation call), or
  ``--local [URL] --via-api`` (the local stack's admin API and its documented credentials).
  The operator signs with SigV4 and needs only ``execute-api:Invoke`` on the admin API.
- Direct (``writing``): ``--table``, ``$USERS_TABLE_NAME`` or plain ``--local``: the operator's
  own DynamoDB client writes to the users table.

A dry run needs no table and never goes through the API: without a table, with an API mode,
or with --local and no local stack running, it checks the file only. A run with rejected rows
ends with a sentence saying the other rows were imported, so exit code 2 does not read like a
crash.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ops.import_users.progress import display_for
from ops.import_users.remote import AdminApi, import_file_via_api, region_of
from ops.import_users.writing import import_file, make_client
from ops.local_info import LocalStackUnreachable, add_local_argument, local_stack_info
from phone_auth.user_import.report import ImportFailed, ImportReport

DEFAULT_PHONE_REGION = "TH"
DEFAULT_BCRYPT_ROUNDS = 12


def _session(args: argparse.Namespace) -> Any:
    import boto3

    return boto3.session.Session(profile_name=args.profile, region_name=args.region)


def _stack_admin_api(stack: str, session: Any) -> str:
    """The stack's ``AdminApiUrl`` output (cloudformation:DescribeStacks)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except (BotoCoreError, ClientError) as exc:
        raise ImportFailed(
            f"stack {stack}: {exc} (reading its AdminApiUrl output needs cloudformation:DescribeStacks; "
            "--admin-api URL needs no CloudFormation access)"
        ) from None
    for output in (stacks[0].get("Outputs") or []) if stacks else []:
        if output.get("OutputKey") == "AdminApiUrl":
            return str(output["OutputValue"])
    raise ImportFailed(f"stack {stack} has no AdminApiUrl output")


def _admin_api(args: argparse.Namespace) -> AdminApi:
    """The admin API this run goes through, with the credentials and region it signs with."""
    if args.local:
        try:
            info = local_stack_info(args.local)
        except LocalStackUnreachable as exc:
            raise ImportFailed(str(exc)) from None
        if "admin_api" not in info or "admin_credentials" not in info:
            raise ImportFailed(f"the local stack at {args.local} serves no admin API")
        from botocore.credentials import Credentials

        keys = info["admin_credentials"]
        credentials = Credentials(keys["access_key_id"], keys["secret_access_key"])
        return AdminApi(str(info["admin_api"]), credentials, str(keys.get("region") or info["region"]))
    session = _session(args)
    url = args.admin_api or _stack_admin_api(args.stack, session)
    region = args.region or region_of(url) or session.region_name
    if not region:
        raise ImportFailed("no region to sign with: give --region (the stack's region)")
    credentials = session.get_credentials()
    if credentials is None:
        raise ImportFailed("no AWS credentials found (give --profile, or set AWS_PROFILE or AWS_ACCESS_KEY_ID)")
    return AdminApi(url, credentials, region)


def _through_api(args: argparse.Namespace) -> bool:
    return bool(args.stack or args.admin_api or (args.local and args.via_api))


def _use_local_stack(args: argparse.Namespace) -> None:
    """Point this run at the running local stack: its moto endpoint, region, table and phone region."""
    try:
        info = local_stack_info(args.local)
    except LocalStackUnreachable as exc:
        raise ImportFailed(str(exc)) from None
    args.table = info["tables"]["UsersTable"]
    args.endpoint_url = info["moto_endpoint_url"]
    args.region = args.region or info["region"]
    if args.default_region is None:
        args.default_region = info.get("environment", {}).get("DEFAULT_REGION", DEFAULT_PHONE_REGION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops.import_users",
        description=(
            "Import back-office users from a CSV file (phone[,password_hash|password][,profile columns...]), "
            "through a stack's admin API (--stack, --admin-api, --local --via-api: the signing identity needs "
            "only execute-api:Invoke, the stack's BackOfficePolicyArn) or straight into the users table "
            "(--table, $USERS_TABLE_NAME, --local: the operator's DynamoDB credentials)."
        ),
        epilog=(
            "Header names, any case: phone (or mobile, mobile_phone, MobilePhone, mobilePhone), "
            "password_hash (or PasswordHash), password; every other column is a profile field. "
            "Columns separated by commas, semicolons or tabs (read from the header line). "
            "Exit code 0: all rows imported, 2: some rows rejected (listed), 1: an error (a refused call, "
            "a network problem, a failed import job): nothing more was imported."
        ),
    )
    parser.add_argument("file", help="CSV file, UTF-8 (a BOM is fine), header row required")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--stack",
        help=(
            "import through this CloudFormation stack's admin API (its AdminApiUrl output: needs "
            "cloudformation:DescribeStacks besides execute-api:Invoke)"
        ),
    )
    where.add_argument(
        "--admin-api",
        metavar="URL",
        help="import through the admin API at this URL (the stack's AdminApiUrl; no CloudFormation access needed)",
    )
    where.add_argument("--table", help="write straight into this users table (default: $USERS_TABLE_NAME)")
    add_local_argument(where, uses="moto endpoint and table, or with --via-api its admin API")
    parser.add_argument(
        "--via-api", action="store_true", help="with --local: import through the local stack's admin API"
    )
    parser.add_argument("--region", help="AWS region of the stack or table (default: the profile's)")
    parser.add_argument("--profile", help="AWS named profile")
    parser.add_argument("--endpoint-url", help="direct mode: DynamoDB endpoint (e.g. a local emulator)")
    parser.add_argument(
        "--default-region",
        help=f"direct mode: phone region for national numbers (default {DEFAULT_PHONE_REGION}; the stack's own "
        "through the admin API)",
    )
    parser.add_argument(
        "--bcrypt-rounds",
        type=int,
        help=f"direct mode: bcrypt cost for plaintext passwords (4-16, default {DEFAULT_BCRYPT_ROUNDS}; the "
        "stack's own through the admin API)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help=(
            "check and count, write nothing; without a table, through the admin API (a dry run never goes "
            "through it), or with --local and no local stack running, the rows are only checked, not compared "
            "with existing users"
        ),
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.via_api and not args.local:
        parser.error("--via-api goes with --local (--stack and --admin-api always go through the admin API)")
    through_api = _through_api(args)
    if through_api:
        given = [
            option
            for option, value in (
                ("--endpoint-url", args.endpoint_url),
                ("--default-region", args.default_region),
                ("--bcrypt-rounds", args.bcrypt_rounds),
            )
            if value is not None
        ]
        if given:
            parser.error(f"{', '.join(given)}: the stack's own settings apply to an import through the admin API")

    def to_stderr(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        if through_api and not args.dry_run:
            result = import_file_via_api(
                args.file, _admin_api(args), progress=display_for(sys.stderr), report=print, notice=to_stderr
            ).report
        else:
            result = _direct(args, through_api, to_stderr)
    except ImportFailed as exc:
        to_stderr(f"import_users: error: {exc}")
        return 1
    except Exception as exc:  # botocore profile/credential problems and the like
        to_stderr(f"import_users: error: {type(exc).__name__}: {exc}")
        return 1
    note = result.closing_note()
    if note:
        sys.stdout.flush()
        to_stderr(note)
    return result.exit_code


def _direct(args: argparse.Namespace, through_api: bool, to_stderr: Callable[[str], None]) -> ImportReport:
    """The direct mode's run, and every dry run."""
    if through_api:
        to_stderr(
            "import_users: a dry run does not go through the admin API: checking the file only, "
            "without comparing it with existing users"
        )
        table = ""
    elif args.local:
        try:
            _use_local_stack(args)
            table = args.table
        except ImportFailed:
            if not args.dry_run:
                raise
            to_stderr(
                f"import_users: no local stack answers at {args.local}: checking the file only, "
                "without comparing it with existing users"
            )
            table = ""
    else:
        table = args.table or os.environ.get("USERS_TABLE_NAME", "")
    client = None
    if Path(args.file).is_file() and table:
        client = make_client(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)
    return import_file(
        args.file,
        table,
        default_region=args.default_region or DEFAULT_PHONE_REGION,
        bcrypt_rounds=args.bcrypt_rounds if args.bcrypt_rounds is not None else DEFAULT_BCRYPT_ROUNDS,
        dry_run=args.dry_run,
        progress=display_for(sys.stderr),
        report=print,
        client=client,
    )
