"""Random one-time codes and opaque tokens from `secrets`, and the keyed hashes they are stored as."""

from __future__ import annotations

import hashlib
import hmac
import secrets

CODE_LENGTH = 6


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
