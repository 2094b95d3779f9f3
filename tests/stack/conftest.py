"""The stack tier: each module starts its own local stack (devtools.local_stack, its own moto
server) and talks to it over HTTP (tests.helpers.stack); nothing here wraps a test in mock_aws,
which would wipe the running stack's tables.

The tier runs in the tests' fake environment (devtools.local_env: fake credentials, bcrypt at
cost 10), set before any import, whether or not the unit tier runs in the same session.
"""

from __future__ import annotations

import os

from devtools import local_env
from tests.helpers import TEST_ENV

local_env.apply_environment(local_env.aws_environment(None, os.environ) | TEST_ENV)
