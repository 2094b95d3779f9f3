"""The one module that creates boto3 clients.

Clients are created lazily, once per container (never at import time, so tests can start
moto first). The endpoint comes from the standard AWS_ENDPOINT_URL variables, which is how
the local stack points everything at its embedded moto server.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def _session() -> Any:
    import boto3

    return boto3.session.Session()


@functools.cache
def dynamodb() -> Any:
    from botocore.config import Config

    # Short timeouts and standard retries: an auth call should fail fast rather than hang.
    config = Config(connect_timeout=2, read_timeout=4, retries={"mode": "standard", "max_attempts": 3})
    return _session().client("dynamodb", config=config)


@functools.cache
def sns() -> Any:
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 2})
    return _session().client("sns", config=config)


@functools.cache
def ssm() -> Any:
    from botocore.config import Config

    config = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 2})
    return _session().client("ssm", config=config)


def reset_clients() -> None:
    """Forget cached clients (tests that switch moto on and off call this)."""
    _session.cache_clear()
    dynamodb.cache_clear()
    sns.cache_clear()
    ssm.cache_clear()
