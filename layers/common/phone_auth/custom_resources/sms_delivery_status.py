"""``Custom::SmsDeliveryStatus``: SNS's SMS delivery status logging, and the log groups it writes to.

SNS records whether each SMS reached the phone only when the account's SMS attributes name an
IAM role it may log through (``DeliveryStatusIAMRole``) and the share of successes to record
(``DeliveryStatusSuccessSamplingRate``). These are account-wide, per region: every stack of the
account and region shares them. SNS then writes one JSON line per SMS to
``sns/<region>/<account>/DirectPublishToPhoneNumber`` and, for failures,
``.../DirectPublishToPhoneNumber/Failure``.

Properties: ``RoleArn`` (the stack's role for SNS), ``SuccessSamplingRate`` (percent),
``SuccessLogGroupName``, ``FailureLogGroupName`` and ``LogRetentionDays``.

- Create and Update make each log group unless it exists (an earlier stack or SNS itself may have
  made it), with the retention, so the stack's subscriptions can attach to them. A group that
  exists keeps its own retention. Then they set the SMS attributes when no role is set, or when
  the stack's role is: a role another stack or team set is left as it is (the answer's
  ``SetByStack`` says which happened).
- Delete clears the role when it is still the stack's (the role goes with the stack), and keeps the
  log groups and their records, which their retention removes.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from phone_auth import aws
from phone_auth.custom_resources.protocol import Outcome, Request, SetupFailed, while_role_propagates
from phone_auth.observability import logger

PHYSICAL_ID = "sns-sms-delivery-status-logging"
ROLE = "DeliveryStatusIAMRole"
SAMPLING = "DeliveryStatusSuccessSamplingRate"


def apply(request: Request) -> Outcome:
    role_arn = request.text("RoleArn")
    if request.request_type == "Delete":
        if request.created:
            _clear_role_if_ours(role_arn)
        return Outcome(request.physical_id or PHYSICAL_ID)
    rate = request.text("SuccessSamplingRate")
    if not rate.isdigit() or not 0 <= int(rate) <= 100:
        raise SetupFailed("property SuccessSamplingRate must be a percentage, 0 to 100")
    retention = request.text("LogRetentionDays")
    for name in (request.text("SuccessLogGroupName"), request.text("FailureLogGroupName")):
        ensure_log_group(name, int(retention))
    sns = aws.deploy_client("sns")
    current = sns.get_sms_attributes(attributes=[ROLE]).get("attributes", {}).get(ROLE, "")
    if current and current != role_arn:
        logger.info("sms delivery status logging already set up by someone else: left as it is")
        return Outcome(PHYSICAL_ID, {"SetByStack": "false"})
    attributes = {ROLE: role_arn, SAMPLING: rate}
    while_role_propagates(
        lambda: sns.set_sms_attributes(attributes=attributes), sns.exceptions.InvalidParameterException
    )
    logger.info("sms delivery status logging set", extra={"success_sampling_rate": rate})
    return Outcome(PHYSICAL_ID, {"SetByStack": "true"})


def ensure_log_group(name: str, retention_days: int) -> bool:
    """Make the log group with its retention unless it exists; whether it made it."""
    logs = aws.deploy_client("logs")
    try:
        logs.create_log_group(logGroupName=name)
    except logs.exceptions.ResourceAlreadyExistsException:
        return False
    logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
    return True


def _clear_role_if_ours(role_arn: str) -> None:
    """Stop SNS logging through the stack's role, which is deleted after this. Best effort: a
    refusal leaves the setting naming a role that no longer exists, and the stack's deletion goes on."""
    sns = aws.deploy_client("sns")
    try:
        current = sns.get_sms_attributes(attributes=[ROLE]).get("attributes", {}).get(ROLE, "")
        if current == role_arn:
            sns.set_sms_attributes(attributes={ROLE: ""})
            logger.info("sms delivery status logging cleared with the stack")
    except ClientError as exc:
        logger.warning("sms delivery status logging not cleared", extra={"reason": exc.response["Error"]["Code"]})
