"""``python -m devtools.import_users``: see ``devtools.import_users.cli``."""

import sys

from devtools.import_users.cli import main

sys.exit(main())
