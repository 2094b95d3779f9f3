"""Benchmark: prints figures, asserts nothing.

1. Cold import of each function's app.py in a fresh interpreter, against a floor process
   (import boto3, create one DynamoDB client, import jwt and bcrypt), median of N runs.
2. bcrypt hashing time per cost factor on this machine, to choose BCRYPT_ROUNDS and memory.

Run with `make bench`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FLOOR = "import boto3, jwt, bcrypt; boto3.client('dynamodb', region_name='ap-southeast-1')"
ENV = {
    "AWS_DEFAULT_REGION": "ap-southeast-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "STAGE": "bench",
    "USERS_TABLE_NAME": "users",
    "OTP_TABLE_NAME": "otps",
    "JWT_SECRET_PARAMETER_NAME": "/phone-auth/bench/jwt-secret",
    "PYTHONPATH": f"{ROOT / 'layers' / 'common'}",
    "PYTHONDONTWRITEBYTECODE": "0",
}


def _time_process(code: str, runs: int) -> float:
    env = {**os.environ, **ENV}
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)  # noqa: S603
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def cold_imports(runs: int) -> None:
    floor = _time_process(FLOOR, runs)
    print(f"cold start, median of {runs} fresh interpreters (ms):")
    print(f"  {'floor (boto3 + client + jwt + bcrypt)':40s} {floor:7.1f}")
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        code = (
            "import importlib.util, boto3; boto3.client('dynamodb', region_name='ap-southeast-1');"
            f"s = importlib.util.spec_from_file_location('app', {str(app)!r});"
            "m = importlib.util.module_from_spec(s); s.loader.exec_module(m)"
        )
        took = _time_process(code, runs)
        print(f"  {app.parent.name:40s} {took:7.1f}  ({took / floor:4.2f}x floor)")


def bcrypt_costs() -> None:
    import bcrypt

    print("bcrypt hashpw on this machine (ms, one core):")
    for rounds in (10, 11, 12, 13):
        start = time.perf_counter()
        bcrypt.hashpw(b"benchmark password", bcrypt.gensalt(rounds))
        print(f"  cost {rounds}: {(time.perf_counter() - start) * 1000:7.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    cold_imports(args.runs)
    bcrypt_costs()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
