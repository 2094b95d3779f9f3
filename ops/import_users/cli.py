"""The command line: find the table (--table, --stack, --local or $USERS_TABLE_NAME), run
the import, print rejections and the summary on stdout and progress on stderr (a status
line on a terminal), and exit 0, 2 or 1.

A dry run needs no table: without one (or with --local and no local stack running) it
checks the file only. A run with rejected rows ends with a sentence saying the other rows
were imported, so exit code 2 does not read like a crash.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ops.import_users.progress import display_for
from ops.import_users.writing import import_file, make_client
from ops.local_info import LocalStackUnreachable, add_local_argument, local_stack_info
from phone_auth.user_import.report import ImportFailed


def _stack_table(stack: str, *, region: str | None, profile: str | None) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session(profile_name=profile, region_name=region)
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except (BotoCoreError, ClientError) as exc:
        raise ImportFailed(f"stack {stack}: {exc}") from None
    for output in (stacks[0].get("Outputs") or []) if stacks else []:
        if output.get("OutputKey") == "UsersTableName":
            return str(output["OutputValue"])
    raise ImportFailed(f"stack {stack} has no UsersTableName output")


def _use_local_stack(args: argparse.Namespace) -> None:
    """Point this run at the running local stack: its moto endpoint, region, table and phone region."""
    try:
        info = local_stack_info(args.local)
    except LocalStackUnreachable as exc:
        raise ImportFailed(str(exc)) from None
    args.table = info["tables"]["UsersTable"]
    args.endpoint_url = info["moto_endpoint_url"]
    args.region = args.region or info["region"]
    if args.default_region == "TH":
        args.default_region = info.get("environment", {}).get("DEFAULT_REGION", "TH")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "local")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops.import_users",
        description="Import back-office users from a CSV file (phone[,password_hash|password][,profile columns...]).",
        epilog=(
            "Header names, any case: phone (or mobile, mobile_phone, MobilePhone, mobilePhone), "
            "password_hash (or PasswordHash), password; every other column is a profile field. "
            "Columns separated by commas, semicolons or tabs (read from the header line). "
            "Exit code 0: all rows imported, 2: some rows rejected (listed), 1: nothing imported (error)."
        ),
    )
    parser.add_argument("file", help="CSV file, UTF-8 (a BOM is fine), header row required")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--table", help="users table name (default: $USERS_TABLE_NAME)")
    where.add_argument("--stack", help="read the table from this CloudFormation stack's UsersTableName output")
    add_local_argument(where, uses="moto endpoint and table")
    parser.add_argument("--region", help="AWS region of the table")
    parser.add_argument("--profile", help="AWS named profile")
    parser.add_argument("--endpoint-url", help="DynamoDB endpoint (e.g. a local emulator)")
    parser.add_argument("--default-region", default="TH", help="phone region for national numbers (default TH)")
    parser.add_argument("--bcrypt-rounds", type=int, default=12, help="bcrypt cost for plaintext passwords (4-16)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help=(
            "check and count, write nothing; without a table (or with --local and no local stack running) "
            "the rows are only checked, not compared with existing users"
        ),
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    def to_stderr(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        if args.local:
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
        elif args.stack:
            table = _stack_table(args.stack, region=args.region, profile=args.profile)
        else:
            table = args.table or os.environ.get("USERS_TABLE_NAME", "")
        client = None
        if Path(args.file).is_file() and table:
            client = make_client(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)
        result = import_file(
            args.file,
            table,
            default_region=args.default_region,
            bcrypt_rounds=args.bcrypt_rounds,
            dry_run=args.dry_run,
            progress=display_for(sys.stderr),
            report=print,
            client=client,
        )
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
