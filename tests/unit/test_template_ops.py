"""What template.yaml promises operators: 503s to retry, access logs without secrets, the optional
WAF, least-privilege grants for the new resources, and a reason for every checkov skip."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from phone_auth.errors import ServiceUnavailable
from tests.helpers import ROOT, template


def resources() -> dict[str, Any]:
    resources: dict[str, Any] = template()["Resources"]
    return resources


def api_properties() -> dict[str, Any]:
    properties: dict[str, Any] = resources()["PhoneAuthApi"]["Properties"]
    return properties


# ------------------------------------------------------------------ 503s
def test_every_503_carries_retry_after() -> None:
    assert ServiceUnavailable().headers == {"Retry-After": "1"}
    assert ServiceUnavailable(details={"dependency": "ssm"}).headers == {"Retry-After": "1"}


@pytest.mark.parametrize("response_type", ["AUTHORIZER_CONFIGURATION_ERROR", "AUTHORIZER_FAILURE"])
def test_an_authorizer_failure_is_our_503_with_the_headers_of_the_other_gateway_responses(response_type: str) -> None:
    responses = api_properties()["GatewayResponses"]
    failure = responses[response_type]
    assert failure["StatusCode"] == "503"
    headers = failure["ResponseParameters"]["Headers"]
    assert headers["Retry-After"] == "'1'"
    assert headers == responses["THROTTLED"]["ResponseParameters"]["Headers"]  # CORS, exposed Retry-After
    body = json.loads(failure["ResponseTemplates"]["application/json"])
    assert body["success"] is False and body["error"]["code"] == "SERVICE_UNAVAILABLE"


# ------------------------------------------------------------------ access logs
def access_log_format() -> str:
    fmt: str = api_properties()["AccessLogSetting"]["Format"]
    return fmt


def test_access_logs_are_one_json_line_per_request_with_what_an_investigation_needs() -> None:
    fmt = access_log_format()
    assert "\n" not in fmt
    rendered = json.loads(re.sub(r"\$context\.[A-Za-z.]+", "x", fmt))
    assert {"requestId", "ip", "route", "method", "status", "latencyMs", "userAgent"} <= set(rendered)
    for variable in (
        "$context.requestId",
        "$context.identity.sourceIp",
        "$context.resourcePath",
        "$context.status",
        "$context.responseLatency",
        "$context.identity.userAgent",
    ):
        assert variable in fmt


def test_access_logs_never_hold_a_header_but_the_user_agent_nor_a_body() -> None:
    fmt = access_log_format()
    variables = set(re.findall(r"\$[A-Za-z.]+", fmt))
    assert all(variable.startswith("$context.") for variable in variables)  # no $input (the body)
    for forbidden in ("authorization", "header", "$context.authorizer", "$input", "body"):
        assert forbidden not in fmt.lower()


def test_access_logs_have_their_own_group_kept_30_days_and_removed_with_the_stack() -> None:
    destination = api_properties()["AccessLogSetting"]["DestinationArn"]
    assert destination == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    group = resources()["ApiAccessLogGroup"]
    assert group["Properties"]["RetentionInDays"] == 30
    assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Delete"


def test_the_admin_api_logs_every_call_with_its_principal_in_a_group_kept_a_year() -> None:
    """The admin API's access log is part of the audit trail: who called (the IAM principal), never a header."""
    properties = resources()["AdminApi"]["Properties"]
    assert properties["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["AdminApiAccessLogGroup", "Arn"]}
    fmt = properties["AccessLogSetting"]["Format"]
    json.loads(fmt)
    for variable in ("$context.requestId", "$context.identity.userArn", "$context.resourcePath", "$context.status"):
        assert variable in fmt
    for forbidden in ("authorization", "header", "$input", "body"):
        assert forbidden not in fmt.lower()
    group = resources()["AdminApiAccessLogGroup"]
    assert group["Properties"]["RetentionInDays"] >= 365
    assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")


def retention_days(group: dict[str, Any]) -> int:
    """A log group's RetentionInDays, its Fn::FindInMap (with a DefaultValue) looked up as
    CloudFormation's language extensions do."""
    days = group["Properties"]["RetentionInDays"]
    if isinstance(days, dict):
        mapping, key, attribute, default = days["Fn::FindInMap"]
        return int(template()["Mappings"][mapping].get(key, {}).get(attribute, default["DefaultValue"]))
    return int(days)


def test_every_function_logs_to_its_own_group_kept_30_days_and_removed_with_the_stack() -> None:
    """Lambda's own log groups are kept forever: each function's is declared, under Lambda's name.
    The admin API's functions write its audit lines: their groups are kept a year, as its access log."""
    functions = {lid for lid, r in resources().items() if r["Type"] == "AWS::Serverless::Function"}
    logged: dict[str, str] = {}
    for lid, group in resources().items():
        name = group.get("Properties", {}).get("LogGroupName")
        if group["Type"] != "AWS::Logs::LogGroup" or lid in ("ApiAccessLogGroup", "AdminApiAccessLogGroup"):
            continue
        match = re.fullmatch(r"/aws/lambda/\$\{(\w+)\}", name["Fn::Sub"])
        assert match, (lid, name)
        logged[match.group(1)] = lid
        audit = match.group(1).startswith(("Admin", "ImportUsers"))
        assert retention_days(group) == (365 if audit else 30), lid
        assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Delete", lid
    assert set(logged) == functions
    assert all(lid == function.removesuffix("Function") + "LogGroup" for function, lid in logged.items())


def test_the_account_logging_role_is_set_only_where_there_is_none_and_outlives_the_stack() -> None:
    role, setting = resources()["ApiGatewayLoggingRole"], resources()["ApiGatewayLogging"]
    assert "Condition" not in role  # a fresh account needs it, whatever the samconfig environment
    # Other APIs of the region may log through it once set; but a failed first deploy takes it back.
    assert (role["DeletionPolicy"], role["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert role["Properties"]["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}
    ]
    assert setting["Type"] == "Custom::ApiGatewayLogging"  # GetAccount first: an existing role stays
    assert setting["Properties"]["RoleArn"] == {"Fn::GetAtt": ["ApiGatewayLoggingRole", "Arn"]}
    assert setting["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["StackSetupFunction", "Arn"]}
    # The stage writes to this group, which waits for the setting: no stage before a role.
    assert resources()["ApiAccessLogGroup"]["DependsOn"] == "ApiGatewayLogging"
    assert "CreateApiGatewayLoggingRole" not in template()["Parameters"]
    assert not [lid for lid, r in resources().items() if r["Type"] == "AWS::ApiGateway::Account"]


def test_nothing_the_stack_keeps_is_left_behind_by_a_failed_first_deploy() -> None:
    """A Retain resource outlives a rollback and is an orphan; RetainExceptOnCreate goes with it."""
    kept = {lid: r["DeletionPolicy"] for lid, r in resources().items() if "Retain" in r.get("DeletionPolicy", "")}
    assert kept == {
        "UsersTable": "RetainExceptOnCreate",
        "ApiGatewayLoggingRole": "RetainExceptOnCreate",
        "AdminApiAccessLogGroup": "RetainExceptOnCreate",
        "ImportBucket": "RetainExceptOnCreate",
    }


# ------------------------------------------------------------------ WAF
def test_the_waf_is_optional_and_on_in_production() -> None:
    assert template()["Parameters"]["EnableWaf"]["Default"] == "false"
    for name in ("WebAcl", "WebAclAssociation"):
        assert resources()[name]["Condition"] == "UseWaf"
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    production = [
        overrides
        for section in config.values()
        if isinstance(section, dict)
        and "Environment=production"
        in (overrides := section.get("global", {}).get("parameters", {}).get("parameter_overrides", []))
    ]
    assert production, "samconfig.toml deploys no production stack"
    assert all("EnableWaf=true" in overrides for overrides in production)
    assert "Environment=production" in config["prod"]["global"]["parameters"]["parameter_overrides"]


def test_production_is_the_environment_parameter_never_the_stage_name() -> None:
    assert template()["Parameters"]["Environment"]["AllowedValues"] == ["production", "development"]
    assert template()["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Environment"}, "production"]}
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["ENVIRONMENT"] == {"Ref": "Environment"}


def test_the_waf_limits_each_ip_and_blocks_bad_reputations_on_the_api_stage() -> None:
    acl = resources()["WebAcl"]["Properties"]
    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    rate, reputation = rules["rate-limit-per-ip"], rules["aws-ip-reputation"]
    statement = rate["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "IP"
    assert statement["Limit"] == {"Ref": "WafRateLimitPerIp"}
    response = rate["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 429
    assert {h["Name"] for h in response["ResponseHeaders"]} >= {"Retry-After", "Access-Control-Allow-Origin"}
    body = json.loads(acl["CustomResponseBodies"][response["CustomResponseBodyKey"]]["Content"])
    assert body["error"]["code"] == "RATE_LIMITED"
    group = reputation["Statement"]["ManagedRuleGroupStatement"]
    assert (group["VendorName"], group["Name"]) == ("AWS", "AWSManagedRulesAmazonIpReputationList")
    association = resources()["WebAclAssociation"]["Properties"]
    assert association["WebACLArn"] == {"Fn::GetAtt": ["WebAcl", "Arn"]}
    assert association["ResourceArn"]["Fn::Sub"].endswith("/restapis/${PhoneAuthApi}/stages/${PhoneAuthApi.Stage}")


#: The routes that text a code to a number the caller names, without signing in.
CODE_SENDING_FUNCTIONS = (
    "SendVerificationFunction",
    "RequestRegistrationOtpFunction",
    "RequestPasswordResetOtpFunction",
)


def test_the_waf_challenges_the_code_sending_routes_above_a_per_ip_rate() -> None:
    """Past WafCodeSendChallengePerIp code requests in 5 minutes, an IP must pass an AWS WAF
    challenge (a silent browser check, or the WAF SDK's token) for every further one."""
    acl = resources()["WebAcl"]["Properties"]
    rules = {rule["Name"]: rule for rule in acl["Rules"]}
    assert len({rule["Priority"] for rule in acl["Rules"]}) == len(acl["Rules"])
    challenge = rules["challenge-code-sends-per-ip"]
    assert challenge["Action"] == {"Challenge": {}}
    statement = challenge["Statement"]["RateBasedStatement"]
    assert (statement["AggregateKeyType"], statement["EvaluationWindowSec"]) == ("IP", 300)
    assert statement["Limit"] == {"Ref": "WafCodeSendChallengePerIp"}
    matches = [match["ByteMatchStatement"] for match in statement["ScopeDownStatement"]["OrStatement"]["Statements"]]
    assert all(match["FieldToMatch"] == {"UriPath": {}} for match in matches)
    assert all(match["PositionalConstraint"] == "ENDS_WITH" for match in matches)  # /stage, /api/v1 in front
    paths = {
        event["Properties"]["Path"]
        for name in CODE_SENDING_FUNCTIONS
        for event in resources()[name]["Properties"]["Events"].values()
        if event["Type"] == "Api"
    }
    assert {match["SearchString"] for match in matches} == paths and len(paths) == 3
    parameter = template()["Parameters"]["WafCodeSendChallengePerIp"]
    assert parameter["MinValue"] == 10  # AWS WAF's smallest rate limit
    assert parameter["Default"] < template()["Parameters"]["WafRateLimitPerIp"]["Default"]
    # The client sends the challenge's token as a header when the app is on another origin.
    assert "X-Aws-Waf-Token" in api_properties()["Cors"]["AllowHeaders"]


# ------------------------------------------------------------------ IAM and alarm topic
def iam_statements() -> list[tuple[str, dict[str, Any]]]:
    """(resource, statement) for every permission statement of the template, wherever it is written
    (a managed policy, a function's Policies, a role's, either branch of an Fn::If); not trust policies."""
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(lid: str, node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("Statement"), list):
                found.extend((lid, statement) for statement in node["Statement"])
            for key, value in node.items():
                if key not in ("AssumeRolePolicyDocument", "Statement"):
                    walk(lid, value)
        elif isinstance(node, list):
            for item in node:
                walk(lid, item)

    for lid, resource in resources().items():
        walk(lid, resource.get("Properties", {}))
    return found


def test_the_only_grants_on_every_resource_are_sms_the_accounts_sms_settings_and_listing_streams() -> None:
    """checkov's CKV_AWS_111 is skipped for sns:Publish: keep "*" for what has no ARN, nothing else."""
    wildcard = sorted((lid, str(s["Action"])) for lid, s in iam_statements() if s.get("Resource") == "*")
    assert wildcard == [
        ("FunctionPermissionsBoundary", "dynamodb:ListStreams"),  # Lambda's stream reads: no ARN to scope to
        ("FunctionPermissionsBoundary", "sns:Publish"),  # a boundary: the ceiling, not a grant
        ("SmsPublishPolicy", "sns:Publish"),  # a phone number has no ARN
        ("StackSetupFunction", "['sns:GetSMSAttributes', 'sns:SetSMSAttributes']"),  # nor do the account's
        ("StackSetupPermissionsBoundary", "['sns:GetSMSAttributes', 'sns:SetSMSAttributes']"),
    ]


def test_sms_may_go_to_phone_numbers_only_never_to_a_topic() -> None:
    allow, deny = resources()["SmsPublishPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (allow["Effect"], allow["Action"], allow["Resource"]) == ("Allow", "sns:Publish", "*")
    assert (deny["Effect"], deny["Action"]) == ("Deny", "sns:Publish")
    assert deny["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:sns:*:*:*"}  # every topic, the alarm topic too


def test_only_cloudwatch_alarms_of_this_account_may_publish_to_the_alarm_topic() -> None:
    (statement,) = resources()["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert statement["Action"] == "sns:Publish"
    assert statement["Resource"] == {"Ref": "AlarmTopic"}
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


# ------------------------------------------------------------------ checkov
def checkov_skips() -> list[tuple[str, list[str]]]:
    """(check id, the comment lines just above it) for each entry of .checkov.yaml's skip-check."""
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    start = lines.index("skip-check:")
    skips, comment = [], []
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("# "))
        elif stripped.startswith("- "):
            skips.append((stripped[2:].strip(), comment))
            comment = []
        elif stripped:
            break
    return skips


def test_every_checkov_skip_says_why() -> None:
    skips = checkov_skips()
    assert skips, "no skip-check list found"
    ids = [check for check, _ in skips]
    assert len(ids) == len(set(ids))
    for check, reason in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", check), check
        assert len(" ".join(reason)) >= 60, f"{check} needs its reason in a comment above it"


def test_make_lint_runs_checkov_with_that_config() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "checkov --config-file .checkov.yaml" in recipe


def test_checkov_scans_the_template_with_its_loops_expanded_first() -> None:
    """checkov does not expand Fn::ForEach: on template.yaml itself it would skip what the loops make."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    (scanned,) = yaml.safe_load((ROOT / ".checkov.yaml").read_text())["file"]
    assert f"\nEXPANDED_TEMPLATE := {scanned}\n" in makefile
    written = recipe.index("-m devtools.template --output $(EXPANDED_TEMPLATE)")
    assert written < recipe.index("checkov --config-file .checkov.yaml")


# ------------------------------------------------------------------ Fn::ForEach
def test_every_samconfig_environment_has_sam_expand_the_loops() -> None:
    """SAM CLI expands Fn::ForEach only when asked; without it sam build fails on the template."""
    assert "AWS::LanguageExtensions" in template()["Transform"]
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    environments = [name for name, section in config.items() if isinstance(section, dict)]
    assert {"default", "prod"} <= set(environments)
    for name in environments:
        assert config[name]["global"]["parameters"]["language_extensions"] is True, name


def test_the_expanded_template_written_for_checkov_is_what_the_tests_read(tmp_path: Path) -> None:
    from devtools.template import main

    assert main(["--output", str(tmp_path / "expanded" / "template.json")]) == 0
    written = json.loads((tmp_path / "expanded" / "template.json").read_text())
    assert written == json.loads(json.dumps(template()))
    assert not [lid for lid in written["Resources"] if lid.startswith("Fn::ForEach::")]
    assert {"MeLogGroup", "MeFunctionAlarm"} <= set(written["Resources"])
