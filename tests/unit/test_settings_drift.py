"""template.yaml's Parameters and the settings model agree: same default, same allowed range.

Each template Parameter that feeds a Lambda environment variable (Globals.Function.Environment)
is checked against the Settings field of that variable: the deployed stack may only pass
values the code accepts, and the code's default is what an undeployed run gets.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest

from devtools.template import load_template
from phone_auth.settings import Settings, SettingsError, load_settings
from tests.helpers import ROOT, TEST_ENV

# Required in the code on purpose (no sensible default outside a stack): the deployed stack
# always sets them, so only their range is compared.
REQUIRED_WITHOUT_DEFAULT = {"STAGE", "JWT_SECRET_PARAMETER_NAME"}


@functools.cache
def parameter_of_variable() -> dict[str, tuple[str, dict[str, Any]]]:
    """Environment variable -> (parameter name, parameter definition), for plain !Ref parameters."""
    template = load_template(ROOT / "template.yaml")
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    parameters = template["Parameters"]
    found = {}
    for variable, value in variables.items():
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
            found[variable] = (value["Ref"], parameters[value["Ref"]])
    return found


def template_variables() -> dict[str, Any]:
    variables: dict[str, Any] = load_template(ROOT / "template.yaml")["Globals"]["Function"]["Environment"]["Variables"]
    return variables


def field_of(variable: str) -> Any:
    (field,) = [field for field in Settings.model_fields.values() if field.alias == variable]
    return field


def accepts(variable: str, value: str) -> bool:
    try:
        load_settings({**TEST_ENV, variable: value})
    except SettingsError:
        return False
    return True


def settings_variables() -> list[str]:
    return [
        variable
        for variable in parameter_of_variable()
        if variable in {f.alias for f in Settings.model_fields.values()}
    ]


def test_every_settings_field_fed_by_the_template_is_covered() -> None:
    # Settings fields without a parameter are deliberate (they suit every stage).
    without_parameter = {field.alias for field in Settings.model_fields.values()} - set(parameter_of_variable())
    tables = {"USERS_TABLE_NAME", "OTP_TABLE_NAME", "LIMITS_TABLE_NAME", "IMPORT_JOBS_TABLE_NAME", "IMPORT_BUCKET_NAME"}
    assert without_parameter == tables | {"MAX_BODY_BYTES", "SECRET_CACHE_SECONDS", "STACK_NAME"}
    # STACK_NAME is the stack's own name, not a parameter.
    assert template_variables()["STACK_NAME"] == {"Ref": "AWS::StackName"}


@pytest.mark.parametrize("variable", settings_variables())
def test_the_settings_default_is_the_template_default(variable: str) -> None:
    _, parameter = parameter_of_variable()[variable]
    field = field_of(variable)
    if variable in REQUIRED_WITHOUT_DEFAULT:
        assert field.is_required()
        return
    default = field.default
    as_text = str(default).lower() if isinstance(default, bool) else str(default)
    assert as_text == str(parameter["Default"]), (variable, default, parameter["Default"])


@pytest.mark.parametrize("variable", settings_variables())
def test_the_settings_accept_exactly_the_template_range(variable: str) -> None:
    _, parameter = parameter_of_variable()[variable]
    if parameter["Type"] == "Number":
        low, high = int(parameter["MinValue"]), int(parameter["MaxValue"])
        assert accepts(variable, str(low)) and accepts(variable, str(high))
        assert not accepts(variable, str(low - 1)) and not accepts(variable, str(high + 1))
    elif "AllowedValues" in parameter:
        for value in parameter["AllowedValues"]:
            assert accepts(variable, str(value)), value
        assert not accepts(variable, "not-an-allowed-value")
    elif "AllowedPattern" in parameter:
        patterns = [m.pattern for m in field_of(variable).metadata if getattr(m, "pattern", None)]
        assert patterns == [parameter["AllowedPattern"]], variable
        assert accepts(variable, str(parameter["Default"]))
    else:
        minimum = int(parameter.get("MinLength", 0))
        assert minimum >= 1, f"{variable}: give the parameter a MinLength, AllowedValues or AllowedPattern"
        assert not accepts(variable, "x" * (minimum - 1))
        assert accepts(variable, "x" * minimum)


def test_a_pattern_means_the_same_to_cloudformation_and_to_python() -> None:
    """AllowedPattern is matched against the whole value, like pydantic's anchored patterns."""
    for variable in settings_variables():
        pattern = parameter_of_variable()[variable][1].get("AllowedPattern")
        if pattern:
            assert pattern.startswith("^") and pattern.endswith("$"), variable
            re.compile(pattern)
