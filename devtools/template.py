"""Read template.yaml (or any SAM/CloudFormation template) with cfn-lint's decoder, its loops expanded.

The short tags come back in CloudFormation's long JSON form (``!Ref X`` -> ``{"Ref": "X"}``,
``!GetAtt X.Arn`` -> ``{"Fn::GetAtt": ["X", "Arn"]}``, ``!Sub s`` -> ``{"Fn::Sub": s}``), so tests,
the OpenAPI generator and the local stack read one representation of one file.

A template with the ``AWS::LanguageExtensions`` transform has its ``Fn::ForEach`` loops expanded by
SAM CLI's own processor (the one ``sam build`` and ``sam deploy`` run), so every reader sees each
generated resource under its own logical id. Only the loops: every other intrinsic stays as written
(SAM's full pipeline would also put in parameter defaults and decide conditions).

``python -m devtools.template --output FILE`` writes the expanded template as JSON (``make lint``
scans that copy with checkov, which does not expand ``Fn::ForEach`` itself).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cfnlint.decode

__all__ = ["TEMPLATE", "TemplateError", "load_template", "parameter_problem"]

#: The service's template, at the repository root.
TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


class TemplateError(ValueError):
    """The template cannot be read, or uses something the caller does not support (the message says what)."""


def load_template(path: str | Path = TEMPLATE) -> dict[str, Any]:
    """The decoded template, its loops expanded.

    Raises :class:`TemplateError` when it does not parse, has no Resources or has a loop SAM cannot expand.
    """
    template, problems = cfnlint.decode.decode(str(path))
    if problems or template is None:
        raise TemplateError(f"{path}: " + "; ".join(str(problem.message) for problem in problems))
    if not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources mapping)")
    return _expand_loops(template, path)


def _expand_loops(template: dict[str, Any], path: str | Path) -> dict[str, Any]:
    from samcli.lib.cfn_language_extensions.exceptions import InvalidTemplateException
    from samcli.lib.cfn_language_extensions.models import TemplateProcessingContext
    from samcli.lib.cfn_language_extensions.pipeline import ProcessingPipeline
    from samcli.lib.cfn_language_extensions.processors import ForEachProcessor, TemplateParsingProcessor
    from samcli.lib.cfn_language_extensions.sam_integration import check_using_language_extension

    if not check_using_language_extension(template):
        return template
    pipeline = ProcessingPipeline([TemplateParsingProcessor(), ForEachProcessor()])
    try:
        expanded: dict[str, Any] = pipeline.process_template(TemplateProcessingContext(fragment=template))
    except InvalidTemplateException as exc:
        raise TemplateError(f"{path}: {exc}") from exc
    plain: dict[str, Any] = _plain_refs(expanded)
    return plain


def _plain_refs(node: Any) -> Any:
    """``{"Ref": {"Fn::Sub": "MeFunction"}}`` (how a loop names a resource) as ``{"Ref": "MeFunction"}``,
    what CloudFormation's transform makes of it; SAM's loop expansion leaves the ``Fn::Sub``."""
    if isinstance(node, dict):
        target = node.get("Ref")
        if len(node) == 1 and isinstance(target, dict) and list(target) == ["Fn::Sub"]:
            name = target["Fn::Sub"]
            if isinstance(name, str) and "${" not in name:
                return {"Ref": name}
        for key, value in node.items():
            node[key] = _plain_refs(value)
    elif isinstance(node, list):
        node[:] = [_plain_refs(item) for item in node]
    return node


def parameter_problem(name: str, definition: Mapping[str, Any], value: str) -> str | None:
    """Why CloudFormation would refuse ``value`` for the parameter ``name`` (its Definition), or None."""
    allowed, pattern = definition.get("AllowedValues"), definition.get("AllowedPattern")
    low, high = definition.get("MinValue"), definition.get("MaxValue")
    if allowed is not None and value not in [_as_text(item) for item in allowed]:
        return f"parameter {name}={value!r} is not one of {list(allowed)} (a deploy would reject it)"
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        return f"parameter {name}={value!r} does not match {pattern} (a deploy would reject it)"
    if definition.get("Type") == "Number" and not re.fullmatch(r"-?\d+(\.\d+)?", value):
        return f"parameter {name}={value!r} is not a number"
    if (low is not None and float(value) < float(low)) or (high is not None and float(value) > float(high)):
        return f"parameter {name}={value} is outside {low}..{high} (a deploy would reject it)"
    return None


def _as_text(value: Any) -> str:
    """CloudFormation's string form of a scalar: booleans in lower case."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.template", description="Write template.yaml with its Fn::ForEach loops expanded."
    )
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="the template to read (default: %(default)s)")
    parser.add_argument("--output", type=Path, help="the JSON file to write (default: standard output)")
    args = parser.parse_args(argv)
    try:
        text = json.dumps(load_template(args.template), indent=2) + "\n"
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
