"""``python -m ops.import_users``: see ``ops.import_users.cli``."""

import sys

from ops.import_users.cli import main

sys.exit(main())
