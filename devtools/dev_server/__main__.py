"""``python -m devtools.dev_server`` (``make run``): the local stack with the web client, docs and kept data.

``[--port N] [--parameter-overrides 'K=V ...'] [--config-env ENV] [--static-dir PATH] [--fresh]``.
Runs until Ctrl+C (SIGINT) or SIGTERM, then stops the HTTP server and moto cleanly.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

import click

from devtools.dev_server import DevServer, LocalData
from devtools.local_stack.stack import REPO_ROOT, start
from devtools.local_stack.template import parse_overrides
from devtools.template import TemplateError

DATA_DIR = REPO_ROOT / "local-data"


def main(argv: list[str] | None = None) -> int:
    """Start the stack, wait for SIGINT/SIGTERM, stop it. Returns the process exit code."""
    parser = argparse.ArgumentParser("python -m devtools.dev_server", description="Serve template.yaml's API locally.")
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
    add("--static-dir", type=Path, default=os.environ.get("STATIC_DIR") or None, help="serve this build at /")
    add("--data-dir", type=Path, default=DATA_DIR, help="where data is kept across restarts (default local-data/)")
    add("--fresh", action="store_true", help="start empty: delete the config env's kept data first")
    add("--no-data", dest="keep_data", action="store_false", help="keep nothing on disk")
    args = vars(parser.parse_args(argv))  # named like start()'s keyword arguments, plus the extension's
    static_dir, data_dir, fresh, keep = (args.pop(name) for name in ("static_dir", "data_dir", "fresh", "keep_data"))
    if static_dir is not None and not static_dir.is_dir():
        print(f"--static-dir {static_dir}: not a directory", file=sys.stderr)
        return 2
    data = LocalData(data_dir / args["config_env"], fresh=fresh) if keep else None
    args |= {"extension": DevServer(static_dir=static_dir, data=data)}
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
