"""CloudWatch Logs subscription on SNS's SMS delivery status: SmsDelivered, SmsDeliveryFailures by reason."""

from phone_auth.sms_delivery import count_deliveries, log_subscription_endpoint


@log_subscription_endpoint
def lambda_handler(lines: list[str]) -> None:
    count_deliveries(lines)
