"""Fixtures: fake AWS credentials and settings before any import, moto for every AWS call.

Tables are created from template.yaml's own definitions (so tests and template cannot
drift), the JWT secret is a real SSM SecureString, SMS go to moto's SNS, and time is a
fake clock the tests move instead of sleeping. Shared helpers are in helpers.py.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from tests.helpers import TABLE_ENV, TEST_ENV, Api, FakeClock, SetEnv, template_tables

for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_name, None)
os.environ.update(TEST_ENV)

from moto import mock_aws  # noqa: E402  (after the environment is set)

from devtools.moto_atomic import make_dynamodb_writes_atomic  # noqa: E402

make_dynamodb_writes_atomic()


def reset_caches() -> None:
    """Forget everything a warm container would keep, so each test starts cold."""
    from aws_lambda_powertools.utilities import parameters

    from phone_auth import aws, keys, passwords, settings, sms

    settings.get_settings.cache_clear()
    aws.reset_clients()
    sms.get_sender.cache_clear()
    keys._cache.clear()
    passwords._common_passwords.cache_clear()
    parameters.clear_caches()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    from phone_auth import clock as clock_module

    fake = FakeClock()
    monkeypatch.setattr(clock_module, "now", fake)
    return fake


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> SetEnv:
    """Change settings for one test: env(SIGNUP_MODE="imported")."""

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        reset_caches()

    return set_env


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test runs against a fresh moto account holding the template's tables and a secret."""
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        reset_caches()
        import boto3

        dynamodb = boto3.client("dynamodb")
        for logical_id, props in template_tables().items():
            name = os.environ[TABLE_ENV[logical_id]]
            dynamodb.create_table(
                TableName=name,
                KeySchema=props["KeySchema"],
                AttributeDefinitions=props["AttributeDefinitions"],
                BillingMode="PAY_PER_REQUEST",
            )
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
                )
        boto3.client("ssm").put_parameter(
            Name=os.environ["JWT_SECRET_PARAMETER_NAME"],
            Value=secrets.token_urlsafe(32),
            Type="SecureString",
        )
        yield
        reset_caches()


@pytest.fixture
def api() -> Api:
    return Api()
