"""``python -m devtools.local_stack [--port N] [--parameter-overrides 'K=V ...'] [--config-env ENV]``.

Runs until Ctrl+C (SIGINT) or SIGTERM, then stops the HTTP server and moto cleanly.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

import click

from devtools.local_stack.stack import start
from devtools.local_stack.template import parse_overrides
from devtools.template import TemplateError


def main(argv: list[str] | None = None) -> int:
    """Start the stack, wait for SIGINT/SIGTERM, stop it. Returns the process exit code."""
    parser = argparse.ArgumentParser("python -m devtools.local_stack", description="Serve template.yaml's API locally.")
    add = parser.add_argument
    add("--host", default=os.environ.get("HOST", "127.0.0.1"), help="bind address (default 127.0.0.1)")
    add("--port", type=int, default=int(os.environ.get("PORT", "3000")), help="port (default $PORT or 3000)")
    add("--template", dest="template_path", metavar="PATH", help="default: template.yaml at the repo root")
    add("--parameter-overrides", default="", metavar="'Name=Value ...'", help="template parameters, as for sam")
    add("--config-env", default="default", help="samconfig.toml environment whose parameter_overrides apply")
    add("--no-demo-users", dest="import_sample_users", action="store_false", help="skip devtools/sample_users.csv")
    add(
        "--concurrent-invocations",
        dest="one_request_per_function",
        action="store_false",
        help="let one function serve several requests at once (default: one at a time, like one Lambda container)",
    )
    args = vars(parser.parse_args(argv))  # named like start()'s keyword arguments
    try:
        stack = start(**args | {"parameter_overrides": parse_overrides(args["parameter_overrides"])})
    except click.BadParameter as exc:
        print(f"--parameter-overrides: {exc.message}", file=sys.stderr)
        return 2
    except TemplateError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot start: {exc} (is port {args['port']} already in use? try PORT=3001)", file=sys.stderr)
        return 1
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())
    try:
        stop_requested.wait()
    finally:
        print("stopping local stack...", flush=True)
        stack.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
