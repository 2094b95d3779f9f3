"""Every samconfig.toml environment's template, checked with that environment's own values (make lint).

``sam validate --lint --config-env ENV`` lints with ENV's region only: it passes cfn-lint no
parameter values. So for each environment this also

1. checks its parameter values (the template's defaults, then its ``parameter_overrides``)
   against the template's Parameters: an unknown name, a value outside AllowedValues,
   AllowedPattern or MinValue..MaxValue fails here instead of in CloudFormation;
2. translates the template with SAM's translator and those values, the way ``sam validate``
   (without ``--lint``) does, through SAM CLI's own SamTemplateValidator, offline: its
   Fn::ForEach loops expanded, parameters, pseudo parameters and conditions resolved where SAM
   CLI resolves them. ``translate()`` is what the wiring test (tests: test_deploy_wiring) reads.

    python -m devtools.validate                 # every environment
    python -m devtools.validate --config-env th-dev
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Sequence
from typing import Any

from devtools import samconfig
from devtools.template import TEMPLATE, parameter_problem

#: The account id SAM CLI puts in a template it validates offline (no account is asked).
ACCOUNT_ID = "123456789012"


class NoManagedPolicies:
    """SAM asks for AWS's managed policy names only for a policy written by name; the template
    names none (SAM's own AWSLambdaBasicExecutionRole is an ARN), so this must never be asked."""

    def load(self) -> dict[str, str]:
        raise AssertionError("the template names a managed policy by name: write its ARN instead")


def parameter_values(env: samconfig.Environment) -> dict[str, str]:
    """What a deploy of ``env`` passes: the template's defaults, then the environment's overrides."""
    from devtools.template import load_template

    definitions = load_template()["Parameters"]
    defaults = {
        name: _text(definition["Default"]) for name, definition in definitions.items() if "Default" in definition
    }
    return {**defaults, **env.parameters}


def problems(env: samconfig.Environment) -> list[str]:
    """What CloudFormation would refuse in ``env``'s parameters, or a missing stack name or region."""
    from devtools.template import load_template

    definitions = load_template()["Parameters"]
    found = [f"{name}: not a parameter of template.yaml" for name in env.parameters if name not in definitions]
    values = parameter_values(env)
    found += [f"{name}: no value (no Default, no override)" for name in definitions if name not in values]
    found += [
        problem
        for name, value in values.items()
        if name in definitions and (problem := parameter_problem(name, definitions[name], value))
    ]
    if not env.stack_name:
        found.append("no stack_name")
    if not env.region:
        found.append("no region")
    return found


@functools.cache
def translate(name: str) -> dict[str, Any]:
    """The environment ``name``'s template as SAM's translator makes it (what CloudFormation deploys)."""
    from samcli.lib.translate.sam_template_validator import SamTemplateValidator
    from samcli.yamlhelper import yaml_parse

    env = samconfig.environment(name)
    values: dict[str, Any] = {
        **parameter_values(env),
        "AWS::Region": env.region,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::StackName": env.stack_name,
    }
    sam_template = yaml_parse(TEMPLATE.read_text())
    logging.getLogger("samtranslator").setLevel(logging.ERROR)  # its feature-toggle notices
    validator = SamTemplateValidator(
        sam_template,
        NoManagedPolicies(),
        region=env.region,
        parameter_overrides=values,
        language_extensions_enabled=True,
    )
    translated: dict[str, Any] = yaml_parse(validator.get_translated_template_if_valid())
    return translated


def conditions(translated: dict[str, Any]) -> dict[str, bool]:
    """Every condition of a translated template, decided (its parameters are resolved already)."""
    definitions = translated.get("Conditions") or {}
    decided: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((function, arguments),) = node.items()
            if function == "Condition":
                return decide(arguments)
            if function == "Fn::Equals":
                left, right = (value(argument) for argument in arguments)
                return _text(left) == _text(right)  # CloudFormation compares numbers as text
            if function == "Fn::Not":
                return not value(arguments[0])
            if function == "Fn::And":
                return all(value(argument) for argument in arguments)
            if function == "Fn::Or":
                return any(value(argument) for argument in arguments)
            raise ValueError(f"an unresolved {function} in a condition")
        return node

    def decide(name: str) -> bool:
        if name not in decided:
            decided[name] = bool(value(definitions[name]))
        return decided[name]

    for name in definitions:
        decide(name)
    return decided


def deployed_resources(translated: dict[str, Any]) -> dict[str, Any]:
    """The resources of a translated template that a deploy creates (their Condition holds)."""
    decided = conditions(translated)
    resources: dict[str, Any] = translated["Resources"]
    return {lid: r for lid, r in resources.items() if "Condition" not in r or decided[r["Condition"]]}


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.validate",
        description="Check every samconfig.toml environment's parameters and translate the template with them.",
    )
    parser.add_argument("--config-env", metavar="ENV", help="only this environment (default: every one)")
    args = parser.parse_args(argv)
    try:
        names = [samconfig.environment(args.config_env).name] if args.config_env else list(samconfig.environments())
    except samconfig.UnknownEnvironment as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = False
    for name in names:
        env = samconfig.environment(name)
        found = problems(env)
        if not found:
            try:
                resources = deployed_resources(translate(name))
            except Exception as exc:  # SAM's InvalidSamDocumentException and the like: report, go on
                found = [f"SAM's translator: {exc}"]
            else:
                print(f"{name}: {env.stack_name} in {env.region}: valid, {len(resources)} resources deployed")
        for problem in found:
            print(f"{name}: {problem}", file=sys.stderr)
        failed |= bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
