"""The unit tier's fixtures: the fake environment before any import, a fresh moto for every test.

Tables are created from template.yaml's own definitions (so tests and template cannot drift),
the JWT key set is a real SSM SecureString, SMS go to moto's SNS, and time is a fake clock the
tests move instead of sleeping (devtools.local_env builds that moto; shared helpers are in
tests.helpers).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devtools import local_env
from tests.helpers import TEST_ENV, Api, FakeClock, SetEnv

local_env.apply_environment(local_env.aws_environment(None, os.environ) | TEST_ENV)


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
        local_env.forget_warm_state()

    return set_env


@pytest.fixture(autouse=True)
def aws() -> Iterator[None]:
    """Every test runs against a fresh moto account holding the template's tables and a key set."""
    with local_env.mocked_aws(TEST_ENV):
        yield


@pytest.fixture
def api() -> Api:
    return Api()
