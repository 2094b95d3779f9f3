"""Run phone-auth locally: API Gateway + Lambda + DynamoDB/SSM/SNS/S3/EventBridge (moto), no Docker, no AWS.

``start()`` serves the routes of template.yaml, also under /api/v1; ``make run`` adds the web client, docs
and kept data (devtools.dev_server, an :class:`Extension`). Tests start one in-process with
``stack = start(port=0, echo=False)``, call ``stack.url``, read ``stack.sms(phone)`` and
``stack.stop()`` it.

Modules: ``template`` (SAM CLI's providers), ``backend`` (moto, SMS outbox), ``gateway`` (routing,
authorizer, gateway responses, events), ``server`` (HTTP, /_local), ``streams`` (table streams, the
lifecycle events), ``event_rules`` (buckets, EventBridge rules, asynchronous invocations; tests wait with
``stack.deliver_events()``), ``stack`` (start/stop).
"""

from devtools.local_stack.backend import SmsMessage, SmsOutbox
from devtools.local_stack.stack import Extension, LocalStack, start

__all__ = ["Extension", "LocalStack", "SmsMessage", "SmsOutbox", "start"]
