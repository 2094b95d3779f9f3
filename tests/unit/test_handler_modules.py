"""The handlers: one module each in one code folder (functions/), loaded as Lambda loads them.

Lambda puts the CodeUri folder first on sys.path and imports the module the Handler names, so a
handler module named like a standard-library module or a package of the layer or the runtime
would shadow it in that function (``json.py``, ``jwt.py``, ``boto3.py``...).
"""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

from devtools.handlers import FunctionCode, handler_module, template_functions
from devtools.handlers import load_handler as lambda_handler_of
from tests.helpers import ROOT, load_handler, template

FUNCTIONS = ROOT / "functions"
#: What the Lambda Python runtime itself puts on sys.path besides the standard library.
LAMBDA_RUNTIME_MODULES = {"awslambdaric", "bootstrap", "boto3", "botocore", "dateutil", "jmespath", "s3transfer"}
LAMBDA_RUNTIME_MODULES |= {"six", "urllib3", "lambda_function"}


def handler_names() -> list[str]:
    return sorted(path.stem for path in FUNCTIONS.glob("*.py"))


def taken_top_level_names() -> set[str]:
    """Names a handler module must not have: the standard library's, the layer's package and
    every top-level module of the installed distributions (a superset of the layer's pinned
    dependencies and of the runtime's boto3), and the Lambda runtime's own."""
    installed = set(importlib.metadata.packages_distributions())
    return set(sys.stdlib_module_names) | installed | LAMBDA_RUNTIME_MODULES | {"phone_auth", "devtools", "tests"}


def test_every_function_shares_one_code_folder_and_names_its_own_module() -> None:
    functions = template_functions(template())
    assert template()["Globals"]["Function"]["CodeUri"] == "functions/"
    assert {code.code_uri for code in functions.values()} == {"functions/"}
    names = [code.name for code in functions.values()]
    assert len(names) == len(set(names))
    assert sorted(names) == handler_names()
    for code in functions.values():
        assert code.handler == f"{code.name}.lambda_handler"
        assert callable(load_handler(code.name).lambda_handler)


def test_functions_hold_handler_modules_and_one_empty_requirements_file() -> None:
    entries = {path.name for path in FUNCTIONS.iterdir() if path.name != "__pycache__"}
    assert entries == {f"{name}.py" for name in handler_names()} | {"requirements.txt"}
    requirements = (FUNCTIONS / "requirements.txt").read_text().splitlines()
    assert all(not line.strip() or line.startswith("#") for line in requirements)


@pytest.mark.parametrize("name", handler_names())
def test_no_handler_module_shadows_another_module(name: str) -> None:
    assert name not in taken_top_level_names()


def test_the_shadowing_check_knows_the_usual_suspects() -> None:
    taken = taken_top_level_names()
    assert {"json", "http", "logging", "phone_auth", "pydantic", "jwt", "bcrypt", "phonenumbers", "boto3"} <= taken


def test_a_module_found_outside_the_code_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(ImportError, match="not from the function's code"):
        handler_module(tmp_path, "json")  # the standard library's, not a handler


def test_a_handler_setting_names_a_module_and_a_function() -> None:
    code = FunctionCode(code_uri="functions/", handler="me.lambda_handler")
    assert code.name == "me"
    assert lambda_handler_of(ROOT / code.code_uri, code.handler) is load_handler("me").lambda_handler
    with pytest.raises(ImportError, match=r"module\.function"):
        lambda_handler_of(ROOT / code.code_uri, "lambda_handler")
