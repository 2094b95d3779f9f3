"""What the stack sets up at deploy time that CloudFormation has no resource for, as custom resources.

One function (functions/stack_setup.py) serves three resource types of template.yaml:

- ``Custom::KeySet`` (key_set): the JWT key set's SSM SecureString, created with a random key set
  when it does not exist, never replaced, and kept when the stack goes unless asked otherwise.
- ``Custom::ApiGatewayLogging`` (api_gateway_logging): API Gateway's account-wide CloudWatch role,
  set to the stack's role only when the account has none, so access logs work on a fresh
  account and an account that has one is not disturbed.
- ``Custom::SmsDeliveryStatus`` (sms_delivery_status): SNS's account-wide SMS delivery status
  logging, and the two log groups SNS writes it to.

protocol.py reads CloudFormation's request and answers it at its pre-signed ResponseURL, whatever
happens: a failure is answered FAILED with a reason that never holds a secret.
"""
