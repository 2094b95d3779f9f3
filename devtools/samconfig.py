"""samconfig.toml's environments, read with tomllib: each one's stack, region and parameter values.

One reader for the tools that act on a deployed environment outside SAM CLI: ``make deploy``
(ops.deploy: the environment's parameters with extra overrides merged on top),
``make secret`` and ``make rotate-secret`` (ops.secret: region and parameter name),
``make lint`` (devtools.validate: every environment's template, with its own values), and
the tests. An environment that does not exist is an error naming those that do: nothing is
guessed, least of all a region.

``parameter_overrides`` entries are ``Key=Value`` strings (a list, or one string of them separated
by spaces), read by SAM CLI's own parser, so quoting means what it means to ``sam deploy``
(``SmsSenderId=""`` is an empty value).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMCONFIG = ROOT / "samconfig.toml"


class UnknownEnvironment(LookupError):
    """No such environment in samconfig.toml; the message names the ones there are."""


class BadOverride(ValueError):
    """An override that is not ``Key=Value``."""


@dataclass(frozen=True)
class Environment:
    """One ``[<name>.global.parameters]`` section of samconfig.toml."""

    name: str
    stack_name: str | None
    region: str | None
    #: parameter_overrides, as template parameter -> value, in the order written.
    parameters: dict[str, str]

    def parameter(self, name: str, template_default: str) -> str:
        """The value this environment deploys for ``name``: its override, else the template's default."""
        return self.parameters.get(name, template_default)


def read(path: Path = SAMCONFIG) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


def environments(path: Path = SAMCONFIG) -> dict[str, Environment]:
    """Every environment of the file, by name, in the file's order."""
    found = {}
    for name, section in read(path).items():
        if not isinstance(section, dict):
            continue  # version = 0.1
        settings = section.get("global", {}).get("parameters", {})
        found[name] = Environment(
            name=name,
            stack_name=settings.get("stack_name"),
            region=settings.get("region"),
            parameters=parse_overrides(settings.get("parameter_overrides", [])),
        )
    return found


def environment(name: str, path: Path = SAMCONFIG) -> Environment:
    """The environment ``name``; UnknownEnvironment naming the existing ones when there is none."""
    found = environments(path)
    if name not in found:
        raise UnknownEnvironment(f"{path.name} has no environment {name!r}; it has: {', '.join(found)}")
    return found[name]


def parse_overrides(raw: str | Sequence[str]) -> dict[str, str]:
    """``Key=Value`` overrides (a list, or one string separated by spaces) as SAM CLI parses them."""
    import click
    from samcli.cli.types import CfnParameterOverridesType

    if not raw:
        return {}
    try:
        parsed: dict[str, str] = CfnParameterOverridesType().convert(
            list(raw) if not isinstance(raw, str) else raw, None, None
        )
    except click.BadParameter as exc:
        raise BadOverride(exc.format_message()) from None
    return parsed


def merged(env: Environment, extra: Sequence[str]) -> dict[str, str]:
    """The environment's parameters with ``extra`` (``Key=Value`` strings) on top: an extra value
    replaces the environment's for that key, every other key keeps the environment's."""
    return {**env.parameters, **parse_overrides(list(extra))}


def as_overrides(parameters: dict[str, str]) -> list[str]:
    """``--parameter-overrides`` arguments that SAM CLI reads back as ``parameters`` exactly."""
    arguments = []
    for key, value in parameters.items():
        if value == "" or any(character in value for character in " \"'"):
            if '"' in value:
                raise BadOverride(f"{key}: a value with a double quote cannot be passed to sam deploy")
            value = f'"{value}"'
        arguments.append(f"{key}={value}")
    return arguments


if __name__ == "__main__":  # the environments' names, one line (make lint loops over them)
    print(*environments())
