"""Read template.yaml into the plain facts the local stack needs.

Why not use SAM's own translator: it needs the full CloudFormation model, and we only
need a handful of things (tables, functions and their env vars, API routes, the
authorizer, CORS and gateway responses). Reading them straight from the template keeps
the local stack honest: when the template changes, the local stack changes with it,
and there is no second hand-written list of routes or variables to keep in sync.

Intrinsic functions are resolved with local values: parameters from their Default (or
the developer's overrides), pseudo parameters with a fake account and the local region,
``Ref`` to a table with its local table name, and so on.
"""

from __future__ import annotations

import base64
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ACCOUNT_ID",
    "NO_VALUE",
    "STACK_NAME",
    "AuthorizerSpec",
    "CfnLoader",
    "CorsSpec",
    "FunctionSpec",
    "GatewayResponseSpec",
    "Intrinsics",
    "RouteSpec",
    "StackModel",
    "TableSpec",
    "TemplateError",
    "build_model",
    "load_template",
    "read_samconfig_overrides",
    "split_parameter_overrides",
]

ACCOUNT_ID = "123456789012"
STACK_NAME = "phone-auth-local"

#: Env vars the local stack sets to a local value unless the developer set them: the local
#: stage is "local" and SMS go to moto SNS, where the stack's outbox can read them.
LOCAL_ENV_DEFAULTS: dict[str, str] = {"STAGE": "local", "SMS_SENDER": "sns"}

#: Globals sections that SAM merges into each resource of the matching type.
_GLOBALS_FOR_TYPE = {"AWS::Serverless::Function": "Function", "AWS::Serverless::Api": "Api"}


class TemplateError(ValueError):
    """The template cannot be turned into a local stack (the message says what to fix)."""


class _NoValue:
    """``AWS::NoValue``: removes the property or list item that resolves to it."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()


# ---------------------------------------------------------------------------
# YAML with CloudFormation short tags
# ---------------------------------------------------------------------------
class CfnLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships without type stubs here
    """A SafeLoader that understands ``!Ref``, ``!Sub``, ``!GetAtt`` and the other short tags.

    Each short tag becomes the long JSON form CloudFormation itself uses
    (``!Ref X`` -> ``{"Ref": "X"}``, ``!Sub s`` -> ``{"Fn::Sub": s}``), so the rest of the
    code only deals with one representation. Timestamps stay strings, because
    CloudFormation treats ``2010-09-09`` as text, not a date.
    """


_SHORT_TAGS = (
    "Base64",
    "Cidr",
    "Condition",
    "Contains",
    "EachMemberEquals",
    "FindInMap",
    "GetAZs",
    "ImportValue",
    "Join",
    "Length",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
    "ValueOf",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
)


def _node_value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}", node.start_mark)


def _make_constructor(tag: str) -> Any:
    key = "Condition" if tag == "Condition" else f"Fn::{tag}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {key: _node_value(loader, node)}

    return construct


def _construct_ref(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"Ref": _node_value(loader, node)}


def _construct_getatt(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _node_value(loader, node)
    if isinstance(value, str):
        # "Resource.Attr.With.Dots": only the first dot separates the resource.
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


CfnLoader.add_constructor("!Ref", _construct_ref)
CfnLoader.add_constructor("!GetAtt", _construct_getatt)
for _tag in _SHORT_TAGS:
    CfnLoader.add_constructor(f"!{_tag}", _make_constructor(_tag))
CfnLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def load_template(path: str | Path) -> dict[str, Any]:
    """Parse a SAM/CloudFormation YAML (or JSON) template."""
    with open(path, encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=CfnLoader)  # noqa: S506 - CfnLoader subclasses SafeLoader
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources mapping)")
    return document


def read_samconfig_overrides(path: str | Path, config_env: str = "default") -> dict[str, str]:
    """``parameter_overrides`` for ``sam local start-api`` from samconfig.toml, if any.

    Reads ``[<env>.global.parameters]`` then ``[<env>.local_start_api.parameters]`` (later wins),
    the same sections ``sam local start-api`` itself would use, so both local runners agree.
    """
    file = Path(path)
    if not file.is_file():
        return {}
    with file.open("rb") as handle:
        config = tomllib.load(handle)
    result: dict[str, str] = {}
    for command in ("global", "local_start_api"):
        section = config.get(config_env, {}).get(command, {}).get("parameters", {})
        raw = section.get("parameter_overrides")
        if isinstance(raw, str):
            items: Iterable[str] = split_parameter_overrides(raw)
        elif isinstance(raw, list):
            items = [str(item) for item in raw]
        else:
            continue
        for item in items:
            key, sep, value = item.partition("=")
            if sep:
                result[key.strip()] = value.strip().strip('"')
    return result


def split_parameter_overrides(raw: str) -> list[str]:
    """Split 'A=1 B="two words"' the way SAM does (space separated, double quotes group)."""
    return re.findall(r'(?:[^\s"]+|"[^"]*")+', raw)


# ---------------------------------------------------------------------------
# Intrinsic functions
# ---------------------------------------------------------------------------
class Intrinsics:
    """Resolves CloudFormation intrinsic functions against local values.

    ``resource_refs`` maps a logical id to what ``Ref`` returns locally (a table name, a
    function name); ``resource_attrs`` maps (logical id, attribute) to ``Fn::GetAtt`` values.
    Other resources resolve to a readable placeholder rather than failing, because values
    such as an IAM policy ARN are irrelevant locally.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        *,
        region: str,
        resource_refs: Mapping[str, str],
        resource_attrs: Mapping[tuple[str, str], str],
    ) -> None:
        self.template = template
        self.parameters = dict(parameters)
        self.region = region
        self.resource_refs = dict(resource_refs)
        self.resource_attrs = dict(resource_attrs)
        self._conditions: dict[str, bool] = {}

    # -- Ref / GetAtt -----------------------------------------------------
    def pseudo(self, name: str) -> Any:
        values: dict[str, Any] = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
            "AWS::NotificationARNs": [],
        }
        if name not in values:
            raise TemplateError(f"unknown pseudo parameter {name}")
        return values[name]

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resource_refs:
            return self.resource_refs[name]
        if name in self.template.get("Resources", {}):
            return f"{STACK_NAME}-{name}"
        raise TemplateError(f"!Ref {name}: no such parameter or resource")

    def get_att(self, resource: str, attribute: str) -> Any:
        if (resource, attribute) in self.resource_attrs:
            return self.resource_attrs[(resource, attribute)]
        if resource not in self.template.get("Resources", {}):
            raise TemplateError(f"!GetAtt {resource}.{attribute}: no such resource")
        return f"arn:aws:local:{self.region}:{ACCOUNT_ID}:{resource}/{attribute}"

    # -- Conditions -------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            definition = self.template.get("Conditions", {}).get(name)
            if definition is None:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self._evaluate_condition(definition))
        return self._conditions[name]

    def _evaluate_condition(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in arg)
                return _as_text(left) == _as_text(right)
            if key == "Fn::Not":
                return not self._evaluate_condition(arg[0])
            if key == "Fn::And":
                return all(self._evaluate_condition(item) for item in arg)
            if key == "Fn::Or":
                return any(self._evaluate_condition(item) for item in arg)
        return self.resolve(value)

    # -- Resolution -------------------------------------------------------
    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic inside ``value``; ``NO_VALUE`` entries are dropped."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key, arg)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _function(self, key: str, arg: Any) -> Any:
        if key == "Fn::GetAtt":
            resource, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return self.get_att(str(self.resolve(resource)), str(self.resolve(attribute)))
        if key == "Fn::Sub":
            return self._sub(arg)
        if key == "Fn::If":
            name, when_true, when_false = arg
            return self.resolve(when_true if self.condition(name) else when_false)
        if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
            return self._evaluate_condition({key: arg})
        if key == "Fn::Join":
            separator, items = arg
            return str(separator).join(_as_text(item) for item in self.resolve(items))
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::Split":
            separator, text = arg
            return str(self.resolve(text)).split(separator)
        if key == "Fn::FindInMap":
            mapping, top, second = (self.resolve(item) for item in arg[:3])
            return self.template["Mappings"][mapping][top][second]
        if key == "Fn::Base64":
            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        if key == "Fn::ToJsonString":
            return json.dumps(self.resolve(arg), separators=(",", ":"))
        if key == "Fn::Length":
            return len(self.resolve(arg))
        if key == "Fn::GetAZs":
            return [f"{self.region}{suffix}" for suffix in "abc"]
        raise TemplateError(f"{key} cannot be resolved locally")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _as_text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return _as_text(self.get_att(resource, attribute))
            return _as_text(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))


def _as_text(value: Any) -> str:
    """CloudFormation's string form of a scalar (booleans are lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table to create in moto."""

    logical_id: str
    name: str
    create_kwargs: dict[str, Any]
    ttl_attribute: str | None


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function: where its handler lives and how it is configured."""

    logical_id: str
    code_dir: Path
    handler_file: Path
    handler_attr: str
    module_name: str
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, str]

    @property
    def dir_name(self) -> str:
        return self.code_dir.name

    @property
    def function_name(self) -> str:
        return f"{STACK_NAME}-{self.logical_id}"


@dataclass(frozen=True)
class AuthorizerSpec:
    """A Lambda authorizer of an API (REQUEST or TOKEN)."""

    name: str
    function_logical_id: str
    payload_type: str
    identity_headers: tuple[str, ...]
    identity_query_strings: tuple[str, ...]
    ttl_seconds: int
    validation_expression: str | None = None


@dataclass(frozen=True)
class RouteSpec:
    """One API method: ``method path -> function``, optionally behind an authorizer."""

    method: str
    path: str
    function_logical_id: str
    authorizer: str | None

    def matches(self, path: str) -> dict[str, str] | None:
        """Path parameters when ``path`` matches this route's template path, else None."""
        return match_path(self.path, path)


@dataclass(frozen=True)
class CorsSpec:
    """What the CORS preflight answers (values without SAM's single quotes)."""

    allow_origin: str
    allow_headers: str
    allow_methods: str
    max_age: str | None


@dataclass(frozen=True)
class GatewayResponseSpec:
    """A gateway response the template customises (status code, headers, JSON template)."""

    status_code: int | None
    headers: dict[str, str]
    template: str | None


@dataclass
class StackModel:
    """Everything the local stack builds, resolved to plain values."""

    parameters: dict[str, str]
    tables: dict[str, TableSpec]
    functions: dict[str, FunctionSpec]
    routes: list[RouteSpec]
    authorizers: dict[str, AuthorizerSpec]
    cors: CorsSpec | None
    gateway_responses: dict[str, GatewayResponseSpec]
    stage_name: str
    environment: dict[str, str]
    jwt_secret_parameter_name: str | None
    ssm_string_parameters: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def match_path(template_path: str, path: str) -> dict[str, str] | None:
    """Match an API Gateway resource path (``/a/{id}``, ``/a/{proxy+}``) against a request path."""
    wanted = [part for part in template_path.strip("/").split("/") if part]
    actual = [part for part in path.strip("/").split("/") if part]
    params: dict[str, str] = {}
    for index, part in enumerate(wanted):
        if part.startswith("{") and part.endswith("+}"):
            rest = actual[index:]
            if not rest:
                return None
            params[part[1:-2]] = "/".join(rest)
            return params
        if index >= len(actual):
            return None
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = actual[index]
        elif part != actual[index]:
            return None
    return params if len(actual) == len(wanted) else None


def _merge_globals(template: Mapping[str, Any], resource: Mapping[str, Any]) -> dict[str, Any]:
    """SAM Globals semantics: maps merge (resource wins), everything else is replaced."""
    section = _GLOBALS_FOR_TYPE.get(resource.get("Type", ""))
    defaults = template.get("Globals", {}).get(section, {}) if section else {}
    return _deep_merge(defaults, resource.get("Properties") or {})


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and not _is_intrinsic(value):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, Mapping) or len(value) != 1:
        return False
    key = str(next(iter(value)))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def _ref_target(value: Any) -> str | None:
    """The logical id a ``Ref`` / ``GetAtt X.Arn`` / ``Sub ${X.Arn}`` points at, if any."""
    if isinstance(value, Mapping) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref" and isinstance(arg, str):
            return arg
        if key == "Fn::GetAtt":
            return str(arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0])
        if key == "Fn::Sub" and isinstance(arg, str):
            match = re.fullmatch(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z.]+)?\}", arg.strip())
            if match:
                return match.group(1)
    return None


def _unquote(value: Any) -> str:
    """SAM wants static header values wrapped in single quotes; the browser does not."""
    text = _as_text(value).strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    return text


def _check_constraints(name: str, definition: Mapping[str, Any], value: str) -> str | None:
    """A warning when ``value`` would be rejected by CloudFormation (local runs accept it)."""
    allowed = definition.get("AllowedValues")
    if allowed is not None and value not in [_as_text(item) for item in allowed]:
        return f"parameter {name}={value!r} is not one of {allowed} (a deploy would reject it)"
    pattern = definition.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        return f"parameter {name}={value!r} does not match {pattern} (a deploy would reject it)"
    if definition.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return f"parameter {name}={value!r} is not a number"
        low, high = definition.get("MinValue"), definition.get("MaxValue")
        if low is not None and number < float(low):
            return f"parameter {name}={value} is below MinValue {low} (fine locally; a deploy would reject it)"
        if high is not None and number > float(high):
            return f"parameter {name}={value} is above MaxValue {high} (fine locally; a deploy would reject it)"
    return None


def _table_spec(logical_id: str, resource: Mapping[str, Any], resolver: Intrinsics) -> TableSpec:
    name = f"{STACK_NAME}-{logical_id}"
    props = resolver.resolve(resource.get("Properties") or {})
    if resource["Type"] == "AWS::Serverless::SimpleTable":
        key = props.get("PrimaryKey", {"Name": "id", "Type": "String"})
        kind = {"String": "S", "Number": "N", "Binary": "B"}.get(key.get("Type", "String"), "S")
        kwargs: dict[str, Any] = {
            "TableName": name,
            "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": key["Name"], "AttributeType": kind}],
            "BillingMode": "PAY_PER_REQUEST",
        }
        return TableSpec(logical_id, name, kwargs, None)
    kwargs = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
    }
    billing = props.get("BillingMode", "PROVISIONED" if "ProvisionedThroughput" in props else "PAY_PER_REQUEST")
    kwargs["BillingMode"] = billing
    if billing == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    index_keys = {"IndexName", "KeySchema", "Projection", "ProvisionedThroughput"}
    for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(index_kind):
            kwargs[index_kind] = [
                {
                    k: v
                    for k, v in index.items()
                    if k in index_keys and (billing == "PROVISIONED" or k != "ProvisionedThroughput")
                }
                for index in props[index_kind]
            ]
    stream = props.get("StreamSpecification")
    if stream and stream.get("StreamViewType"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    ttl = props.get("TimeToLiveSpecification") or {}
    ttl_attribute = ttl.get("AttributeName") if _as_text(ttl.get("Enabled", False)) == "true" else None
    return TableSpec(logical_id, name, kwargs, ttl_attribute)


def _parse_handler(code_dir: Path, handler: str) -> tuple[Path, str]:
    """``app.lambda_handler`` -> (code_dir/app.py, "lambda_handler"); ``pkg.mod.fn`` -> pkg/mod.py."""
    module, _, attr = handler.rpartition(".")
    if not module or not attr:
        raise TemplateError(f"handler {handler!r} must look like module.function")
    return code_dir / (module.replace(".", "/") + ".py"), attr


def build_model(
    template: Mapping[str, Any],
    *,
    template_dir: Path,
    region: str,
    environ: Mapping[str, str],
    parameter_overrides: Mapping[str, str] | None = None,
) -> StackModel:
    """Resolve the template into a :class:`StackModel` for a local run.

    Parameter values, lowest to highest precedence: the parameter's Default, then
    ``parameter_overrides`` (samconfig / caller), then the developer's environment: when
    the template maps env var ``X`` to ``!Ref P`` and ``X`` is set in ``environ``, ``P`` takes
    that value everywhere (so ``ALLOWED_ORIGIN=...`` also changes the CORS headers).
    ``STAGE`` and ``SMS_SENDER`` get local defaults (``local``, ``sns``) unless set.
    Out-of-range values are accepted with a warning: ``OTP_TTL_SECONDS=5`` is a legitimate
    local experiment even though a deploy would reject it.
    """
    warnings: list[str] = []
    resources: dict[str, Any] = template.get("Resources", {})
    param_defs: dict[str, Any] = template.get("Parameters", {}) or {}
    globals_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}) or {}

    # -- which env var is which parameter ---------------------------------
    raw_envs: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") == "AWS::Serverless::Function":
            own = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
            raw_envs[logical_id] = {**globals_env, **own}
    env_to_param: dict[str, str] = {}
    for variables in [globals_env, *raw_envs.values()]:
        for name, raw in variables.items():
            target = _ref_target(raw)
            if isinstance(raw, Mapping) and "Ref" in raw and target in param_defs:
                env_to_param[name] = target

    # -- parameter values --------------------------------------------------
    parameters: dict[str, str] = {}
    for name, definition in param_defs.items():
        if "Default" in definition:
            parameters[name] = _as_text(definition["Default"])
    for name, override in (parameter_overrides or {}).items():
        if name not in param_defs:
            warnings.append(f"parameter override {name} is not a template parameter (ignored)")
            continue
        parameters[name] = str(override)
    developer_set: dict[str, tuple[str, str]] = {}
    for env_name, param in env_to_param.items():
        chosen = environ[env_name] if env_name in environ else LOCAL_ENV_DEFAULTS.get(env_name)
        if chosen is None:
            continue
        previous = developer_set.get(param)
        if previous is not None and previous[1] != chosen:
            warnings.append(f"{previous[0]} and {env_name} both set parameter {param}; using {env_name}")
        developer_set[param] = (env_name, chosen)
        parameters[param] = chosen
    missing = [name for name in param_defs if name not in parameters]
    if missing:
        raise TemplateError(
            "parameters without a Default need a value: "
            + ", ".join(missing)
            + " (set the env var the template maps to it, or pass parameter_overrides)"
        )
    for name, chosen_value in parameters.items():
        problem = _check_constraints(name, param_defs[name], chosen_value)
        if problem:
            warnings.append(problem)

    # -- local names of resources -----------------------------------------
    resource_refs: dict[str, str] = {}
    resource_attrs: dict[tuple[str, str], str] = {}
    for logical_id, resource in resources.items():
        kind = resource.get("Type", "")
        if kind in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            table = f"{STACK_NAME}-{logical_id}"
            resource_refs[logical_id] = table
            arn = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table}"
            resource_attrs[(logical_id, "Arn")] = arn
            resource_attrs[(logical_id, "StreamArn")] = f"{arn}/stream/local"
        elif kind == "AWS::Serverless::Function":
            function = f"{STACK_NAME}-{logical_id}"
            resource_refs[logical_id] = function
            resource_attrs[(logical_id, "Arn")] = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function}"
        elif kind == "AWS::Serverless::Api":
            resource_refs[logical_id] = "local"
    resolver = Intrinsics(
        template, parameters, region=region, resource_refs=resource_refs, resource_attrs=resource_attrs
    )

    def include(resource: Mapping[str, Any]) -> bool:
        condition = resource.get("Condition")
        return condition is None or resolver.condition(condition)

    # -- tables -------------------------------------------------------------
    tables: dict[str, TableSpec] = {}
    ssm_strings: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if not include(resource):
            continue
        if resource.get("Type") in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            tables[logical_id] = _table_spec(logical_id, resource, resolver)
        elif resource.get("Type") == "AWS::SSM::Parameter":
            props = resolver.resolve(resource.get("Properties") or {})
            if "Name" in props and "Value" in props:
                ssm_strings[str(props["Name"])] = _as_text(props["Value"])

    # -- functions and their environment ----------------------------------
    functions: dict[str, FunctionSpec] = {}
    merged_env: dict[str, str] = {}
    env_owner: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function" or not include(resource):
            continue
        props = _merge_globals(template, resource)
        code_uri = props.get("CodeUri")
        handler = props.get("Handler")
        if not isinstance(code_uri, str) or not isinstance(handler, str):
            warnings.append(f"{logical_id}: needs a local CodeUri and Handler; skipped")
            continue
        code_dir = (template_dir / code_uri).resolve()
        handler_file, handler_attr = _parse_handler(code_dir, handler)
        module_stem = handler.rpartition(".")[0].replace(".", "_")
        environment: dict[str, str] = {}
        for name, raw in raw_envs[logical_id].items():
            target = _ref_target(raw)
            points_at_resource = target is not None and target in resources
            if not points_at_resource and name in environ and name not in env_to_param:
                value: Any = environ[name]  # a literal the developer overrides, e.g. POWERTOOLS_LOG_LEVEL
            elif not points_at_resource and name not in env_to_param and name in LOCAL_ENV_DEFAULTS:
                value = LOCAL_ENV_DEFAULTS[name]
            else:
                value = resolver.resolve(raw)
            if value is NO_VALUE:
                continue
            environment[name] = _as_text(value)
        for name, default in LOCAL_ENV_DEFAULTS.items():
            environment.setdefault(name, environ.get(name, default))
        for name, value in environment.items():
            if name in merged_env and merged_env[name] != value:
                warnings.append(
                    f"env var {name} differs between {env_owner[name]} ({merged_env[name]!r}) and "
                    f"{logical_id} ({value!r}); all functions share one process locally, using {value!r}"
                )
            merged_env[name] = value
            env_owner[name] = logical_id
        functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=code_dir,
            handler_file=handler_file,
            handler_attr=handler_attr,
            module_name=f"fn_{code_dir.name}_{module_stem}",
            timeout_seconds=int(resolver.resolve(props.get("Timeout", 3))),
            memory_mb=int(resolver.resolve(props.get("MemorySize", 128))),
            environment=environment,
        )

    # -- APIs: stage, auth, CORS, gateway responses ------------------------
    apis: dict[str, dict[str, Any]] = {
        logical_id: _merge_globals(template, resource)
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::Api" and include(resource)
    }
    implicit_api = dict(template.get("Globals", {}).get("Api", {}) or {})
    authorizers: dict[str, AuthorizerSpec] = {}
    default_authorizers: dict[str | None, str | None] = {}
    for api_id, props in [*apis.items(), (None, implicit_api)]:
        auth = props.get("Auth") or {}
        default_authorizers[api_id] = auth.get("DefaultAuthorizer")
        for name, definition in (auth.get("Authorizers") or {}).items():
            function_id = _ref_target(definition.get("FunctionArn"))
            if function_id is None or function_id not in functions:
                warnings.append(f"authorizer {name}: FunctionArn is not a function of this template; skipped")
                continue
            identity = resolver.resolve(definition.get("Identity") or {})
            payload = str(definition.get("FunctionPayloadType", "TOKEN")).upper()
            headers = tuple(identity.get("Headers") or ())
            if payload == "TOKEN":
                headers = (identity.get("Header", "Authorization"),)
            authorizers[name] = AuthorizerSpec(
                name=name,
                function_logical_id=function_id,
                payload_type=payload,
                identity_headers=headers,
                identity_query_strings=tuple(identity.get("QueryStrings") or ()),
                ttl_seconds=int(identity.get("ReauthorizeEvery", 300)),
                validation_expression=identity.get("ValidationExpression"),
            )

    routes: list[RouteSpec] = []
    route_apis: set[str | None] = set()
    for logical_id, resource in resources.items():
        if logical_id not in functions:
            continue
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event_name, event in events.items():
            if event.get("Type") != "Api":
                continue
            props = event.get("Properties") or {}
            api_id = _ref_target(props.get("RestApiId")) if props.get("RestApiId") else None
            route_apis.add(api_id)
            auth = props.get("Auth") or {}
            authorizer = auth.get("Authorizer", default_authorizers.get(api_id))
            if authorizer in ("NONE", "AWS_IAM"):
                if authorizer == "AWS_IAM":
                    warnings.append(f"{logical_id}.{event_name}: AWS_IAM auth is not emulated; route is open")
                authorizer = None
            if authorizer is not None and authorizer not in authorizers:
                raise TemplateError(f"{logical_id}.{event_name}: unknown authorizer {authorizer}")
            routes.append(
                RouteSpec(
                    method=str(resolver.resolve(props["Method"])).upper(),
                    path="/" + str(resolver.resolve(props["Path"])).strip("/"),
                    function_logical_id=logical_id,
                    authorizer=authorizer,
                )
            )
    if len(route_apis) > 1:
        warnings.append("routes belong to several APIs; the local stack serves them all on one port")

    # CORS, gateway responses and the stage come from the API the routes are attached to.
    routed_api = next((api_id for api_id in route_apis if api_id is not None), None)
    api_props = apis.get(routed_api, implicit_api) if routed_api is not None else implicit_api
    cors_raw = api_props.get("Cors")
    cors: CorsSpec | None = None
    if cors_raw is not None:
        cors_value = resolver.resolve(cors_raw)
        if isinstance(cors_value, str):
            cors = CorsSpec(_unquote(cors_value), "", "", None)
        else:
            cors = CorsSpec(
                allow_origin=_unquote(cors_value.get("AllowOrigin", "'*'")),
                allow_headers=_unquote(cors_value.get("AllowHeaders", "''")),
                allow_methods=_unquote(cors_value.get("AllowMethods", "''")),
                max_age=_unquote(cors_value["MaxAge"]) if "MaxAge" in cors_value else None,
            )
    gateway_responses: dict[str, GatewayResponseSpec] = {}
    for response_type, definition in (resolver.resolve(api_props.get("GatewayResponses") or {})).items():
        headers_raw = ((definition.get("ResponseParameters") or {}).get("Headers")) or {}
        templates = definition.get("ResponseTemplates") or {}
        gateway_responses[response_type] = GatewayResponseSpec(
            status_code=int(definition["StatusCode"]) if "StatusCode" in definition else None,
            headers={name: _unquote(value) for name, value in headers_raw.items()},
            template=templates.get("application/json"),
        )
    stage_name = _as_text(resolver.resolve(api_props.get("StageName", "Prod")))
    return StackModel(
        parameters=parameters,
        tables=tables,
        functions=functions,
        routes=routes,
        authorizers=authorizers,
        cors=cors,
        gateway_responses=gateway_responses,
        stage_name=stage_name,
        environment=merged_env,
        jwt_secret_parameter_name=merged_env.get("JWT_SECRET_PARAMETER_NAME"),
        ssm_string_parameters=ssm_strings,
        warnings=warnings,
    )
