"""``python -m devtools.local_stack``: the same as ``python -m devtools.dev_server`` (``make run``)."""

from devtools.dev_server.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
