"""The stack tier: each module starts its own local stack (devtools.local_stack, its own moto
server) and talks to it over HTTP (tests.helpers.stack); nothing here wraps a test in mock_aws,
which would wipe the running stack's tables.

The tier runs in the tests' fake environment (devtools.local_env: fake credentials, bcrypt at
cost 10), set before any import, whether or not the unit tier runs in the same session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devtools import local_env
from tests.helpers import TEST_ENV

local_env.apply_environment(local_env.aws_environment(None, os.environ) | TEST_ENV)

from devtools.local_stack import LocalStack, start  # noqa: E402 (after the fake environment)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """A local stack of the module's own, as the template and samconfig's default say, without the
    demo users (a module that needs another one defines its own ``stack``)."""
    running = start(port=0, echo=False, import_sample_users=False)
    try:
        yield running
    finally:
        running.stop()
