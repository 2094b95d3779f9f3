"""Benchmark: prints a short table and writes bench-results.json; asserts nothing.

``make bench`` (``QUICK=1``: a smoke run of every section in under two minutes). It builds the
layer first (``make build``) and measures, on this machine:

1. **The layer** as ``sam build`` made it: unzipped size, files, bytecode (devtools.perf.layer).
2. **Round trips** per step: DynamoDB calls, SSM reads per container, SMS, recorded on moto
   (tests/helpers/steps.py, the code tests/unit/test_round_trips.py asserts with).
3. **Cold start** of each function = importing its handler + its first invocation, run from the
   sam build output the way Lambda runs it (``python -S``; the function folder, the layer's
   python/ and boto3 as the runtime has it on sys.path; no bytecode written), AWS being an
   HTTP stub in another process that replays the recorded answers. Each run is paired with a
   floor process (import boto3, create a DynamoDB and an SSM client, import jwt and bcrypt),
   in alternating order; the ratio is CPU time over the floor's CPU time (CPU, not wall: the
   stub's answers and the other processes of this shared machine are not the function's cost).
   Median of the pairs and their spread [min, max]. A third process in each round, rotating
   with the other two, is the floor making the step's first AWS requests on its bare clients:
   over the floor it is what botocore alone costs those requests ("+calls"), and the function
   over it is the function's own share ("own"). The layer's two compiled packages are
   aarch64, so this x86 machine runs its own builds of the same versions in their place.
4. **Warm overhead**: per step, the handler's time per request over the time of the same AWS
   calls made on bare boto3 clients, both against the stub, in alternating chunks (wall time).
   For the steps that hash or check a password, each distinct bcrypt call runs once and is
   then memoized: its real time is reported apart, the rest is timed over every request.
5. **bcrypt**: median of several hashes per cost.
6. **Load** on the local stack (moto): 20 and 50 users walking whole flows (devtools.perf.load).

Figures 1, 3 and 4 come from the built layer; 2 and 6 from the emulator (moto, the local stack).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from devtools import local_env

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results.json"
BUILD = ROOT / ".aws-sam" / "build"

#: The environment of the recorded steps and of every benchmark process that replays them: codes sent
#: back to back, and tokens and codes that stay valid for as long as a full run replays them.
RECORDING = local_env.environment("bench", OTP_RESEND_SECONDS="0", OTP_TTL_SECONDS="1800")
RECORDING |= {"ACCESS_TOKEN_TTL_SECONDS": "86400", "REGISTRATION_TOKEN_TTL_SECONDS": "3600"}
#: Steps whose success answer costs a bcrypt hash or check (their bcrypt time is reported apart).
BCRYPT_STEPS = frozenset({"complete registration", "password login", "reset password"})
#: The step whose success answer each function is measured with (cold and warm).
FUNCTION_STEPS = {
    "send_verification": "send code",
    "verify_code": "verify code",
    "authorizer": "authorizer",
    "me": "me",
    "refresh": "refresh",
    "list_sessions": "list sessions",
    "end_session": "end session",
    "logout": "logout",
    "check_mobile": "check mobile",
    "request_registration_otp": "registration code",
    "verify_registration_otp": "verify registration code",
    "complete_registration": "complete registration",
    "login_mobile": "password login",
    "request_password_reset_otp": "reset code",
    "reset_password": "reset password",
    "request_phone_change": "change number code",
    "verify_phone_change": "change number",
    "delete_account": "delete account",
}


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _record_steps() -> list[Any]:
    import contextlib

    from tests.helpers.steps import run_steps

    # The functions' log lines go where stdout is when phone_auth.observability is first imported: not here.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), local_env.mocked_aws(RECORDING):
        return run_steps()


class Stub:
    """devtools.perf.stub in its own process, serving the recorded answers."""

    def __init__(self, workdir: Path, records: list[Any]) -> None:
        from devtools.perf.stub import dump, slug

        recordings = {slug(record.name): record.calls for record in records}
        path = workdir / "recordings.json"
        path.write_text(dump(recordings))
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "devtools.perf.stub", str(path)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


class LambdaLike:
    """Runs devtools/perf/lambda_run.py the way Lambda runs a function (see the docstring, 3)."""

    def __init__(self, workdir: Path, build: Path, stub: Stub, records: dict[str, Any]) -> None:
        from devtools.dev_server.invoke import logical_ids
        from devtools.perf.layer import side_paths

        self.workdir, self.build, self.stub, self.records = workdir, build, stub, records
        self.overlay, self.runtime = side_paths(workdir)
        self.logical_ids = logical_ids()
        self.script = ROOT / "devtools" / "perf" / "lambda_run.py"

    def run(self, mode: str, function: str | None = None, warm: dict[str, Any] | None = None) -> dict[str, Any]:
        from devtools.perf.stub import slug

        paths = [str(self.overlay), str(self.build / "CommonLayer" / "python"), str(self.runtime)]
        config: dict[str, Any] = {"mode": mode, "paths": paths}
        env = {
            "PATH": os.environ.get("PATH", ""),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            **RECORDING,
            "AWS_LAMBDA_FUNCTION_NAME": "phone-auth-bench",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        }
        if function is not None:
            record = self.records[FUNCTION_STEPS[function]]
            env["AWS_ENDPOINT_URL"] = f"{self.stub.url}/{slug(record.name)}"
            if mode == "floor_calls":  # the floor and the step's own requests on bare clients
                config["calls"] = [[call.service, call.operation, call.params] for call in record.calls]
            else:
                config["paths"].insert(0, str(self.build / self.logical_ids[function]))
                config["handler"] = f"{function}.lambda_handler"
                config["event"] = record.event
                config["warm"] = warm
        else:
            env["AWS_ENDPOINT_URL"] = f"{self.stub.url}/floor"
        path = self.workdir / f"config-{mode}-{function}.json"
        path.write_text(json.dumps(config))
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-S", str(self.script), str(path)], env=env, capture_output=True, text=True, check=False
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("@@RESULT ")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"{mode} {function} failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(lines[-1].removeprefix("@@RESULT "))
        return result


#: The order of the three processes in each round of a cold start, rotating from round to round.
COLD_ORDERS = (
    ("floor", "function", "floor_calls"),
    ("function", "floor_calls", "floor"),
    ("floor_calls", "floor", "function"),
)


def cold_starts(runner: LambdaLike, pairs: int) -> dict[str, Any]:
    """Rounds of (floor, function, floor + the function's first requests on bare clients), rotating.

    The ratio is function over floor (the issue's figure); ``first_calls`` is floor_calls over floor
    (botocore's cost of the step's first requests, that no function code can avoid) and
    ``over_first_calls`` is function over floor_calls: the share that is the function's own.
    """
    samples: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {name: [] for name in FUNCTION_STEPS}
    with_calls: dict[str, list[dict[str, Any]]] = {name: [] for name in FUNCTION_STEPS}
    for index in range(pairs):
        for function in FUNCTION_STEPS:
            run = {kind: runner.run(kind, None if kind == "floor" else function) for kind in COLD_ORDERS[index % 3]}
            floor, measured = run["floor"], run["function"]
            if measured["status"] >= 300:
                raise RuntimeError(f"{function}: the first invocation answered {measured['status']}")
            samples[function].append((floor, measured))
            with_calls[function].append(run["floor_calls"])
    found: dict[str, Any] = {"pairs": pairs}
    for key in ("ratio", "spread", "without_bcrypt", "first_calls", "over_first_calls", "figures"):
        found[key] = {}
    for function, runs in samples.items():
        floors = [floor["cold"]["cpu_ms"] for floor, _ in runs]
        cold = [measured["cold"]["cpu_ms"] for _, measured in runs]
        own = [cpu - measured["cold_bcrypt_cpu_ms"] for cpu, (_, measured) in zip(cold, runs, strict=True)]
        calls = [run["cold"]["cpu_ms"] for run in with_calls[function]]
        ratios = [cpu / floor for cpu, floor in zip(cold, floors, strict=True)]
        found["ratio"][function] = _median(ratios)
        found["spread"][function] = [round(min(ratios), 3), round(max(ratios), 3)]
        found["without_bcrypt"][function] = _median(cpu / floor for cpu, floor in zip(own, floors, strict=True))
        found["first_calls"][function] = _median(cpu / floor for cpu, floor in zip(calls, floors, strict=True))
        found["over_first_calls"][function] = _median(cpu / first for cpu, first in zip(cold, calls, strict=True))
        imports = [measured["import"]["cpu_ms"] for _, measured in runs]
        found["figures"][function] = {
            "cpu_ms": _median(cold, 1),
            "import_cpu_ms": _median(imports, 1),
            "floor_cpu_ms": _median(floors, 1),
        }
    return found


def _median(values: Iterable[float], digits: int = 3) -> float:
    return round(statistics.median(values), digits)


def warm_overheads(runner: LambdaLike, chunks: int, size: int) -> dict[str, Any]:
    ratio, figures = {}, {}
    for function, step in FUNCTION_STEPS.items():
        record = runner.records[step]
        calls = [[call.service, call.operation, call.params] for call in record.calls if call.service != "ssm"]
        warm = {"chunks": chunks, "size": size, "calls": calls}
        if step in BCRYPT_STEPS:
            warm |= {"memoize_bcrypt": True, "bcrypt_rounds": int(RECORDING["BCRYPT_ROUNDS"])}
        found = runner.run("function", function, warm=warm)["warm"]
        handler = [h - b for h, b in zip(found["handler_ms"], found["bcrypt_ms"], strict=True)]
        ratios = [h / c for h, c in zip(handler, found["calls_ms"], strict=True)]
        ratio[step] = round(statistics.median(ratios), 3)
        real = found["bcrypt_real_ms"]
        figures[step] = {
            "handler_ms": round(statistics.median(handler), 3),
            "calls_ms": round(statistics.median(found["calls_ms"]), 3),
            # per request: one real hash or check (the run memoizes them; see lambda_run.warm)
            "bcrypt_ms": round(statistics.median(real), 1) if real else 0.0,
        }
    return {"ratio": ratio, "figures": figures}


def bcrypt_costs(samples: int) -> dict[str, float]:
    import bcrypt

    found = {}
    for rounds in (10, 11, 12):
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            bcrypt.hashpw(b"benchmark password", bcrypt.gensalt(rounds))
            times.append((time.perf_counter() - started) * 1000)
        found[str(rounds)] = round(statistics.median(times), 1)
    return found


# ------------------------------------------------------------------ the run
def run(quick: bool, build: Path) -> dict[str, Any]:
    from devtools.perf import layer, load
    from tests.helpers.steps import round_trip_table

    workdir = layer.temporary_workdir()
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": _machine(),
    }
    try:
        found = layer.report(build / "CommonLayer")
        results |= {
            "layer_unzipped_mb": found.unzipped_mb,
            "layer_files": found.files,
            "layer_has_bytecode": found.has_bytecode,
            "layer_problems": found.problems,
        }
        records = _record_steps()
        results["round_trips"] = round_trip_table(records)
        by_name = {record.name: record for record in records}
        stub = Stub(workdir, [by_name[step] for step in FUNCTION_STEPS.values()])
        try:
            runner = LambdaLike(workdir, build, stub, by_name)
            cold = cold_starts(runner, pairs=3 if quick else 15)
            results |= {
                "cold_start_ratio": cold["ratio"],
                "cold_start_spread": cold["spread"],
                "cold_start_ratio_without_bcrypt": cold["without_bcrypt"],
                "cold_start_first_calls_ratio": cold["first_calls"],
                "cold_start_ratio_over_first_calls": cold["over_first_calls"],
                "cold_start": {"pairs": cold["pairs"], "figures": cold["figures"]},
            }
            warm = warm_overheads(runner, chunks=2 if quick else 20, size=20 if quick else 100)
            results |= {"warm_overhead_ratio": warm["ratio"], "warm_overhead": warm["figures"]}
        finally:
            stub.close()
        results["bcrypt_ms"] = bcrypt_costs(samples=3 if quick else 7)
        results["load"] = {
            str(users): load.run(users, 5 if quick else 30, workdir) for users in ((5, 10) if quick else (20, 50))
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    return results


def print_table(results: dict[str, Any]) -> None:
    machine = results["machine"]
    print(f"phone-auth bench, {results['date']}, {machine['cpu']} ({machine['cores']} cores, {machine['arch']})")
    print(
        f"layer (built): {results['layer_unzipped_mb']} MB unzipped, {results['layer_files']} files, "
        f"bytecode {'yes' if results['layer_has_bytecode'] else 'NO'}"
        + (f", {len(results['layer_problems'])} problems" if results["layer_problems"] else "")
    )
    cold = results["cold_start"]
    print(f"\ncold start (built layer; import + first invocation; CPU over the floor's, {cold['pairs']} rounds)")
    print("  -bcrypt: that ratio without bcrypt's time; +calls: the floor making the same first requests on bare")
    print("  clients, over the floor; own: the function over that")
    print(f"  {'function':28s}  ratio        spread -bcrypt  cpu ms  floor  import  +calls   own")
    for function, value in results["cold_start_ratio"].items():
        (low, high), figures = results["cold_start_spread"][function], cold["figures"][function]
        without, first = results["cold_start_ratio_without_bcrypt"][function], results["cold_start_first_calls_ratio"]
        own = results["cold_start_ratio_over_first_calls"][function]
        print(
            f"  {function:28s} {value:6.2f} {low:6.2f}-{high:<6.2f} {without:7.2f} {figures['cpu_ms']:7.1f} "
            f"{figures['floor_cpu_ms']:6.1f} {figures['import_cpu_ms']:7.1f} {first[function]:7.2f} {own:5.2f}"
        )
    print("\nwarm overhead (built layer; handler / bare boto3 calls, same stub; bcrypt apart)")
    for step, value in results["warm_overhead_ratio"].items():
        figures = results["warm_overhead"][step]
        extra = f"  + bcrypt {figures['bcrypt_ms']:.0f} ms" if figures["bcrypt_ms"] >= 1 else ""
        print(f"  {step:28s} {value:6.2f}  ({figures['handler_ms']:.2f} / {figures['calls_ms']:.2f} ms){extra}")
    print("\nround trips (moto): DynamoDB calls, SSM reads per container, SMS")
    for step, row in results["round_trips"].items():
        calls = ", ".join(f"{name} {count}" for name, count in row["dynamodb_calls"].items())
        print(f"  {step:28s} {row['dynamodb']}  ({calls}); ssm {row['ssm_reads_per_container']}, sms {row['sms']}")
    costs = ", ".join(f"cost {cost}: {ms} ms" for cost, ms in results["bcrypt_ms"].items())
    print(f"\nbcrypt (median): {costs}")
    for users, found in results["load"].items():
        print(
            f"\nload (local stack on moto), {users} users, {found['seconds']} s: {found['requests_per_second']} req/s, "
            f"{len(found['non_2xx'])} non-2xx, {found['signed_in_phones']} phones signed in, "
            f"lost {len(found['lost_users'])}, doubled {len(found['doubled_users'])}"
        )
        for endpoint, row in found["endpoints"].items():
            print(
                f"  {endpoint:38s} p50 {row['p50_ms']:7.1f}  p95 {row['p95_ms']:7.1f}  p99 {row['p99_ms']:7.1f}"
                f"  (p50 first/last third {row['p50_first_third_ms']}/{row['p50_last_third_ms']})"
            )
    print(f"\nbench took {results['bench_seconds']} s; figures in {RESULTS.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: few samples, short load")
    parser.add_argument("--build", type=Path, default=BUILD, help="sam build's output (default .aws-sam/build)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = run(args.quick, args.build)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
