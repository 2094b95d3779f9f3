"""Developer tools run from the repository root (``python -m devtools.<tool>``).

They use the Lambda layer's package ``phone_auth`` (layers/common). The Makefile and the
tests put it on the path; when it is not importable (e.g. ``.venv/bin/python -m
devtools.import_users --help`` without PYTHONPATH), the layer directory is added here.
"""

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("phone_auth") is None:
    sys.path.append(str(Path(__file__).resolve().parent.parent / "layers" / "common"))
