"""The benchmark's parts that can be checked fast: the layer check, the HTTP stub, the results check.

The benchmark itself runs in CI as ``make bench QUICK=1`` followed by ``python -m
devtools.perf.results`` (two minutes: too long for make test); these tests keep its pieces honest.
"""

from __future__ import annotations

import py_compile
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.bench import FUNCTION_STEPS
from devtools.perf import layer, results
from devtools.perf.stub import slug
from tests.helpers.steps import TABLE_STEPS, Call


def fake_layer(root: Path, *, bytecode: str | None, machine: int = 183) -> Path:
    package = root / "python" / "pkg"
    package.mkdir(parents=True)
    source = package / "__init__.py"
    source.write_text("VALUE = 1\n")
    if bytecode is not None:
        mode = py_compile.PycInvalidationMode[bytecode]
        py_compile.compile(
            str(source), cfile=str(package / "__pycache__" / "__init__.cpython-313.pyc"), invalidation_mode=mode
        )
    header = bytearray(b"\x7fELF\x02\x01\x01" + bytes(11) + machine.to_bytes(2, "little") + bytes(44))
    (package / "_native.abi3.so").write_bytes(bytes(header))
    return root


def test_the_layer_check_accepts_unchecked_bytecode_and_arm64_binaries(tmp_path: Path) -> None:
    found = layer.report(fake_layer(tmp_path, bytecode="UNCHECKED_HASH"))
    assert found.problems == []
    assert found.has_bytecode
    assert found.files == 3


@pytest.mark.parametrize(
    ("bytecode", "machine", "problem"),
    [
        (None, 183, "no bytecode for python/pkg/__init__.py"),
        ("TIMESTAMP", 183, "python/pkg/__pycache__/__init__.cpython-313.pyc is not compiled with unchecked hashes"),
        ("UNCHECKED_HASH", 62, "python/pkg/_native.abi3.so is not an aarch64 binary"),
    ],
)
def test_the_layer_check_names_what_is_wrong(tmp_path: Path, bytecode: str | None, machine: int, problem: str) -> None:
    assert layer.report(fake_layer(tmp_path, bytecode=bytecode, machine=machine)).problems == [problem]


def test_the_layer_check_refuses_pruned_packages_and_an_oversized_layer(tmp_path: Path, monkeypatch: Any) -> None:
    root = fake_layer(tmp_path, bytecode="UNCHECKED_HASH")
    (root / "python" / "phonenumbers" / "geodata").mkdir(parents=True)
    monkeypatch.setattr(layer, "BUDGET_MB", 0.0)
    problems = layer.report(root).problems
    assert "python/phonenumbers/geodata is shipped but never used" in problems
    assert any("over the 0.0 MB budget" in problem for problem in problems)


def test_the_stub_replays_a_steps_answers_in_order(tmp_path: Path) -> None:
    from devtools.bench import Stub

    body = b'{"Item": {"phone": {"S": "+66812345678"}}}'
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    calls = [
        Call("dynamodb", "get_item", {}, api="GetItem", status=200, headers=headers, body=body),
        Call("dynamodb", "get_item", {}, api="GetItem", status=200, headers=headers, body=b"{}"),
    ]
    record = type("Record", (), {"name": "me", "calls": calls})()
    stub = Stub(tmp_path, [record])
    try:
        client = boto3.client("dynamodb", endpoint_url=f"{stub.url}/{slug('me')}", region_name="ap-southeast-1")
        key = {"phone": {"S": "+66812345678"}}
        assert client.get_item(TableName="users", Key=key)["Item"] == key
        assert "Item" not in client.get_item(TableName="users", Key=key)
        assert client.get_item(TableName="users", Key=key)["Item"] == key  # from the start again
    finally:
        stub.close()


def complete_results() -> dict[str, Any]:
    per_function = dict.fromkeys(FUNCTION_STEPS, 1.0)

    def load() -> dict[str, Any]:
        endpoint = {"p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0}
        return {
            "requests_per_second": 1.0,
            "endpoints": {"POST /auth/refresh": endpoint},
            "non_2xx": [],
            "lost_users": [],
            "doubled_users": [],
        }

    return {
        "date": "2026-11-21",
        "machine": {},
        "layer_unzipped_mb": 12.0,
        "layer_files": 1,
        "layer_has_bytecode": True,
        "cold_start_ratio": per_function,
        "cold_start_spread": {function: [1.0, 1.0] for function in FUNCTION_STEPS},
        "cold_start_ratio_without_bcrypt": per_function,
        "cold_start_first_calls_ratio": per_function,
        "cold_start_ratio_over_first_calls": per_function,
        "warm_overhead_ratio": dict.fromkeys(FUNCTION_STEPS.values(), 1.0),
        "bcrypt_ms": {"10": 1.0, "11": 2.0, "12": 4.0},
        "round_trips": {step: {} for step in TABLE_STEPS},
        "load": {"20": load(), "50": load()},
    }


def test_the_results_check_accepts_a_complete_run_and_names_what_is_missing() -> None:
    found = complete_results()
    assert results.problems(found) == []
    del found["warm_overhead_ratio"]["me"]
    del found["load"]["50"]["endpoints"]["POST /auth/refresh"]["p99_ms"]
    assert results.problems(found) == ["warm_overhead_ratio: no me", "load 50 POST /auth/refresh: no p99_ms"]
    del found["round_trips"]
    assert results.problems(found) == ["no round_trips"]
