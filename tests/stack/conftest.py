"""The stack tier: each module starts its own local stack (devtools.local_stack, its own moto
server) and talks to it over HTTP; nothing here wraps a test in mock_aws, which would wipe the
running stack's tables.

The tier runs in the tests' fake environment (fake credentials, bcrypt at cost 10), set before
any import, whether or not the unit tier runs in the same session.
"""

from __future__ import annotations

import os

from tests.helpers import TEST_ENV

for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_name, None)
os.environ.update(TEST_ENV)
