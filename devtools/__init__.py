"""Developer tools run from the repository root (``python -m devtools.<tool>``).

They use the Lambda layer's package ``phone_auth`` (layers/common), which ``make setup`` makes
importable for the venv's python (a .pth file in its site-packages).
"""
