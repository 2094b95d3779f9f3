"""The built layer (``sam build``'s ``.aws-sam/build/CommonLayer``): size, files, bytecode, binaries.

``python -m devtools.perf.layer`` (``make check-layer``, run by CI after ``make build``) exits 1
when the layer breaks a promise: every ``.py`` has its CPython 3.13 bytecode beside it in
``__pycache__`` (compiled with unchecked hashes, so Lambda never recompiles or rechecks it),
every compiled extension is aarch64, no phone metadata the service does not use (geocoder,
carrier, time zones) and no pruned package is shipped, and it stays within its size budget.

It also makes the directories a benchmark process puts on ``sys.path`` next to the layer:
the host's builds of the layer's compiled packages (the layer's are aarch64) and boto3 as the
Lambda runtime provides it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
BUDGET_MB = 15.0
_AARCH64 = 183  # ELF e_machine
#: Never in the layer: data the service does not use, packages no function imports.
NOT_SHIPPED = (
    "phonenumbers/geodata",
    "phonenumbers/carrierdata",
    "phonenumbers/tzdata",
    "aws_lambda_powertools/event_handler",
    "aws_lambda_powertools/utilities/parameters",
    "pydantic/v1",
)
#: Packages of the layer with compiled extensions (the bench uses the host's build of each).
COMPILED_PACKAGES = ("bcrypt", "pydantic_core")
#: boto3 and what it needs: the Lambda runtime's own copy, not the layer's.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


@dataclass
class LayerReport:
    path: str
    unzipped_mb: float
    files: int
    modules: int
    has_bytecode: bool
    problems: list[str] = field(default_factory=list)


def _machine(path: Path) -> int | None:
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        return None
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big")


def _unchecked_hash(pyc: Path) -> bool:
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    return flags & 0b01 == 1 and flags & 0b10 == 0  # hash-based, check_source off


def report(layer: Path = BUILD / "CommonLayer") -> LayerReport:
    """Measure and check the layer folder (the one holding ``python/``)."""
    files = [path for path in layer.rglob("*") if path.is_file()]
    size = sum(path.stat().st_size for path in files)
    sources = [path for path in files if path.suffix == ".py"]
    problems = []
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        if not pyc.is_file():
            problems.append(f"no bytecode for {source.relative_to(layer)}")
        elif not _unchecked_hash(pyc):
            problems.append(f"{pyc.relative_to(layer)} is not compiled with unchecked hashes")
    for binary in (path for path in files if path.suffix == ".so" or ".so." in path.name):
        if _machine(binary) != _AARCH64:
            problems.append(f"{binary.relative_to(layer)} is not an aarch64 binary")
    for pruned in NOT_SHIPPED:
        if (layer / "python" / pruned).exists():
            problems.append(f"python/{pruned} is shipped but never used")
    if size / 1e6 > BUDGET_MB:
        problems.append(f"{size / 1e6:.1f} MB unzipped, over the {BUDGET_MB} MB budget")
    if not sources:
        problems.append(f"no layer at {layer}: run make build")
    return LayerReport(
        path=str(layer),
        unzipped_mb=round(size / 1e6, 2),
        files=len(files),
        modules=len(sources),
        has_bytecode=bool(sources) and not any(p.startswith("no bytecode") for p in problems),
        problems=problems,
    )


def _package_path(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{name} is not installed in this venv")
    origin = Path(spec.origin)
    return origin.parent if origin.name == "__init__.py" else origin


def side_paths(workdir: Path) -> tuple[Path, Path]:
    """(host builds of the compiled packages, boto3 as the runtime has it): symlinks to this venv."""
    overlay, runtime = workdir / "host-binaries", workdir / "runtime"
    for target, names in ((overlay, COMPILED_PACKAGES), (runtime, RUNTIME_PACKAGES)):
        target.mkdir(parents=True, exist_ok=True)
        (target / "__pycache__").mkdir(exist_ok=True)
        for name in names:
            source = _package_path(name)
            link = target / source.name
            if not link.exists():
                link.symlink_to(source, target_is_directory=source.is_dir())
            if source.is_file():  # a single module: its bytecode too
                tag = f"{source.stem}.{sys.implementation.cache_tag}.pyc"
                pyc = source.parent / "__pycache__" / tag
                if pyc.exists() and not (target / "__pycache__" / tag).exists():
                    (target / "__pycache__" / tag).symlink_to(pyc)
    return overlay, runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser("python -m devtools.perf.layer", description="Check the built layer.")
    parser.add_argument("layer", nargs="?", type=Path, default=BUILD / "CommonLayer")
    args = parser.parse_args(argv)
    found = report(args.layer)
    print(
        f"layer {found.path}: {found.unzipped_mb} MB unzipped, {found.files} files, {found.modules} modules, "
        f"bytecode {'yes' if found.has_bytecode else 'no'}"
    )
    for problem in found.problems[:20]:
        print(f"  {problem}")
    if len(found.problems) > 20:
        print(f"  ... and {len(found.problems) - 20} more")
    return 1 if found.problems else 0


def temporary_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="phone-auth-bench-"))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    raise SystemExit(main())
