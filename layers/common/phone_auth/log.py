"""The service's logger: powertools JSON logs with the API Gateway request id as correlation id.

Never log codes, passwords, tokens, secrets or whole events; log phones through mask_phone().
Handlers pass log_event=False explicitly, so POWERTOOLS_LOGGER_LOG_EVENT=true cannot turn on
event logging (an event carries the bearer token, codes and passwords).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

logger = Logger(service="phone-auth")
