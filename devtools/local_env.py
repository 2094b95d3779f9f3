"""The fake AWS that everything outside AWS runs in, defined once: the tests (both tiers), the
local stack (``make run``, ``make invoke``), ``make bench``'s round-trip recording and the OpenAPI
generator.

- :data:`CREDENTIALS` and :data:`REGION`: keys moto accepts, set so that a developer's real ones
  never leave the shell, and the region of the template's examples.
- :func:`environment`: a function's whole environment when its code runs in this process on moto
  (the tests' ``TEST_ENV``; the bench's recording, the generator with a stage of their own).
- :data:`LOCAL_STACK_DEFAULTS`: what the local stack's functions get unless the developer sets it.
- :func:`aws_environment` and :func:`apply_environment`: the os.environ changes that point boto3
  at moto, a server's endpoint or ``mock_aws`` in this process.
- :func:`create_resources`: the template's tables and a first JWT key set, in that moto.
- :func:`mocked_aws`: all of it for one test or one recording, put back after.
- :func:`forget_warm_state`: what a new Lambda container does not have yet.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

REGION = "ap-southeast-1"
CREDENTIALS = dict.fromkeys(
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"), "testing"
)
#: Template table logical id -> the variable that names the table in a function's environment.
TABLE_VARIABLES = {"UsersTable": "USERS_TABLE_NAME", "OtpTable": "OTP_TABLE_NAME", "LimitsTable": "LIMITS_TABLE_NAME"}
TABLE_VARIABLES |= {"ImportJobsTable": "IMPORT_JOBS_TABLE_NAME"}
#: Variables that would make boto3 ignore AWS_ENDPOINT_URL or pick a real profile.
_REDIRECTING = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")

#: The settings of every run in this process: the template's defaults written out (a test that
#: depends on one depends on it here), with bcrypt at the lowest cost the settings accept.
SETTINGS = {
    "POWERTOOLS_SERVICE_NAME": "phone-auth",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "ENVIRONMENT": "development",
    "MARKET": "th",
    "DEFAULT_REGION": "TH",
    "OTP_TTL_SECONDS": "300",
    "OTP_MAX_ATTEMPTS": "3",
    "OTP_RESEND_SECONDS": "60",
    "ACCESS_TOKEN_TTL_SECONDS": "900",
    "REGISTRATION_TOKEN_TTL_SECONDS": "600",
    "TOKEN_ISSUER": "phone-auth",
    "TOKEN_AUDIENCE": "phone-auth-api",
    "SMS_SENDER": "sns",
    "SMS_SENDER_ID": "PhoneAuth",
    "SIGNUP_MODE": "open",
    "OTP_LOGIN_ENABLED": "true",
    "BCRYPT_ROUNDS": "10",
}

#: The local stack's functions get these unless the developer sets them (devtools.local_stack.template):
#: the stage is "local" and never production (whatever the config env deploys: ``make run ENV=prod`` is a
#: local, development stage with prod's other settings), SMS go to moto SNS (the outbox reads them), CORS
#: allows every localhost port, codes go to TH and US numbers.
LOCAL_STACK_DEFAULTS = {"STAGE": "local", "ENVIRONMENT": "development", "SMS_SENDER": "sns"}
LOCAL_STACK_DEFAULTS |= {"ALLOWED_ORIGINS": "http://localhost:*,http://127.0.0.1:*", "ALLOWED_COUNTRIES": "TH,US"}


def environment(stage: str = "test", **settings: str) -> dict[str, str]:
    """What a function reads from its environment when it runs in this process on moto: the fake
    credentials and region, ``stage``'s tables and secret, :data:`SETTINGS`, then ``settings``."""
    tables = {"USERS_TABLE_NAME": "users", "OTP_TABLE_NAME": "otps", "LIMITS_TABLE_NAME": "limits"}
    tables |= {"IMPORT_JOBS_TABLE_NAME": "import-jobs", "IMPORT_BUCKET_NAME": "imports"}
    return {
        **CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "STAGE": stage,
        **{variable: f"phone-auth-{stage}-{kind}" for variable, kind in tables.items()},
        "JWT_SECRET_PARAMETER_NAME": f"/phone-auth/{stage}/jwt-secret",
        **SETTINGS,
        **settings,
    }


def aws_environment(
    endpoint_url: str | None, environ: Mapping[str, str], region: str = REGION
) -> dict[str, str | None]:
    """The os.environ changes that point every boto3 client of this process at moto: its server at
    ``endpoint_url``, or ``mock_aws`` in this process when None. A None value means "remove":
    ``AWS_ENDPOINT_URL_<SERVICE>`` variables go, as they would win over ``AWS_ENDPOINT_URL``."""
    changes: dict[str, str | None] = {**CREDENTIALS, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}
    changes["AWS_ENDPOINT_URL"] = endpoint_url
    changes |= {name: None for name in environ if name.startswith("AWS_ENDPOINT_URL_") or name in _REDIRECTING}
    return changes


def apply_environment(changes: Mapping[str, str | None]) -> dict[str, str | None]:
    """Apply ``changes`` to os.environ (None removes) and return the changes that undo them."""
    previous = {name: os.environ.get(name) for name in changes}
    os.environ.update({name: value for name, value in changes.items() if value is not None})
    for name in [name for name, value in changes.items() if value is None]:
        os.environ.pop(name, None)
    return previous


@functools.cache
def template_tables() -> dict[str, dict[str, Any]]:
    """Logical id -> Properties of every DynamoDB table of template.yaml."""
    from devtools.template import load_template

    resources = load_template()["Resources"]
    return {lid: r["Properties"] for lid, r in resources.items() if r["Type"] == "AWS::DynamoDB::Table"}


def create_resources(
    tables: Mapping[str, Mapping[str, Any]], names: Mapping[str, str], secret_name: str, buckets: Iterable[str] = ()
) -> None:
    """Create ``tables`` (logical id -> Properties) fresh under ``names`` (logical id -> table name),
    ``buckets`` (names) sending their object events to EventBridge as the import bucket does, and a
    first JWT key set as ``make secret`` writes it, in the moto os.environ points at.

    A table left from an earlier start in this process is dropped first. A new key set means tokens
    of an earlier run are refused, as after a rotation, unless something puts the earlier one back
    (the dev server's local-data/).
    """
    import boto3

    from phone_auth.keys import new_key_set

    session = boto3.session.Session()
    dynamodb = session.client("dynamodb")
    existing = set(dynamodb.list_tables().get("TableNames", []))
    for logical_id, props in tables.items():
        name, ttl = names[logical_id], props.get("TimeToLiveSpecification") or {}
        if name in existing:
            dynamodb.delete_table(TableName=name)
        keys = {key: props[key] for key in ("KeySchema", "AttributeDefinitions")}
        if props.get("StreamSpecification"):  # the users table's: the lifecycle events read it
            keys["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **keys)
        if ttl.get("Enabled") in (True, "true"):
            spec = {"Enabled": True, "AttributeName": ttl["AttributeName"]}
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)
    s3: Any = session.client("s3")  # any region the stack runs in
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": session.region_name})
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    ssm = session.client("ssm")
    ssm.put_parameter(Name=secret_name, Type="SecureString", Value=new_key_set().to_json(), Overwrite=True)


@contextlib.contextmanager
def mocked_aws(variables: Mapping[str, str]) -> Iterator[None]:
    """A fresh ``mock_aws`` in this process holding the template's tables and a key set, with
    os.environ holding ``variables`` (an :func:`environment`) and pointing boto3 at it; os.environ
    and the functions' warm state are put back after."""
    from moto import mock_aws

    from devtools.moto_atomic import make_dynamodb_writes_atomic

    make_dynamodb_writes_atomic()
    previous = apply_environment(aws_environment(None, os.environ) | dict(variables))
    try:
        with mock_aws():
            forget_warm_state()
            names = {logical_id: variables[variable] for logical_id, variable in TABLE_VARIABLES.items()}
            secret, bucket = variables["JWT_SECRET_PARAMETER_NAME"], variables["IMPORT_BUCKET_NAME"]
            create_resources(template_tables(), names, secret, buckets=[bucket])
            yield
    finally:
        apply_environment(previous)
        forget_warm_state()


def forget_warm_state() -> None:
    """What a new Lambda container does not have: settings, clients, the secret, the keys from it.

    The shared code keeps them per container (``functools`` caches, and the key ring per stored
    value); one long-lived process would keep a previous moto's endpoint, environment or secret.
    Every ``functools`` cache of the loaded ``phone_auth`` modules is cleared, so a cache added
    there later is covered too.
    """
    for name, module in list(sys.modules.items()):
        if module is not None and (name == "phone_auth" or name.startswith("phone_auth.")):
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)) and hasattr(value, "cache_info"):
                    value.cache_clear()
    keys = sys.modules.get("phone_auth.keys")
    if keys is not None:
        keys._cache.clear()
    pacing = sys.modules.get("phone_auth.pacing")
    if pacing is not None:
        pacing.reset()  # the decoy paths' duration estimates
