"""Sending SMS through a small interface: `sns` (SNS Publish to the phone) or `log` (development).

`log` sends nothing and logs only that a message was suppressed (never its text: it holds
a code). ENVIRONMENT=production refuses `log` at start-up (see settings).
"""

from __future__ import annotations

import functools
from typing import Protocol

from phone_auth.errors import ServiceUnavailable
from phone_auth.observability import logger, metrics
from phone_auth.phones import mask_phone
from phone_auth.settings import get_settings


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> None: ...


class SnsSmsSender:
    def __init__(self, sender_id: str) -> None:
        self.sender_id = sender_id

    def send(self, to: str, body: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        from phone_auth import aws

        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if self.sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self.sender_id}
        try:
            aws.sns().publish(PhoneNumber=to, Message=body, MessageAttributes=attributes)
        except (BotoCoreError, ClientError) as exc:
            logger.warning("sms not sent", extra={"to": mask_phone(to), "reason": type(exc).__name__})
            metrics.count("SmsFailures")
            raise ServiceUnavailable(details={"dependency": "sms"}) from None
        logger.info("sms sent", extra={"to": mask_phone(to)})


class LogSmsSender:
    def send(self, to: str, body: str) -> None:
        logger.info("sms suppressed (SMS_SENDER=log)", extra={"to": mask_phone(to), "length": len(body)})


@functools.cache
def get_sender() -> SmsSender:
    settings = get_settings()
    if settings.sms_sender == "sns":
        return SnsSmsSender(settings.sms_sender_id)
    return LogSmsSender()
