"""``python -m devtools.dev_server.invoke FN [EVENT]`` (``make invoke``): one handler, one event, no Docker.

Starts the local stack's emulator in this process (moto, the template's tables, a JWT secret, the
SMS outbox; nothing kept from ``make run``), calls ``functions/FN.py``'s handler with the event
(default ``events/FN.json``) and a Lambda context as Lambda would, and prints the answer: status,
headers and pretty JSON body for an API Gateway proxy response (anything else, such as the
authorizer's policy, as pretty JSON), then every SMS the call sent. The function's own log lines
(powertools JSON) come first, as in CloudWatch. ``--logical-id FN`` prints the function's
template logical id (``make sam-invoke`` uses it).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from devtools.handlers import template_functions
from devtools.local_stack.gateway import LambdaContext
from devtools.local_stack.stack import REPO_ROOT, start
from devtools.local_stack.template import ACCOUNT_ID, local_name, parse_overrides
from devtools.template import TemplateError, load_template


def logical_ids() -> dict[str, str]:
    """Function (its handler module, ``functions/<name>.py``) -> its template logical id."""
    functions = template_functions(load_template(REPO_ROOT / "template.yaml"))
    return {code.name: logical_id for logical_id, code in functions.items()}


def render(result: Any) -> str:
    """A proxy response as status line, headers and pretty body; anything else as pretty JSON."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return json.dumps(result, indent=2, ensure_ascii=False)
    headers = {**(result.get("headers") or {})}
    lines = [f"HTTP {result['statusCode']}", *(f"{name}: {value}" for name, value in headers.items()), ""]
    body = result.get("body") or ""
    try:
        lines.append(json.dumps(json.loads(body), indent=2, ensure_ascii=False))
    except ValueError:
        lines.append(body)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ids = logical_ids()
    parser = argparse.ArgumentParser("python -m devtools.dev_server.invoke", description=__doc__.splitlines()[0])
    parser.add_argument(
        "function", metavar="FN", choices=sorted(ids), help="a function of functions/: " + " ".join(ids)
    )
    parser.add_argument("event", nargs="?", type=Path, help="the event's JSON file (default: events/FN.json)")
    parser.add_argument("--config-env", default="default", help="samconfig.toml environment (as make run's ENV)")
    parser.add_argument("--parameter-overrides", default="", metavar="'Name=Value ...'")
    parser.add_argument("--logical-id", action="store_true", help="print FN's logical id and exit")
    args = parser.parse_args(argv)
    logical_id = ids[args.function]
    if args.logical_id:
        print(logical_id)
        return 0
    event_path = args.event or REPO_ROOT / "events" / f"{args.function}.json"
    try:
        event = json.loads(event_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"cannot read the event {event_path}: {exc}", file=sys.stderr)
        return 2
    # Only FN is imported: every other function gets a stand-in that is never called.
    others = {lid: _never_called for lid in ids.values() if lid != logical_id}
    try:
        stack = start(
            echo=False,
            config_env=args.config_env,
            parameter_overrides=parse_overrides(args.parameter_overrides),
            import_sample_users=False,
            handlers=others,
            stream_events=False,
        )
    except TemplateError as exc:
        print(f"cannot start the emulator: {exc}", file=sys.stderr)
        return 1
    try:
        function = stack.model.functions[logical_id]
        name = local_name(logical_id)
        arn = f"arn:aws:lambda:{stack.region}:{ACCOUNT_ID}:function:{name}"
        context = LambdaContext(name, arn, function.memory or 128, function.timeout or 3)
        try:
            result = stack.gateway.handlers[logical_id](event, context)
        except Exception:
            print(f"\n{args.function} raised:\n{traceback.format_exc()}", file=sys.stderr)
            return 1
        print(f"\n--- {args.function} ({logical_id}) answered ---\n{render(result)}")
        messages = stack.sms()
        print(f"\n--- SMS sent: {len(messages)} ---")
        for message in messages:
            print(f"to {message.to}: {message.body}")
        return 0
    finally:
        stack.stop()


def _never_called(event: dict[str, Any], context: Any) -> Any:
    raise AssertionError("make invoke calls one function only")


if __name__ == "__main__":
    raise SystemExit(main())
