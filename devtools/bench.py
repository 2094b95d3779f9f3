"""Benchmark: prints figures, asserts nothing.

1. Cold import of each function's app.py in a fresh interpreter, against a floor process
   (import boto3, create one DynamoDB client, import jwt and bcrypt), median of N runs.
2. bcrypt hashing time per cost factor on this machine, to choose BCRYPT_ROUNDS and memory.
3. Metrics: the cold cost (import + first flush) of powertools' Metrics against plain
   ``print(json.dumps(...))`` EMF lines, in paired runs whose order alternates; each side
   also against a floor process that only imports powertools' Logger (every function does).

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


# Each snippet starts where a function already is (powertools' Logger imported), then emits
# the same metric once: a count with the Stage dimension in the PhoneAuth namespace.
METRICS_FLOOR = "from aws_lambda_powertools import Logger"
METRICS_PLAIN = (
    METRICS_FLOOR + "\nimport json, time\n"
    "print(json.dumps({'_aws': {'Timestamp': int(time.time() * 1000), 'CloudWatchMetrics': [{'Namespace': 'PhoneAuth',"
    " 'Dimensions': [['Stage']], 'Metrics': [{'Name': 'CodesSent', 'Unit': 'Count'}]}]}, 'Stage': 'dev',"
    " 'CodesSent': 1}, separators=(',', ':')))"
)
METRICS_POWERTOOLS = (
    METRICS_FLOOR + "\nfrom aws_lambda_powertools import Metrics\n"
    "from aws_lambda_powertools.metrics import MetricUnit\n"
    "metrics = Metrics(namespace='PhoneAuth', service='phone-auth')\n"
    "metrics.add_dimension(name='Stage', value='dev')\n"
    "metrics.add_metric(name='CodesSent', unit=MetricUnit.Count, value=1)\n"
    "metrics.lambda_invocation()"
)

#: This service's own module, which writes plain EMF lines.
METRICS_OURS = (
    METRICS_FLOOR + "\nfrom phone_auth.observability import metrics\n"
    "metrics.count('CodesSent', purpose='login')\n"
    "metrics.flush()"
)


def _run_once(code: str) -> float:
    env = {**os.environ, **ENV}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    return (time.perf_counter() - start) * 1000


def metrics_cold_start(pairs: int) -> None:
    """Paired runs, the order alternating each pair, so drift on the machine hits both sides."""
    powertools, plain, ours, floor, ratios = [], [], [], [], []
    for index in range(pairs):
        order = (METRICS_POWERTOOLS, METRICS_PLAIN) if index % 2 == 0 else (METRICS_PLAIN, METRICS_POWERTOOLS)
        took = {code: _run_once(code) for code in order}
        floor.append(_run_once(METRICS_FLOOR))
        ours.append(_run_once(METRICS_OURS))
        powertools.append(took[METRICS_POWERTOOLS])
        plain.append(took[METRICS_PLAIN])
        ratios.append(took[METRICS_POWERTOOLS] / took[METRICS_PLAIN])
    median = statistics.median
    print(f"metrics cold start: import + first flush, {pairs} alternating pairs, fresh interpreters (ms, median):")
    print(f"  {'floor (powertools Logger only)':40s} {median(floor):7.1f}")
    variants = (
        ("plain print(json.dumps(...)) EMF", plain),
        ("powertools Metrics", powertools),
        ("phone_auth.observability (plain EMF)", ours),
    )
    for name, samples in variants:
        extra = median([sample - base for sample, base in zip(samples, floor, strict=True)])
        print(f"  {name:40s} {median(samples):7.1f}  (+{extra:.1f} over the floor)")
    print(f"  {'median ratio powertools / plain':40s} {median(ratios):7.3f}")


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
    parser.add_argument("--metric-pairs", type=int, default=21, help="paired runs for the metrics figures")
    parser.add_argument("--only", choices=["imports", "bcrypt", "metrics"], help="run one section")
    args = parser.parse_args(argv)
    if args.only in (None, "imports"):
        cold_imports(args.runs)
    if args.only in (None, "bcrypt"):
        bcrypt_costs()
    if args.only in (None, "metrics"):
        metrics_cold_start(args.metric_pairs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
