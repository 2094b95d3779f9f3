"""Load a function's handler the way Lambda does, and name the functions and API routes of a template.

Lambda puts the function's code folder (its CodeUri, /var/task) first on ``sys.path`` and imports
the module its ``Handler`` setting names (``send_verification.lambda_handler``: module
``send_verification``) by that name. Every function's handler module has a name of its own in
functions/ (tests/unit/test_handler_modules.py checks that none shadows another module), so the
tests, the OpenAPI generator, ``make invoke``, the local stack and the bench all import them
the same way, through :func:`handler_module`.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
#: The logical id of the back office's API (AWS_IAM on every method) in template.yaml.
ADMIN_API = "AdminApi"
#: One import at a time: a thread must never get a module that another is still executing.
_IMPORTING = threading.RLock()


def handler_module(code_uri: str | Path, module: str, *, cold: bool = False) -> ModuleType:
    """``module`` imported from the ``code_uri`` folder, as Lambda imports a handler's module.

    Imported once; ``cold=True`` imports it afresh (a cold start). Refuses a module of that name
    found anywhere but in ``code_uri`` (it would be another module shadowing the handler).
    """
    folder = Path(code_uri).resolve()
    with _IMPORTING:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        if cold:
            sys.modules.pop(module, None)
        imported = importlib.import_module(module)
    found = Path(getattr(imported, "__file__", None) or "").resolve().parent
    if found != folder:
        raise ImportError(f"{module!r} was imported from {found}, not from the function's code in {folder}")
    return imported


def load_handler(code_uri: str | Path, handler: str, *, cold: bool = False) -> Callable[..., Any]:
    """The callable a Lambda ``Handler`` setting (``module.function``) names in ``code_uri``."""
    module, _, function = handler.rpartition(".")
    if not module or not function:
        raise ImportError(f"handler {handler!r} must look like module.function")
    loaded: Callable[..., Any] = getattr(handler_module(code_uri, module, cold=cold), function)
    return loaded


def function_module(name: str) -> ModuleType:
    """The handler module of one of this repository's functions, by name (``send_verification``)."""
    return handler_module(FUNCTIONS_DIR, name)


@dataclass(frozen=True)
class FunctionCode:
    """Where a template's function has its code: its CodeUri folder and Handler setting."""

    code_uri: str
    handler: str

    @property
    def name(self) -> str:
        """The handler module's name: what the tools call the function (``send_verification``)."""
        return self.handler.rpartition(".")[0]


@dataclass(frozen=True)
class ApiRoute:
    """One API route of a template: its method (lower case, as OpenAPI writes it), its path, the
    function it invokes (by handler module), whether the authorizer guards it, and the REST API
    it belongs to (the logical id its ``RestApiId`` names: PhoneAuthApi, or AdminApi, whose
    every route is AWS_IAM)."""

    method: str
    path: str
    function: str
    protected: bool
    api: str = "PhoneAuthApi"

    @property
    def signed(self) -> bool:
        """Whether API Gateway checks a SigV4 signature (the admin API's AWS_IAM) before the function runs."""
        return self.api == ADMIN_API


def template_routes(template: Mapping[str, Any]) -> list[ApiRoute]:
    """Every ``Api`` event of the template's functions, by path and method."""
    routes = []
    for logical_id, code in template_functions(template).items():
        for event in (template["Resources"][logical_id].get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") == "Api":
                props = event["Properties"]
                protected = bool((props.get("Auth") or {}).get("Authorizer"))
                api = str((props.get("RestApiId") or {}).get("Ref", ""))
                routes.append(ApiRoute(props["Method"].lower(), props["Path"], code.name, protected, api))
    return sorted(routes, key=lambda route: (route.path, route.method))


def template_functions(template: Mapping[str, Any]) -> dict[str, FunctionCode]:
    """Logical id -> the code of every AWS::Serverless::Function of a decoded template, its
    Globals.Function CodeUri and Handler applied."""
    defaults = (template.get("Globals") or {}).get("Function") or {}
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = {**defaults, **(resource.get("Properties") or {})}
        found[logical_id] = FunctionCode(code_uri=str(properties["CodeUri"]), handler=str(properties["Handler"]))
    return found
