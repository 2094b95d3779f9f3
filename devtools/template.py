"""Read template.yaml (or any SAM/CloudFormation template) with cfn-lint's decoder.

The short tags come back in CloudFormation's long JSON form (``!Ref X`` -> ``{"Ref": "X"}``,
``!GetAtt X.Arn`` -> ``{"Fn::GetAtt": ["X", "Arn"]}``, ``!Sub s`` -> ``{"Fn::Sub": s}``), so tests,
the OpenAPI generator and the local stack read one representation of one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cfnlint.decode

__all__ = ["TEMPLATE", "TemplateError", "load_template"]

#: The service's template, at the repository root.
TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


class TemplateError(ValueError):
    """The template cannot be read, or uses something the caller does not support (the message says what)."""


def load_template(path: str | Path = TEMPLATE) -> dict[str, Any]:
    """The decoded template; raises :class:`TemplateError` when it does not parse or has no Resources."""
    template, problems = cfnlint.decode.decode(str(path))
    if problems or template is None:
        raise TemplateError(f"{path}: " + "; ".join(str(problem.message) for problem in problems))
    if not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources mapping)")
    return template
