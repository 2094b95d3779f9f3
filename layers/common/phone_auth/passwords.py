"""Passwords: policy (length, common list, not the phone) and bcrypt hashing.

bcrypt reads at most 72 bytes, so longer passwords are refused when set (a clear 400)
and simply fail at login (never a 500): nothing is silently truncated.
The common-password list is the 20,000-entry list Django ships
(django/contrib/auth/common-passwords.txt.gz, BSD licence), filtered to 8+ characters.
"""

from __future__ import annotations

import functools
import gzip
import re
import time
from importlib import resources

import bcrypt

from phone_auth.errors import PasswordIsPhone, PasswordTooCommon, PasswordTooLong, PasswordTooShort

MIN_LENGTH = 8
MAX_BYTES = 72
_SEPARATORS = re.compile(r"[\s\-+().]")
_COST = re.compile(r"^\$2[aby]\$(\d\d)\$")


@functools.cache
def _common_passwords() -> frozenset[str]:
    data = resources.files("phone_auth").joinpath("common_passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


def check_policy(password: str, phone_e164: str) -> None:
    """Raise the first rule the password breaks (no composition rules, per NIST SP 800-63B)."""
    if len(password) < MIN_LENGTH:
        raise PasswordTooShort()
    if len(password.encode()) > MAX_BYTES:
        raise PasswordTooLong()
    if password.lower() in _common_passwords():
        raise PasswordTooCommon()
    if _SEPARATORS.sub("", password) in _phone_spellings(phone_e164):
        raise PasswordIsPhone()


def _phone_spellings(phone_e164: str) -> set[str]:
    """+66812345678 -> {"66812345678", "812345678", "0812345678"}."""
    import phonenumbers

    national = str(phonenumbers.parse(phone_e164).national_number)
    return {phone_e164.lstrip("+"), national, "0" + national}


def hash_password(password: str, rounds: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


@functools.cache
def _dummy_hash(rounds: int) -> tuple[bytes, float]:
    """A hash at the configured cost, and how long bcrypt took to make it (about one check)."""
    started = time.perf_counter()
    hashed = bcrypt.hashpw(b"phone-auth dummy password", bcrypt.gensalt(rounds))
    return hashed, time.perf_counter() - started


def verify_password(password: str, password_hash: str | None, rounds: int) -> bool:
    """Check a password in about the same time whatever the outcome could reveal.

    An unknown user or an overlong password still pays one bcrypt check at the configured
    cost, and a wrong password against a hash of a lower cost (an imported one, say) is held
    until a check at the configured cost would have ended, so a refusal's timing does not
    tell a known phone from an unknown one.

    The dummy hash is made only when a refusal needs it, so a right password on a cold start
    costs one bcrypt, not two. Its making is then part of both refusals alike: an unknown
    phone makes it and checks it, a wrong password is held one check long and then makes it.
    """
    started = time.perf_counter()
    candidate = password.encode()
    if password_hash is None or len(candidate) > MAX_BYTES:
        dummy, _ = _dummy_hash(rounds)
        bcrypt.checkpw(candidate[:MAX_BYTES], dummy)
        return False
    try:
        matches = bcrypt.checkpw(candidate, password_hash.encode())
    except ValueError:
        matches = False
    if not matches:
        checked = time.perf_counter() - started
        _, dummy_seconds = _dummy_hash(rounds)
        time.sleep(max(0.0, dummy_seconds - checked))
    return matches


def needs_rehash(password_hash: str, rounds: int) -> bool:
    """True when the stored hash was made with a lower cost than configured."""
    match = _COST.match(password_hash)
    return match is None or int(match.group(1)) < rounds


def is_bcrypt_hash(value: str) -> bool:
    return bool(_COST.match(value)) and len(value) == 60
