"""What the local stack serves, read from template.yaml through SAM CLI's own providers.

``SamLocalStackProvider.get_stacks`` runs SAM's plugins (Globals) and resolves intrinsics with the
local parameter values; ``SamFunctionProvider`` gives each function's code, handler, memory, timeout
and environment; ``ApiProvider`` the routes, authorizer, CORS and stage. What no provider covers
(gateway responses, tables, ``ReauthorizeEvery``) comes from the resolved resources, and which env
var names which parameter from the decoded template.

A second REST API whose ``Auth`` is only ``DefaultAuthorizer: AWS_IAM`` (the back office's
admin API) is served beside the first (``StackModel.iam_api``): its routes, stage and gateway
responses, read from the template's ``Api`` events that name it; the first API's routes come
from SAM's ``ApiProvider`` run on the template without it.

A table's stream and a function's ``DynamoDB`` event on it (``streams``) are served by the
stack's stream poller (``streams.py``): Lambda's event source mapping, batches, bisection on
error and retries, locally; its failure destination is not (a batch that fails every retry is
logged and dropped).

An S3 bucket (``buckets``) is made in moto when the stack starts, under :func:`bucket_name`, and a
function's ``EventBridgeRule`` event on the default bus (``event_rules``, its pattern's ``!Ref``s
resolved to local names) is a rule there whose events the stack's rule poller (``event_rules.py``)
invokes the function with, as Lambda's asynchronous invocation does (retries per the function's
``EventInvokeConfig``). What of a bucket is applied and what has no local effect: ``event_rules.py``.

Only what the template uses is supported. Anything else (an HTTP API, an implicit API, a TOKEN
or caching authorizer, a table with an index, a Kinesis stream, an event source the stack
cannot poll on a function it serves, a rule on another bus, a bucket's Lambda or queue notifications,
an env var it cannot resolve...) raises :class:`TemplateError` naming it, instead
of being emulated half-way.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from samcli.cli.types import CfnParameterOverridesType
from samcli.lib.config.samconfig import SamConfig
from samcli.lib.providers.api_provider import ApiProvider
from samcli.lib.providers.provider import Cors, Function
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.local.apigw.authorizers.lambda_authorizer import HeaderIdentitySource, LambdaAuthorizer
from samcli.local.apigw.route import Route

from devtools import local_env
from devtools.template import TemplateError, load_template, parameter_problem

__all__ = [
    "ACCOUNT_ID",
    "STACK_NAME",
    "EventRuleSubscription",
    "IamApiModel",
    "StackModel",
    "StreamSubscription",
    "as_text",
    "bucket_name",
    "local_name",
    "parse_overrides",
    "read_stack",
]

STACK_NAME = "phone-auth-local"
#: The local stack's AWS account: moto's default one, which the fake credentials map to.
ACCOUNT_ID: str = DEFAULT_ACCOUNT_ID
SERVED_TYPES = {"AWS::Serverless::Function", "AWS::Serverless::Api", "AWS::DynamoDB::Table", "AWS::S3::Bucket"}
#: Resources whose effect does not exist locally (permissions, log retention, the layer: its
#: code is importable already; alarms and their topic, AWS WAF, API Gateway's logging role), and
#: the stack's custom resources: the local stack writes its own key set when it starts, and has no
#: API Gateway account settings nor SNS delivery status to set up.
IGNORED_TYPES = {"AWS::Serverless::LayerVersion", "AWS::IAM::ManagedPolicy", "AWS::Logs::LogGroup"}
IGNORED_TYPES |= {"AWS::CloudWatch::Alarm", "AWS::SNS::Topic", "AWS::SNS::TopicPolicy", "AWS::SNS::Subscription"}
IGNORED_TYPES |= {"AWS::WAFv2::WebACL", "AWS::WAFv2::WebACLAssociation", "AWS::IAM::Role", "AWS::ApiGateway::Account"}
IGNORED_TYPES |= {"Custom::KeySet", "Custom::ApiGatewayLogging", "Custom::SmsDeliveryStatus"}
#: And the stream's failure destination: locally a batch that fails every retry is logged.
IGNORED_TYPES |= {"AWS::SQS::Queue"}
#: And a bucket's policy: permissions, like IAM (moto checks none).
IGNORED_TYPES |= {"AWS::S3::BucketPolicy"}
#: Served API properties, and AccessLogSetting (the server prints its own access line).
API_PROPERTIES = {"Name", "StageName", "OpenApiVersion", "Cors", "MethodSettings", "Auth", "GatewayResponses"}
API_PROPERTIES |= {"AccessLogSetting"}
#: Served table properties, and those with no local effect (encryption, backups, protection, tags).
TABLE_PROPERTIES = {"AttributeDefinitions", "KeySchema", "BillingMode", "TimeToLiveSpecification", "Tags"}
TABLE_PROPERTIES |= {"SSESpecification", "PointInTimeRecoverySpecification", "DeletionProtectionEnabled"}
TABLE_PROPERTIES |= {"StreamSpecification"}
#: A DynamoDB event's properties the poller serves; DestinationConfig is the failure queue (ignored).
STREAM_EVENT_PROPERTIES = {"Stream", "StartingPosition", "BatchSize", "BisectBatchOnFunctionError"}
STREAM_EVENT_PROPERTIES |= {"MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "DestinationConfig"}
#: Bucket properties the stack applies (event_rules.py), and those with no local effect (lifecycle,
#: ownership controls, tags). A BucketName, CORS, versioning, logging... are refused.
BUCKET_PROPERTIES = {"BucketEncryption", "PublicAccessBlockConfiguration", "NotificationConfiguration"}
BUCKET_PROPERTIES |= {"LifecycleConfiguration", "OwnershipControls", "Tags"}
#: An EventBridgeRule event's properties the rule poller serves (EventBusName: the default bus only).
EVENT_RULE_PROPERTIES = {"Pattern", "EventBusName"}
#: A rule-invoked function's EventInvokeConfig: the retries are served; an event's maximum age has no
#: local effect (locally an event waits less than a second).
INVOKE_CONFIG_PROPERTIES = {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}
#: Lambda's retries of an asynchronous invocation when EventInvokeConfig does not say.
DEFAULT_ASYNC_RETRIES = 2

# SAM CLI warns on every read that local authorizers are not the deployed ones; we know.
logging.getLogger("samcli").setLevel(logging.ERROR)


@dataclass(frozen=True)
class StreamSubscription:
    """A function's ``DynamoDB`` event: Lambda reads ``table``'s stream and invokes ``function``
    with batches of at most ``batch_size`` records, halving a failed batch when ``bisect``,
    retrying a batch ``max_retries`` times."""

    function: str  # logical id
    table: str  # logical id
    batch_size: int
    bisect: bool
    max_retries: int


@dataclass(frozen=True)
class EventRuleSubscription:
    """A function's ``EventBridgeRule`` event ``event``: a rule on the default bus matching ``pattern``
    (its ``!Ref``s resolved to local names) whose target invokes ``function`` asynchronously, a failed
    invocation being retried ``max_retries`` times (the function's EventInvokeConfig)."""

    function: str  # logical id
    event: str  # the event's name under the function's Events
    pattern: dict[str, Any]
    max_retries: int


@dataclass
class IamApiModel:
    """A REST API whose every method is AWS_IAM (SigV4): what the local stack serves of it."""

    logical_id: str
    #: In path order, one method each, no authorizer (the signature is checked instead).
    routes: list[Route]
    stage_name: str
    #: Response type -> its resolved definition, header values without SAM's quotes.
    gateway_responses: dict[str, dict[str, Any]]


@dataclass
class StackModel:
    """Everything the local stack builds: SAM CLI's functions and routes, and resolved values."""

    parameters: dict[str, str]
    #: Table logical id -> its resolved Properties (the local name is :func:`local_name`).
    tables: dict[str, dict[str, Any]]
    #: By logical id, with ``codeuri`` made absolute.
    functions: dict[str, Function]
    #: In path order; ``methods`` without the OPTIONS the gateway answers itself (with Cors).
    routes: list[Route]
    cors: Cors | None
    #: Response type -> its resolved definition, header values without SAM's quotes.
    gateway_responses: dict[str, dict[str, Any]]
    stage_name: str
    #: What every function sees (they share one process, so they must agree).
    environment: dict[str, str]
    warnings: list[str]
    #: The functions that read a table's stream.
    streams: list[StreamSubscription]
    #: The AWS_IAM API (the back office's), if the template has one.
    iam_api: IamApiModel | None = None
    #: Bucket logical id -> its resolved Properties (the local name is :func:`bucket_name`).
    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The functions an EventBridge rule invokes.
    event_rules: list[EventRuleSubscription] = field(default_factory=list)


def local_name(logical_id: str) -> str:
    """A resource's name locally, e.g. ``phone-auth-local-MeFunction``, ``phone-auth-local-UsersTable``."""
    return f"{STACK_NAME}-{logical_id}"


def bucket_name(logical_id: str) -> str:
    """A bucket's name locally, e.g. ``phone-auth-local-importbucket`` (S3 names are lower case)."""
    return local_name(logical_id).lower()


def parse_overrides(raw: str | list[str]) -> dict[str, str]:
    """``'A=1 B="two words"'`` (or a samconfig list of ``A=1``) as SAM CLI's own option parses it."""
    return dict(CfnParameterOverridesType().convert(raw, None, None)) if raw else {}


def read_stack(
    template_path: str | Path,
    *,
    region: str,
    environ: Mapping[str, str],
    config_env: str = "default",
    parameter_overrides: Mapping[str, str] | None = None,
) -> StackModel:
    """Resolve the template for a local run.

    Parameter values, lowest to highest precedence: the template's Default, samconfig.toml's
    ``config_env`` (its ``parameter_overrides`` for ``sam local start-api``), ``parameter_overrides``,
    then the developer's environment: when a function variable ``X`` is ``!Ref P`` and ``X`` is set,
    ``P`` takes that value everywhere (``ALLOWED_ORIGINS=...`` also changes the CORS headers).
    Unset, the variables of :data:`devtools.local_env.LOCAL_STACK_DEFAULTS` take those. Values a deploy would reject
    (``OTP_TTL_SECONDS=5``) get a warning; the functions' settings refuse them at start.
    """
    path = Path(template_path)
    template = load_template(path)
    _refuse_what_is_not_served(template)
    parameters, notes = _parameter_values(template, path.parent, config_env, parameter_overrides or {}, environ)
    pseudo = {"AWS::Region": region, "AWS::AccountId": ACCOUNT_ID, "AWS::StackName": STACK_NAME}
    iam_id = _iam_api_id(template)
    with warnings.catch_warnings(category=DeprecationWarning, action="ignore"):  # SAM's own, not ours
        stacks, _ = SamLocalStackProvider.get_stacks(
            template_dictionary=template, parameter_overrides=parameters | pseudo
        )
        resources = stacks[0].resources
        functions = list(SamFunctionProvider(stacks, ignore_code_extraction_warnings=True).get_all())
        api_stacks = stacks
        if iam_id is not None:  # SAM's provider merges every API's routes: read the public one alone
            api_stacks, _ = SamLocalStackProvider.get_stacks(
                template_dictionary=_without_api(template, iam_id), parameter_overrides=parameters | pseudo
            )
        api = ApiProvider(api_stacks, cwd=str(path.parent)).api
    tables = {lid: r["Properties"] for lid, r in resources.items() if r["Type"] == "AWS::DynamoDB::Table"}
    buckets = {lid: r.get("Properties") or {} for lid, r in resources.items() if r["Type"] == "AWS::S3::Bucket"}
    names = {lid: local_name(lid) for lid in tables} | {lid: bucket_name(lid) for lid in buckets}

    refs, environments = _env_refs(template), list[dict[str, str]]()
    served = _served_by_the_api(template)
    for function in functions:
        if function.name in served and (function.timeout or 3) > 29:  # API Gateway would give up first, unemulated
            raise _refused(f"{function.name}: a Timeout over 29 s")
        environment = {}
        for name, value in ((function.environment or {}).get("Variables") or {}).items():
            if refs.get(name) in names:  # a table's or a bucket's local name
                value = names[refs[name]]
            elif name not in refs and name in environ:
                value = environ[name]  # a literal the developer overrides, e.g. POWERTOOLS_SERVICE_NAME
            if isinstance(value, dict | list) or "${" in str(value):
                raise TemplateError(f"{function.name}: env var {name}: {value} cannot be resolved locally")
            environment[name] = as_text(value)
        if environments and environment != environments[0]:
            raise TemplateError(f"{function.name}: its environment differs from the others' (one process locally)")
        environments.append(environment)

    (api_props,) = [
        r["Properties"] for lid, r in resources.items() if r["Type"] == "AWS::Serverless::Api" and lid != iam_id
    ]
    for name, spec in api_props["Auth"].get("Authorizers", {}).items():
        if int((spec.get("Identity") or {}).get("ReauthorizeEvery", 300)) != 0:  # the local stack calls it every time
            raise _refused(f"authorizer {name}: caching (ReauthorizeEvery > 0)")
    for route in api.routes:
        if route.authorizer_name:
            _check_authorizer(route.authorizer_object)
        route.methods = [method for method in route.methods if method != "OPTIONS" or api.cors is None]
    responses = _gateway_responses(api_props)
    iam_api = None
    if iam_id is not None:
        iam_props = resources[iam_id]["Properties"]
        iam_api = IamApiModel(
            logical_id=iam_id,
            routes=_iam_routes(template, iam_id),
            stage_name=str(iam_props["StageName"]),
            gateway_responses=_gateway_responses(iam_props),
        )
    return StackModel(
        parameters=parameters,
        tables=tables,
        functions={f.name: f._replace(codeuri=str((path.parent / str(f.codeuri)).resolve())) for f in functions},
        routes=sorted(api.routes, key=lambda route: route.path),
        cors=api.cors,
        gateway_responses=responses,
        stage_name=str(api.stage_name),
        environment=environments[0] if environments else {},
        warnings=notes,
        streams=_stream_subscriptions(template),
        iam_api=iam_api,
        buckets=buckets,
        event_rules=_event_rule_subscriptions(template, resources, parameters | pseudo | names),
    )


def _served_by_the_api(template: Mapping[str, Any]) -> set[str]:
    """Logical ids of the functions the API invokes: those with an Api event, and its authorizers. Of
    the others, those the stream poller or the rule poller invokes are served too (``_served_by_events``);
    the rest (the stack's custom resources, a log subscription) are there for ``make invoke`` only: what
    invokes them (CloudFormation, CloudWatch Logs) is not emulated, so their events and any Condition on
    them are not read."""
    resources = template["Resources"]
    served = {
        spec["FunctionArn"]["Fn::GetAtt"][0]
        for resource in resources.values()
        if resource.get("Type") == "AWS::Serverless::Api"
        for spec in ((resource.get("Properties") or {}).get("Auth") or {}).get("Authorizers", {}).values()
        if isinstance(spec.get("FunctionArn"), dict) and "Fn::GetAtt" in spec["FunctionArn"]
    }
    for lid, resource in resources.items():
        events = ((resource.get("Properties") or {}).get("Events") or {}).values()
        if resource.get("Type") == "AWS::Serverless::Function" and any(e.get("Type") == "Api" for e in events):
            served.add(lid)
    return served


def _served_by_events(template: Mapping[str, Any]) -> set[str]:
    """Logical ids of the functions with a ``DynamoDB`` stream event (the stack's stream poller invokes
    them) or an ``EventBridgeRule`` event (the rule poller does)."""
    return {
        lid
        for lid, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
        and any(
            e.get("Type") in ("DynamoDB", "EventBridgeRule")
            for e in ((resource.get("Properties") or {}).get("Events") or {}).values()
        )
    }


def _gateway_responses(api_props: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    responses = dict(api_props.get("GatewayResponses") or {})
    for spec in responses.values():  # static header values come in SAM's single quotes
        headers = (spec.get("ResponseParameters") or {}).get("Headers") or {}
        spec["Headers"] = {name: as_text(value).strip().strip("'") for name, value in headers.items()}
    return responses


def _is_iam_api(resource: Mapping[str, Any]) -> bool:
    return (resource.get("Properties") or {}).get("Auth") == {"DefaultAuthorizer": "AWS_IAM"}


def _iam_api_id(template: Mapping[str, Any]) -> str | None:
    found = [
        lid for lid, r in template["Resources"].items() if r.get("Type") == "AWS::Serverless::Api" and _is_iam_api(r)
    ]
    return found[0] if found else None


def _api_events(template: Mapping[str, Any], api_id: str) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(function logical id, event name, event properties) of every Api event on ``api_id``."""
    return [
        (lid, name, event.get("Properties") or {})
        for lid, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
        for name, event in ((resource.get("Properties") or {}).get("Events") or {}).items()
        if event.get("Type") == "Api" and (event.get("Properties") or {}).get("RestApiId") == {"Ref": api_id}
    ]


def _without_api(template: Mapping[str, Any], api_id: str) -> dict[str, Any]:
    """``template`` without the API ``api_id`` and the Api events on it."""
    resources: dict[str, Any] = {}
    on_it = {(lid, name) for lid, name, _ in _api_events(template, api_id)}
    for lid, resource in template["Resources"].items():
        if lid == api_id:
            continue
        events = (resource.get("Properties") or {}).get("Events")
        if events and any((lid, name) in on_it for name in events):
            kept = {name: event for name, event in events.items() if (lid, name) not in on_it}
            resource = {**resource, "Properties": {**resource["Properties"], "Events": kept}}
            if not kept:
                del resource["Properties"]["Events"]
        resources[lid] = resource
    return {**template, "Resources": resources}


def _iam_routes(template: Mapping[str, Any], api_id: str) -> list[Route]:
    routes = [
        Route(function_name=lid, path=str(props["Path"]), methods=[str(props["Method"]).upper()])
        for lid, _, props in _api_events(template, api_id)
    ]
    return sorted(routes, key=lambda route: (route.path, route.methods))


def _refuse_what_is_not_served(template: Mapping[str, Any]) -> None:
    """Raise :class:`TemplateError` naming the first construct (as written) the local stack does not serve."""
    apis = [lid for lid, r in template["Resources"].items() if r.get("Type") == "AWS::Serverless::Api"]
    iam = [lid for lid in apis if _is_iam_api(template["Resources"][lid])]
    if len(apis) - len(iam) != 1 or len(iam) > 1:
        raise TemplateError(
            "the local stack serves exactly one AWS::Serverless::Api with a Lambda authorizer and at most one"
            f" whose Auth is DefaultAuthorizer: AWS_IAM, not {len(apis) - len(iam)} and {len(iam)}"
        )
    served = _served_by_the_api(template) | _served_by_events(template)
    for lid, resource in template["Resources"].items():
        kind, props = resource.get("Type"), resource.get("Properties") or {}
        if kind == "AWS::Serverless::Function" and lid not in served:
            continue
        unsupported = set(props) - (TABLE_PROPERTIES if kind == "AWS::DynamoDB::Table" else API_PROPERTIES)
        if kind not in SERVED_TYPES | IGNORED_TYPES:
            raise _refused(f"{lid}: resource type {kind}")
        if kind in SERVED_TYPES and "Condition" in resource:
            raise _refused(f"{lid}: a Condition on a {kind}")
        allowed_auth = {"DefaultAuthorizer"} if lid in iam else {"Authorizers"}
        if kind == "AWS::Serverless::Api" and (unsupported or set(props.get("Auth") or {}) - allowed_auth):
            raise _refused(f"{lid}: {', '.join(sorted(unsupported)) or 'Auth'}")
        if kind == "AWS::DynamoDB::Table" and (unsupported or props.get("BillingMode") != "PAY_PER_REQUEST"):
            what = ", ".join(sorted(unsupported)) or "a BillingMode other than PAY_PER_REQUEST"
            raise _refused(f"{lid}: {what}")
        if kind == "AWS::S3::Bucket":
            _check_bucket(lid, props)
        if kind == "AWS::Serverless::Function" and (props.get("PackageType", "Zip") != "Zip" or "InlineCode" in props):
            raise TemplateError(f"{lid}: only functions with a local CodeUri are supported by the local stack")
        stream = props.get("StreamSpecification") if kind == "AWS::DynamoDB::Table" else None
        if stream is not None and (not isinstance(stream, dict) or set(stream) != {"StreamViewType"}):
            raise _refused(f"{lid}: a StreamSpecification other than a StreamViewType")
        for name, event in (props.get("Events") or {}).items() if kind == "AWS::Serverless::Function" else ():
            if event.get("Type") == "DynamoDB":
                _check_stream_event(template, f"{lid}.{name}", event.get("Properties") or {})
                continue
            if event.get("Type") == "EventBridgeRule":
                _check_event_rule(f"{lid}.{name}", event.get("Properties") or {})
                continue
            if event.get("Type") != "Api":
                raise _refused(f"{lid}.{name}: {event.get('Type')} events")
            if "RestApiId" not in event.get("Properties", {}):
                raise _refused(f"{lid}.{name}: an implicit API (no RestApiId)")
            if "+}" in str(event["Properties"].get("Path")):
                raise _refused(f"{lid}.{name}: a greedy path parameter")


def _stream_table(properties: Mapping[str, Any]) -> str | None:
    """The table a DynamoDB event's ``Stream: !GetAtt Table.StreamArn`` names, else None."""
    stream = properties.get("Stream")
    target = stream.get("Fn::GetAtt") if isinstance(stream, dict) else None
    if isinstance(target, list) and len(target) == 2 and target[1] == "StreamArn":
        return str(target[0])
    return None


def _check_stream_event(template: Mapping[str, Any], where: str, properties: Mapping[str, Any]) -> None:
    unsupported = set(properties) - STREAM_EVENT_PROPERTIES
    if unsupported:
        raise _refused(f"{where}: {', '.join(sorted(unsupported))}")
    table = template["Resources"].get(_stream_table(properties) or "", {})
    if table.get("Type") != "AWS::DynamoDB::Table" or "StreamSpecification" not in table.get("Properties", {}):
        raise _refused(f"{where}: a stream that is not !GetAtt <a table of the template with a stream>.StreamArn")


def _check_bucket(lid: str, properties: Mapping[str, Any]) -> None:
    unsupported = set(properties) - BUCKET_PROPERTIES
    if unsupported:
        raise _refused(f"{lid}: {', '.join(sorted(unsupported))}")
    notifications = properties.get("NotificationConfiguration")
    if notifications is not None and (
        not isinstance(notifications, dict)
        or set(notifications) != {"EventBridgeConfiguration"}
        or set(notifications["EventBridgeConfiguration"] or {}) - {"EventBridgeEnabled"}
    ):
        raise _refused(f"{lid}: a NotificationConfiguration other than an EventBridgeConfiguration")


def _check_event_rule(where: str, properties: Mapping[str, Any]) -> None:
    unsupported = set(properties) - EVENT_RULE_PROPERTIES
    if unsupported:
        raise _refused(f"{where}: {', '.join(sorted(unsupported))}")
    if properties.get("EventBusName", "default") != "default":
        raise _refused(f"{where}: a rule on another bus than the default one (EventBusName)")
    if not isinstance(properties.get("Pattern"), dict):
        raise _refused(f"{where}: an EventBridgeRule without a Pattern")


def _resolve_refs(value: Any, names: Mapping[str, str], where: str) -> Any:
    """``value`` with each ``{"Ref": X}`` replaced by ``names[X]``; any other intrinsic is refused."""
    if isinstance(value, list):
        return [_resolve_refs(item, names, where) for item in value]
    if not isinstance(value, dict):
        return value
    if isinstance(value.get("Ref"), str) and len(value) == 1 and value["Ref"] in names:
        return names[value["Ref"]]
    if "Ref" in value or any(key.startswith("Fn::") for key in value):
        raise TemplateError(f"{where}: {value} cannot be resolved locally")
    return {key: _resolve_refs(item, names, where) for key, item in value.items()}


def _event_rule_subscriptions(
    template: Mapping[str, Any], resources: Mapping[str, Any], names: Mapping[str, str]
) -> list[EventRuleSubscription]:
    """Every ``EventBridgeRule`` event, its pattern resolved with ``names`` (parameters, pseudo parameters
    and the local names of tables and buckets); the retries from the function's EventInvokeConfig (Globals
    applied)."""
    found = []
    for lid, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for name, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") != "EventBridgeRule":
                continue
            config = resources[lid]["Properties"].get("EventInvokeConfig") or {}
            unsupported = set(config) - INVOKE_CONFIG_PROPERTIES
            if unsupported:
                raise _refused(f"{lid}: EventInvokeConfig {', '.join(sorted(unsupported))}")
            pattern = _resolve_refs(event["Properties"]["Pattern"], names, f"{lid}.{name}: its Pattern")
            retries = int(config.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES))
            found.append(EventRuleSubscription(function=lid, event=name, pattern=pattern, max_retries=retries))
    return found


def _stream_subscriptions(template: Mapping[str, Any]) -> list[StreamSubscription]:
    found = []
    for lid, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") == "DynamoDB":
                props = event["Properties"]
                found.append(
                    StreamSubscription(
                        function=lid,
                        table=str(_stream_table(props)),
                        batch_size=int(props.get("BatchSize", 100)),
                        bisect=str(props.get("BisectBatchOnFunctionError", False)).lower() == "true",
                        max_retries=int(props.get("MaximumRetryAttempts", -1)),
                    )
                )
    return found


def _parameter_values(
    template: Mapping[str, Any], template_dir: Path, config_env: str, overrides: Mapping[str, str], environ: Any
) -> tuple[dict[str, str], list[str]]:
    """Parameter values in the precedence :func:`read_stack` describes, and constraint warnings."""
    definitions: dict[str, Any] = template.get("Parameters") or {}
    values = {name: as_text(d["Default"]) for name, d in definitions.items() if "Default" in d}
    if (template_dir / "samconfig.toml").is_file():
        config = SamConfig(str(template_dir), "samconfig.toml")
        if config_env != "default" and config_env not in config.get_stage_configuration_names():
            raise TemplateError(f"samconfig.toml has no environment {config_env!r}")
        section = config.get_all(["local", "start-api"], "parameters", config_env)
        values.update(parse_overrides(section.get("parameter_overrides", "")))
    values.update(overrides)
    unknown = sorted(set(values) - set(definitions))
    if unknown:
        raise TemplateError(f"not template parameters: {', '.join(unknown)}")
    for env_name, target in _env_refs(template).items():
        chosen = environ.get(env_name, local_env.LOCAL_STACK_DEFAULTS.get(env_name))
        if target in definitions and chosen is not None:
            values[target] = chosen
    missing = sorted(set(definitions) - set(values))
    if missing:
        raise TemplateError(f"parameters without a Default need a value: {', '.join(missing)}")
    return values, [w for name, value in values.items() if (w := parameter_problem(name, definitions[name], value))]


def _env_refs(template: Mapping[str, Any]) -> dict[str, str]:
    """Function env var name -> the parameter or resource its ``!Ref`` names (decoded template)."""
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    sections = [template.get("Globals", {}).get("Function", {}), *(r.get("Properties", {}) for r in functions)]
    return {
        name: value["Ref"]
        for section in sections
        for name, value in ((section.get("Environment") or {}).get("Variables") or {}).items()
        if isinstance(value, dict) and isinstance(value.get("Ref"), str)
    }


def _check_authorizer(authorizer: Any) -> None:
    """Refuse anything but a REQUEST Lambda authorizer that reads headers only."""
    name = getattr(authorizer, "authorizer_name", "?")
    if not isinstance(authorizer, LambdaAuthorizer) or authorizer.type != LambdaAuthorizer.REQUEST:
        raise _refused(
            f"authorizer {name}: a {getattr(authorizer, 'type', type(authorizer).__name__).upper()} authorizer"
        )
    sources = authorizer.identity_sources
    if authorizer.validation_string or not all(isinstance(source, HeaderIdentitySource) for source in sources):
        raise _refused(f"authorizer {name}: identity sources other than headers, or a validation expression")


def as_text(value: Any) -> str:
    """CloudFormation's (and API Gateway's) string form of a scalar: booleans in lower case."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _refused(what: str) -> TemplateError:
    return TemplateError(f"{what} (not supported by the local stack)")
