"""Operations tools, run from the repository root (``python -m ops.<tool>``) against a deployed stack
or the local one: the CSV importer of back-office users (``ops.import_users``, ``make import``),
the JWT key set's CLI (``ops.secret``, ``make secret`` and ``make rotate-secret``) and the deploy
with a samconfig.toml environment's parameters and extra ones merged on top (``ops.deploy``,
``make deploy``).

They use the Lambda layer's package ``phone_auth`` (layers/common), which ``make setup`` makes
importable for the venv's python (a .pth file in its site-packages).
"""
