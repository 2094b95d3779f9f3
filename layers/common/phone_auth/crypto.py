"""Random one-time codes and opaque tokens from `secrets`, and the keyed hashes they are stored as."""

from __future__ import annotations

import hashlib
import hmac
import secrets

CODE_LENGTH = 6

# The shapes of what is issued here, as the API documents (and, where it says so, checks) them.
#: new_code: 6 digits.
CODE_PATTERN = r"^[0-9]{6}$"
#: new_opaque_token: 32 random bytes in URL-safe base64, 43 characters (a registration token).
OPAQUE_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{43}$"  # noqa: S105 (a shape, not a secret)
#: new_session_id: 16 random bytes as hex.
SESSION_ID_PATTERN = r"^[0-9a-f]{32}$"
#: A refresh token as phone_auth.flows.sessions issues it: base64url(E.164 phone, unpadded: at
#: most 22 characters) . session id . secret (an opaque token at sign-in, a 64-hex keyed hash
#: once rotated). The one pattern: the API documents it, and a refresh reads nothing else.
REFRESH_TOKEN_PATTERN = r"^[A-Za-z0-9_-]{2,22}\.[0-9a-f]{32}\.([A-Za-z0-9_-]{43}|[0-9a-f]{64})$"  # noqa: S105


def new_code() -> str:
    """Six uniformly random digits (leading zeros allowed)."""
    return f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"


def new_opaque_token() -> str:
    """256 random bits, URL-safe: used for registration tokens."""
    return secrets.token_urlsafe(32)


def new_session_id() -> str:
    """128 random bits as hex: names a session (not a secret: it is in the access token)."""
    return secrets.token_hex(16)


def keyed_hash(key: bytes, *parts: str) -> str:
    """HMAC-SHA256 over the parts, bound together so that a code for one phone/purpose
    never hashes like the same code for another."""
    message = "\x1f".join(parts).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
