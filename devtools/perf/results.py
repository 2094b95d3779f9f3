"""``python -m devtools.perf.results [bench-results.json]``: does a bench run's file hold every figure?

CI runs ``make bench QUICK=1`` and then this: the quick run must go through every section and
write every key (the figures themselves are not judged: a bench asserts nothing).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: Top-level keys and, for the per-function or per-step maps, the names they must cover.
REQUIRED = (
    "date",
    "machine",
    "layer_unzipped_mb",
    "layer_files",
    "layer_has_bytecode",
    "cold_start_ratio",
    "cold_start_spread",
    "cold_start_ratio_without_bcrypt",
    "cold_start_first_calls_ratio",
    "cold_start_ratio_over_first_calls",
    "warm_overhead_ratio",
    "bcrypt_ms",
    "round_trips",
    "load",
)
LOAD_KEYS = ("requests_per_second", "endpoints", "non_2xx", "lost_users", "doubled_users")
PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")


def problems(results: dict[str, Any]) -> list[str]:
    """What is missing from a bench run's results (empty when complete)."""
    from devtools.bench import FUNCTION_STEPS
    from tests.helpers.steps import TABLE_STEPS

    found = [f"no {key}" for key in REQUIRED if key not in results]
    if found:
        return found
    per_function = REQUIRED[REQUIRED.index("cold_start_ratio") : REQUIRED.index("warm_overhead_ratio")]
    for key in per_function:
        found += [f"{key}: no {function}" for function in FUNCTION_STEPS if function not in results[key]]
    warm = results["warm_overhead_ratio"]
    found += [f"warm_overhead_ratio: no {step}" for step in FUNCTION_STEPS.values() if step not in warm]
    found += [f"round_trips: no {step}" for step in TABLE_STEPS if step not in results["round_trips"]]
    found += [f"bcrypt_ms: no cost {cost}" for cost in ("10", "11", "12") if cost not in results["bcrypt_ms"]]
    if len(results["load"]) < 2:
        found.append("load: fewer than two user counts")
    for users, load in results["load"].items():
        found += [f"load {users}: no {key}" for key in LOAD_KEYS if key not in load]
        for endpoint, row in load.get("endpoints", {}).items():
            found += [f"load {users} {endpoint}: no {key}" for key in PERCENTILES if key not in row]
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0] if args else "bench-results.json")
    missing = problems(json.loads(path.read_text()))
    for problem in missing:
        print(f"{path}: {problem}")
    print(f"{path}: {'incomplete' if missing else 'every figure is there'}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
