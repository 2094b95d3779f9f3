"""Load a function's handler module under a unique module name.

Every function has a file called app.py; importing them as plain `app` would hand back
whichever was imported first, so functions/<dir>/app.py becomes module `fn_<dir>_app`.
Tests, the OpenAPI generator and the local stack all load handlers through this module.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
#: One import at a time: a thread must never get a module that another is still executing.
_IMPORTING = threading.RLock()


def handler_module_name(code_dir: str | Path, handler: str = "app.lambda_handler") -> str:
    """The module name a Lambda ``Handler`` setting's file is imported as, e.g. ``fn_me_app``."""
    return f"fn_{Path(code_dir).name}_{handler.rpartition('.')[0].replace('.', '_')}"


def load_handler(code_dir: str | Path, handler: str = "app.lambda_handler", *, cold: bool = False) -> Any:
    """The callable a Lambda ``Handler`` setting (``module.function``) names in ``code_dir``.

    Its module is imported once, as :func:`handler_module_name`; ``cold=True`` imports it
    afresh (a cold start) even if it was imported before.
    """
    module_path, _, attribute = handler.rpartition(".")
    if not module_path or not attribute:
        raise ImportError(f"handler {handler!r} must look like module.function")
    name = handler_module_name(code_dir, handler)
    if cold:
        sys.modules.pop(name, None)
    return getattr(_import(Path(code_dir) / (module_path.replace(".", "/") + ".py"), name), attribute)


def load_function_module(function_dir: str) -> ModuleType:
    """functions/<function_dir>/app.py as module `fn_<function_dir>_app` (imported once)."""
    return _import(FUNCTIONS_DIR / function_dir / "app.py", handler_module_name(function_dir))


def _import(file: Path, name: str) -> ModuleType:
    with _IMPORTING:
        return _import_once(file, name)


def _import_once(file: Path, name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
