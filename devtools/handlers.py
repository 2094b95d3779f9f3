"""Load a function's app.py by directory name under a unique module name.

Every function has a file called app.py; importing them as plain `app` would hand back
whichever was imported first. Tests and the OpenAPI generator use this loader.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"


def load_function_module(function_dir: str) -> ModuleType:
    """functions/<function_dir>/app.py as module `fn_<function_dir>_app` (imported once)."""
    module_name = f"fn_{function_dir}_app"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, FUNCTIONS_DIR / function_dir / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no function called {function_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module
