"""``python -m devtools.local_stack``: see devtools.local_stack.cli."""

from devtools.local_stack.cli import main

raise SystemExit(main())
