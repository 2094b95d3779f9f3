"""CloudFormation custom resources: the JWT key set, API Gateway's logging role, SNS SMS delivery status."""

from phone_auth.custom_resources import api_gateway_logging, key_set, sms_delivery_status
from phone_auth.custom_resources.protocol import custom_resource_endpoint

lambda_handler = custom_resource_endpoint(
    {
        "Custom::KeySet": key_set.apply,
        "Custom::ApiGatewayLogging": api_gateway_logging.apply,
        "Custom::SmsDeliveryStatus": sms_delivery_status.apply,
    }
)
