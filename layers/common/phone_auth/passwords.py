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
def _dummy_hash(rounds: int) -> bytes:
    return bcrypt.hashpw(b"phone-auth dummy password", bcrypt.gensalt(rounds))


def verify_password(password: str, password_hash: str | None, rounds: int) -> bool:
    """Check a password in about the same time whatever the outcome could reveal.

    An unknown user or an overlong password still pays one bcrypt check at the configured
    cost. A wrong password against a hash of a lower cost (an imported one, say) is held as
    long as a check at the configured cost would take: bcrypt's time doubles with each unit
    of cost, so the check just made, timed, says how long at this moment, whatever the load.
    So a refusal's timing does not tell a known phone from an unknown one. The dummy hash is
    made only when a refusal needs it: a right password on a cold start costs one bcrypt.
    """
    candidate = password.encode()
    if password_hash is None or len(candidate) > MAX_BYTES:
        bcrypt.checkpw(candidate[:MAX_BYTES], _dummy_hash(rounds))
        return False
    cost = _COST.match(password_hash)
    if cost is None:
        bcrypt.checkpw(candidate, _dummy_hash(rounds))
        return False
    started = time.perf_counter()
    try:
        matches = bcrypt.checkpw(candidate, password_hash.encode())
    except ValueError:
        matches = False
    missing_rounds = rounds - int(cost.group(1))
    if not matches and missing_rounds > 0:
        time.sleep((time.perf_counter() - started) * (2**missing_rounds - 1))
    if not matches:
        # An unknown phone's refusal makes the dummy hash on a container's first one: so does
        # this one, so even the first refusal of a container tells nothing. A right password
        # never pays for it.
        _dummy_hash(rounds)
    return matches


def needs_rehash(password_hash: str, rounds: int) -> bool:
    """True when the stored hash was made with a lower cost than configured."""
    match = _COST.match(password_hash)
    return match is None or int(match.group(1)) < rounds


def is_bcrypt_hash(value: str) -> bool:
    return bool(_COST.match(value)) and len(value) == 60
