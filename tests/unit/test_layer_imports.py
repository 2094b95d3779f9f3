"""The layer's shape, read from its source with ``ast``: which module imports which.

- Only phone_auth.api imports phone_auth.api: flows and building blocks never reach the HTTP
  boundary (the handlers in functions/, the tools and the tests do).
- No import cycle between modules of the layer. Every import counts, wherever it is written:
  at the top, inside a function, or only for type checking (``if TYPE_CHECKING:``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import ROOT

LAYER = ROOT / "layers" / "common"
PACKAGE = "phone_auth"
API = f"{PACKAGE}.api"


def module_name(path: Path) -> str:
    parts = path.relative_to(LAYER).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((LAYER / PACKAGE).rglob("*.py"))}


def imported_names(path: Path, name: str) -> set[str]:
    """Every module ``name`` imports (anywhere in its source), as dotted names; ``from a import b``
    gives ``a.b`` when that is a module of the layer, else ``a``."""
    modules = layer_modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else base)
    return found


def layer_graph() -> dict[str, set[str]]:
    """Module -> the layer's modules it imports, with the packages each one's import runs."""
    modules = layer_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for target in imported_names(path, name):
            parts = target.split(".")
            for depth in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
                prefix = ".".join(parts[:depth])
                if prefix in modules and prefix != name:
                    edges.add(prefix)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_the_graph_is_read_from_every_kind_of_import() -> None:
    graph = layer_graph()
    assert f"{PACKAGE}.flows.sessions" in graph[f"{API}.models"]  # only under TYPE_CHECKING
    assert f"{PACKAGE}.tokens" in graph[f"{PACKAGE}.flows.sessions"]  # only inside functions
    assert f"{PACKAGE}.store.codes" in graph[f"{PACKAGE}.codes"]  # from phone_auth.store import codes as ...
    assert f"{PACKAGE}.store" in graph[f"{PACKAGE}.codes"]  # and the package that import runs


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"b"}}) == ["b", "b"]


def test_nothing_outside_the_api_package_imports_it() -> None:
    offenders = {
        name: sorted(target for target in targets if target == API or target.startswith(f"{API}."))
        for name, targets in layer_graph().items()
        if name != API and not name.startswith(f"{API}.")
    }
    assert {name: targets for name, targets in offenders.items() if targets} == {}


def test_flows_are_reached_only_from_the_api_and_other_flows() -> None:
    flows = f"{PACKAGE}.flows"
    users = {
        name
        for name, targets in layer_graph().items()
        if any(target == flows or target.startswith(f"{flows}.") for target in targets)
    }
    assert all(name.startswith((f"{API}.", f"{flows}.")) for name in users), sorted(users)


def test_the_layer_has_no_import_cycle() -> None:
    cycle = find_cycle(layer_graph())
    assert cycle is None, " -> ".join(cycle or [])


#: Where a handler enters the layer: the HTTP API (its boundary and the flows behind it), the stack's
#: custom resources (CloudFormation's requests), the SMS delivery status subscription (CloudWatch Logs).
BOUNDARIES = (f"{API}.", f"{PACKAGE}.flows.", f"{PACKAGE}.custom_resources", f"{PACKAGE}.sms_delivery")


@pytest.mark.parametrize("handler", sorted((ROOT / "functions").glob("*.py")), ids=lambda path: path.stem)
def test_handlers_reach_the_layer_through_its_boundaries(handler: Path) -> None:
    imported = imported_names(handler, handler.stem)
    layer = {name for name in imported if name == PACKAGE or name.startswith(f"{PACKAGE}.")}
    assert layer, f"{handler.name} imports nothing of the layer"
    assert all(name.startswith(BOUNDARIES) for name in layer), sorted(layer)
