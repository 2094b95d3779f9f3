"""``Custom::ApiGatewayLogging``: API Gateway's CloudWatch role, set only when the account has none.

API Gateway writes access logs through one IAM role per account and region (its account
settings, ``cloudwatchRoleArn``); a stage with access logs fails to deploy while none is set.
Property: ``RoleArn``, the stack's role for it.

- Create and Update read the account's setting (GetAccount). When no role is set, they set the
  stack's role (UpdateAccount); when one is set, whoever set it, they leave it as it is.
- Delete changes nothing: every API of the region logs through that setting, so the stack's role
  is kept when the stack goes (its DeletionPolicy) and the setting with it.

A role created a moment ago may not be usable by API Gateway yet (IAM propagates within
seconds): UpdateAccount's BadRequestException is retried for up to a minute.
"""

from __future__ import annotations

from phone_auth import aws
from phone_auth.custom_resources.protocol import Outcome, Request, while_role_propagates
from phone_auth.observability import logger

PHYSICAL_ID = "api-gateway-account-cloudwatch-role"


def apply(request: Request) -> Outcome:
    if request.request_type == "Delete":
        return Outcome(request.physical_id or PHYSICAL_ID)
    role_arn = request.text("RoleArn")
    apigateway = aws.deploy_client("apigateway")
    current = apigateway.get_account().get("cloudwatchRoleArn")
    if current:
        logger.info("api gateway logging role already set", extra={"ours": current == role_arn})
        return Outcome(PHYSICAL_ID, {"RoleArn": str(current), "SetByStack": "false"})
    set_role(role_arn)
    logger.info("api gateway logging role set")
    return Outcome(PHYSICAL_ID, {"RoleArn": role_arn, "SetByStack": "true"})


def set_role(role_arn: str) -> None:
    """Point the account's API Gateway logging at ``role_arn``, waiting out IAM's propagation."""
    apigateway = aws.deploy_client("apigateway")
    patch = [{"op": "replace", "path": "/cloudwatchRoleArn", "value": role_arn}]
    while_role_propagates(
        lambda: apigateway.update_account(patchOperations=patch), apigateway.exceptions.BadRequestException
    )
