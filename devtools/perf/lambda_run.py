"""One benchmark process, run as Lambda runs a function: ``python -S lambda_run.py CONFIG.json``.

Kept free of any project import: its ``sys.path`` is only what CONFIG lists (the function's
folder and the layer's ``python/`` from the sam build output, the host's builds of the layer's
two compiled packages, and boto3 as the runtime provides it), with nothing written back as
bytecode (Lambda's /opt and /var/task are read-only). AWS is the benchmark's HTTP stub.

Modes:
- ``floor``: import boto3, create a DynamoDB and an SSM client on one session, import jwt and
  bcrypt: what any function of this kind pays before doing anything of its own.
- ``floor_calls``: the floor, then the step's AWS calls (CONFIG ``calls``) made once each on those
  bare clients (and an SNS client if the step texts): what botocore alone costs a function that
  makes the same first requests, none of the function's code.
- ``function``: import the handler module (CONFIG ``handler``, e.g. ``me.lambda_handler``) by name,
  as Lambda does, and invoke it once with the step's event: a cold start as a user waits for it.
- ``warm``: the same, then alternating chunks: the handler invoked ``size`` times, and the
  step's own AWS calls made ``size`` times on bare boto3 clients (a session of their own, the
  same timeouts). bcrypt's time inside the handler is summed apart.

Prints one line ``@@RESULT <json>`` last: the CPU time (``process_time``) in milliseconds from the
first line of this script; the warm chunks' wall times.
"""

import sys
import time

_CPU0 = time.process_time()

import json  # noqa: E402  (after the clock starts: the floor pays for these too)
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

with open(sys.argv[1]) as _file:
    CONFIG = json.load(_file)
sys.path[:0] = CONFIG["paths"]

Function = Callable[..., Any]


class Context:
    function_name = "phone-auth-bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:phone-auth-bench"
    memory_limit_in_mb = 256
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    log_group_name = "/aws/lambda/phone-auth-bench"
    log_stream_name = "2026/11/21/[$LATEST]bench"

    def get_remaining_time_in_millis(self) -> int:
        return 28_000  # the template's longest Timeout: room for a send's whole chain of calls


def elapsed() -> dict[str, float]:
    return {"cpu_ms": (time.process_time() - _CPU0) * 1000}


def status_of(answer: dict[str, Any]) -> int:
    if "statusCode" in answer:
        return int(answer["statusCode"])
    return 200 if answer["policyDocument"]["Statement"][0]["Effect"] == "Allow" else 401


def timed(function: Function, clock: Callable[[], float], total: list[float]) -> Function:
    """``function``, adding the time each call takes on ``clock`` to ``total[0]``."""

    def run(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        try:
            return function(*args, **kwargs)
        finally:
            total[0] += clock() - started

    return run


def warm(handler: Function, event: dict[str, Any], warm_config: dict[str, Any]) -> dict[str, Any]:
    import bcrypt
    import boto3

    from phone_auth.aws import DYNAMODB, SNS, SSM

    spent, real_cost = [0.0], list[float]()
    if warm_config.get("memoize_bcrypt"):
        # bcrypt dwarfs the rest (~100 ms against ~2 ms): each distinct hash or check runs once,
        # its time reported apart, so the handler's own overhead can be timed over many requests.
        salt, memo = bcrypt.gensalt(warm_config["bcrypt_rounds"]), dict[tuple[Any, ...], Any]()

        def memoized(function: Function) -> Function:
            def run(*args: Any) -> Any:
                key = (function.__name__, *args)
                if key not in memo:
                    started = time.perf_counter()
                    memo[key] = function(*args)
                    real_cost.append((time.perf_counter() - started) * 1000)
                return memo[key]

            return run

        bcrypt.gensalt = lambda *args, **kwargs: salt
        bcrypt.hashpw, bcrypt.checkpw = memoized(bcrypt.hashpw), memoized(bcrypt.checkpw)
    bcrypt.hashpw = timed(bcrypt.hashpw, time.perf_counter, spent)
    bcrypt.checkpw = timed(bcrypt.checkpw, time.perf_counter, spent)
    session = boto3.session.Session()
    clients = {
        "dynamodb": session.client("dynamodb", config=DYNAMODB.config()),
        "ssm": session.client("ssm", config=SSM.config()),
        "sns": session.client("sns", config=SNS.config()),
    }
    calls = [(getattr(clients[service], operation), params) for service, operation, params in warm_config["calls"]]
    context, size = Context(), warm_config["size"]

    def run_handler() -> tuple[float, float]:
        spent[0] = 0.0
        started = time.perf_counter()
        for _ in range(size):
            handler(event, context)
        return time.perf_counter() - started, spent[0]

    def run_calls() -> float:
        started = time.perf_counter()
        for _ in range(size):
            for method, params in calls:
                method(**params)
        return time.perf_counter() - started

    handler_s, calls_s, bcrypt_s = list[float](), list[float](), list[float]()
    for chunk in range(warm_config["chunks"]):
        if chunk % 2:
            calls_s.append(run_calls())
        took, in_bcrypt = run_handler()
        handler_s.append(took)
        bcrypt_s.append(in_bcrypt)
        if not chunk % 2:
            calls_s.append(run_calls())
    per = 1000 / size
    return {
        "handler_ms": [value * per for value in handler_s],
        "calls_ms": [value * per for value in calls_s],
        "bcrypt_ms": [value * per for value in bcrypt_s],
        "bcrypt_real_ms": real_cost,
    }


def main() -> None:
    result: dict[str, Any] = {}
    if CONFIG["mode"] in ("floor", "floor_calls"):
        import bcrypt
        import boto3
        import jwt  # noqa: F401

        session = boto3.session.Session()
        clients = {"dynamodb": session.client("dynamodb"), "ssm": session.client("ssm")}
        for service, operation, params in CONFIG.get("calls", []):
            if service not in clients:
                clients[service] = session.client(service)
            getattr(clients[service], operation)(**params)
        result["cold"] = elapsed()
    else:
        import importlib

        import bcrypt  # the floor imports it too; wrapped to report bcrypt's CPU time apart

        in_bcrypt = [0.0]
        hashpw, checkpw = bcrypt.hashpw, bcrypt.checkpw
        bcrypt.hashpw = timed(hashpw, time.process_time, in_bcrypt)
        bcrypt.checkpw = timed(checkpw, time.process_time, in_bcrypt)
        module, _, name = CONFIG["handler"].rpartition(".")
        handler = getattr(importlib.import_module(module), name)
        result["import"] = elapsed()
        event = CONFIG["event"]
        result["status"] = status_of(handler(json.loads(json.dumps(event)), Context()))
        result["cold"] = elapsed()
        result["cold_bcrypt_cpu_ms"] = in_bcrypt[0] * 1000
        bcrypt.hashpw, bcrypt.checkpw = hashpw, checkpw
        if CONFIG.get("warm"):
            result["warm"] = warm(handler, event, CONFIG["warm"])
    sys.stdout.flush()
    print("@@RESULT " + json.dumps(result), flush=True)


main()
