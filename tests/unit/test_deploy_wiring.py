"""What a deploy of each samconfig.toml environment depends on, read from the template SAM's translator
makes with that environment's values (devtools.validate.translate, as ``sam validate`` runs it).

For every environment: its parameters are ones CloudFormation accepts; every route reaches its
function through a Lambda proxy integration (behind the authorizer where the template says so) that
the function lets API Gateway invoke; the authorizer and every gateway response are there; each
function's environment is a configuration its Settings accept; the stage waits for the account's
logging role and every function that reads the key set waits for it; the outputs name what exists.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devtools import samconfig
from devtools.validate import ACCOUNT_ID, conditions, deployed_resources, parameter_values, problems, translate
from phone_auth.errors import catalogue
from phone_auth.settings import load_settings

ENVIRONMENTS = list(samconfig.environments())
PROXY_URI = re.compile(r"functions/\$\{(\w+)\.Arn\}/invocations")


def resources(env_name: str) -> dict[str, Any]:
    return deployed_resources(translate(env_name))


def of_type(env_name: str, kind: str) -> dict[str, Any]:
    return {lid: r for lid, r in resources(env_name).items() if r["Type"] == kind}


def api_body(env_name: str, api_id: str = "PhoneAuthApi") -> dict[str, Any]:
    """The OpenAPI body SAM made for the REST API ``api_id`` (PhoneAuthApi, or the back office's AdminApi)."""
    apis = of_type(env_name, "AWS::ApiGateway::RestApi")
    assert set(apis) == {"PhoneAuthApi", "AdminApi"}
    body: dict[str, Any] = apis[api_id]["Properties"]["Body"]
    return body


def stage_of(env_name: str, api_id: str) -> str:
    (stage,) = [
        lid
        for lid, r in of_type(env_name, "AWS::ApiGateway::Stage").items()
        if references(r["Properties"]["RestApiId"]) == {api_id}
    ]
    return stage


def references(node: Any) -> set[str]:
    """The logical ids and parameters a value names: Ref, Fn::GetAtt, and ${X} or ${X.Attr} in a string."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, str):
        found |= {name.split(".")[0] for name in re.findall(r"\$\{([\w.:]+)\}", node) if "::" not in name}
    return found


def depends_on(env_name: str, logical_id: str) -> set[str]:
    """Everything ``logical_id`` waits for in CloudFormation: its DependsOn and what it references, transitively."""
    everything = resources(env_name)
    seen: set[str] = set()
    pending = [logical_id]
    while pending:
        resource = everything[pending.pop()]
        waits = resource.get("DependsOn", [])
        named = {waits} if isinstance(waits, str) else set(waits)
        named |= references(resource.get("Properties", {}))
        for target in named & set(everything):
            if target not in seen:
                seen.add(target)
                pending.append(target)
    return seen


def template_routes(api_id: str = "PhoneAuthApi") -> list[tuple[str, str, str, bool]]:
    """(path, method, function logical id, behind the authorizer) from template.yaml's Api events on ``api_id``."""
    from devtools.template import load_template

    found = []
    for lid, resource in load_template()["Resources"].items():
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
            if resource["Type"] == "AWS::Serverless::Function" and event["Type"] == "Api":
                props = event["Properties"]
                if props["RestApiId"] != {"Ref": api_id}:
                    continue
                found.append(
                    (props["Path"], props["Method"].lower(), lid, bool((props.get("Auth") or {}).get("Authorizer")))
                )
    return found


# ------------------------------------------------------------------ the environments themselves
def test_samconfig_holds_the_environments_the_docs_name() -> None:
    assert set(ENVIRONMENTS) == {"default", "prod", "th-dev", "us-dev"}


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_each_environments_parameters_are_ones_cloudformation_accepts(env_name: str) -> None:
    assert problems(samconfig.environment(env_name)) == []


def test_a_value_cloudformation_would_refuse_is_found() -> None:
    bad = samconfig.Environment("bad", "stack", "ap-southeast-1", {"OtpTtlSeconds": "5", "Nope": "1", "Stage": "Dev"})
    found = problems(bad)
    assert any(problem.startswith("Nope: not a parameter") for problem in found)
    assert any("OtpTtlSeconds=5 is outside 60..1800" in problem for problem in found)
    assert any("Stage='Dev' does not match" in problem for problem in found)


# ------------------------------------------------------------------ routes, authorizer, responses
@pytest.mark.parametrize("env_name", ENVIRONMENTS)
@pytest.mark.parametrize("api_id", ["PhoneAuthApi", "AdminApi"])
def test_every_route_reaches_its_function_which_api_gateway_may_invoke(env_name: str, api_id: str) -> None:
    paths = api_body(env_name, api_id)["paths"]
    permissions = {
        (function, r["Properties"]["Principal"])
        for r in of_type(env_name, "AWS::Lambda::Permission").values()
        for function in references(r["Properties"]["FunctionName"])
    }
    routes = template_routes(api_id)
    assert routes
    for path, method, function, guarded in routes:
        operation = paths[path][method]
        integration = operation["x-amazon-apigateway-integration"]
        assert (integration["type"], integration["httpMethod"]) == ("aws_proxy", "POST"), (path, method)
        target = PROXY_URI.search(json.dumps(integration["uri"]).replace("\\", ""))
        assert target is not None and target.group(1) == function, (path, method)
        # The admin API: every method AWS_IAM (SigV4), never the Lambda authorizer.
        expected: list[dict[str, list[str]]] | None = None
        if api_id == "AdminApi":
            expected = [{"AWS_IAM": []}]
        elif guarded:
            expected = [{"PhoneAuthAuthorizer": []}]
        assert operation.get("security") == expected, (path, method)
        assert (function, "apigateway.amazonaws.com") in permissions, function
    served = {(path, method) for path, methods in paths.items() for method in methods if method != "options"}
    assert served == {(path, method) for path, method, _, _ in routes}  # no route the template does not declare
    if api_id == "AdminApi":
        scheme = api_body(env_name, api_id)["components"]["securitySchemes"]["AWS_IAM"]
        assert scheme["x-amazon-apigateway-authtype"] == "awsSigv4"


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_authorizer_is_the_request_authorizer_with_the_environments_cache(env_name: str) -> None:
    scheme = api_body(env_name)["components"]["securitySchemes"]["PhoneAuthAuthorizer"][
        "x-amazon-apigateway-authorizer"
    ]
    assert scheme["type"] == "request"
    assert scheme["identitySource"] == "method.request.header.Authorization"
    assert "AuthorizerFunction" in references(scheme["authorizerUri"])
    ttl = parameter_values(samconfig.environment(env_name))["AuthorizerCacheTtlSeconds"]
    assert str(scheme["authorizerResultTtlInSeconds"]) == ttl
    permission = [
        r
        for r in of_type(env_name, "AWS::Lambda::Permission").values()
        if references(r["Properties"]["FunctionName"]) == {"AuthorizerFunction"}
    ]
    assert [p["Properties"]["Principal"] for p in permission] == ["apigateway.amazonaws.com"]


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_every_gateway_response_is_ours_with_the_environments_origin(env_name: str) -> None:
    responses = api_body(env_name)["x-amazon-apigateway-gateway-responses"]
    origin = parameter_values(samconfig.environment(env_name))["AllowedOrigins"].split(",")[0]
    assert {
        "AUTHORIZER_FAILURE",
        "AUTHORIZER_CONFIGURATION_ERROR",
        "ACCESS_DENIED",
        "UNAUTHORIZED",
        "THROTTLED",
    } <= set(responses)
    codes = set(catalogue())
    for name, response in responses.items():
        assert response["responseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"] == f"'{origin}'"
        body = json.loads(response["responseTemplates"]["application/json"])
        assert body["success"] is False
        assert body["error"]["code"] in codes or body["error"]["code"].startswith("$context"), name
    for name in ("AUTHORIZER_FAILURE", "AUTHORIZER_CONFIGURATION_ERROR"):  # our 503 to retry, not a 500
        assert responses[name]["statusCode"] == "503"
        assert responses[name]["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_admin_apis_refusals_are_ours(env_name: str) -> None:
    responses = api_body(env_name, "AdminApi")["x-amazon-apigateway-gateway-responses"]
    assert {"MISSING_AUTHENTICATION_TOKEN", "INVALID_SIGNATURE", "ACCESS_DENIED", "EXPIRED_TOKEN"} <= set(responses)
    codes = catalogue()
    for name, response in responses.items():
        error = json.loads(response["responseTemplates"]["application/json"])["error"]
        assert error["code"] in codes, name
        if "statusCode" in response:
            assert int(response["statusCode"]) == codes[error["code"]].status, name


# ------------------------------------------------------------------ each function's configuration
def resolved_environment(env_name: str, variables: dict[str, Any]) -> dict[str, str]:
    """A function's environment as Lambda gets it: parameters by value, a table or a bucket by a
    stand-in name (CloudFormation names a bucket in lower case)."""
    env = samconfig.environment(env_name)
    values = {**parameter_values(env), "AWS::StackName": str(env.stack_name), "AWS::Region": str(env.region)}
    everything = resources(env_name)
    found = {}
    for name, value in variables.items():
        if isinstance(value, dict):
            (target,) = references(value)
            value = values.get(target, f"{env.stack_name}-{target}-1A2B3C4D5E")
            kind = everything[target]["Type"] if target not in values else None
            assert kind in (None, "AWS::DynamoDB::Table", "AWS::S3::Bucket"), (name, target)
            if kind == "AWS::S3::Bucket":
                value = f"{env.stack_name}-{target}-1a2b3c4d5e6f".lower()
        found[name] = str(value)
    return found


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_each_functions_environment_is_a_configuration_its_settings_accept(env_name: str) -> None:
    """Settings read at the cold start: a variable missing or out of range fails it, for every request."""
    functions = of_type(env_name, "AWS::Lambda::Function")
    assert len(functions) >= 16
    for lid, function in functions.items():
        variables = resolved_environment(env_name, function["Properties"]["Environment"]["Variables"])
        settings = load_settings(variables)  # raises SettingsError naming what is wrong
        assert settings.stack_name == samconfig.environment(env_name).stack_name, lid
        assert variables["USERS_TABLE_NAME"].endswith("-UsersTable-1A2B3C4D5E"), lid


# ------------------------------------------------------------------ the order CloudFormation creates things in
@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_stage_waits_for_the_accounts_logging_role(env_name: str) -> None:
    """SAM does not pass the Api's DependsOn on to the stage it makes: the stage's access log group
    carries the dependency, and the stage references the group."""
    for api_id, group in (("PhoneAuthApi", "ApiAccessLogGroup"), ("AdminApi", "AdminApiAccessLogGroup")):
        stage = stage_of(env_name, api_id)
        assert group in references(resources(env_name)[stage]["Properties"]["AccessLogSetting"])
        assert {"ApiGatewayLogging", "ApiGatewayLoggingRole", "StackSetupFunction"} <= depends_on(env_name, stage)


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_every_function_that_reads_the_key_set_waits_for_it(env_name: str) -> None:
    everything = resources(env_name)
    readers = set()
    for lid, function in of_type(env_name, "AWS::Lambda::Function").items():
        role = everything[function["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
        if {"Ref": "JwtSecretReadPolicy"} in role.get("ManagedPolicyArns", []):
            readers.add(lid)
            assert "KeySet" in depends_on(env_name, lid), lid
    assert {"AuthorizerFunction", "RefreshFunction", "LoginMobileFunction"} <= readers
    assert "StackSetupLogGroup" in depends_on(env_name, "KeySet")  # its function logs from the first request


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_sms_delivery_subscriptions_wait_for_their_log_groups(env_name: str) -> None:
    filters = of_type(env_name, "AWS::Logs::SubscriptionFilter")
    assert conditions(translate(env_name))["RecordsSmsDelivery"] is bool(filters)
    for lid in filters:
        assert "SmsDeliveryStatus" in depends_on(env_name, lid), lid


# ------------------------------------------------------------------ outputs
@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_outputs_name_what_the_environment_deploys(env_name: str) -> None:
    translated = translate(env_name)
    decided = conditions(translated)
    outputs = {name: o for name, o in translated["Outputs"].items() if decided.get(o.get("Condition", ""), True)}
    expected = {"ApiUrl", "AuthorizerFunctionArn", "UsersTableName", "OtpTableName", "JwtSecretParameterName"}
    expected |= {"AdminApiUrl", "BackOfficePolicyArn", "AdminApiAccessLogGroupName"}
    assert expected | {"AlarmTopicArn", "ApiAccessLogGroupName"} <= set(outputs)
    assert ("WebAclArn" in outputs) is decided["UseWaf"]
    deployed = set(resources(env_name)) | set(translated["Parameters"])
    for name, output in outputs.items():
        assert references(output["Value"]) <= deployed, name
    assert (
        outputs["AuthorizerFunctionArn"]["Export"]["Name"]
        == f"{samconfig.environment(env_name).stack_name}-AuthorizerFunctionArn"
    )
    assert (
        outputs["JwtSecretParameterName"]["Value"]
        == parameter_values(samconfig.environment(env_name))["JwtSecretParameterName"]
    )
    assert ACCOUNT_ID not in json.dumps(translated["Outputs"])  # the account comes from the deploy, not the file
