"""Phone numbers: parsed with phonenumbers, stored and returned as E.164, masked in logs.

phonenumbers is imported where a number is parsed, so what only masks phones or reads
MAX_PHONE_LENGTH (the request models) does not load its metadata on a cold start.
"""

from __future__ import annotations

import re

from phone_auth.errors import InvalidPhone, NotAMobilePhone

#: The most characters read as a phone (after trimming whitespace); the request models allow no more.
MAX_PHONE_LENGTH = 32
#: What people type between digits; the digits may be any script's (๐๘๑ reads as 081).
_SEPARATORS = re.compile(r"[\s().-]")


def normalize_phone(raw: str, default_region: str) -> str:
    """Return the E.164 form of a mobile number typed in any common format.

    National formats are read in `default_region` (TH: 081-234-5678 -> +66812345678).
    Raises InvalidPhone for anything that is not a valid number, NotAMobilePhone for
    numbers that cannot receive SMS (fixed lines, toll-free, premium-rate ...).

    Only digits, one leading ``+`` and separators (spaces, dashes, dots, parentheses) are
    read: phonenumbers would also take letters as keypad digits ("081 ABC 5678") and skip
    words before a number ("tel:"), and a code for a mistyped number goes to someone else.
    """
    import phonenumbers
    from phonenumbers import PhoneNumberType

    text = raw.strip()
    if not text or len(text) > MAX_PHONE_LENGTH:
        raise InvalidPhone()
    compact = _SEPARATORS.sub("", text)
    digits = compact[1:] if compact.startswith("+") else compact
    if not digits or not digits.isdecimal():
        raise InvalidPhone()
    if compact.startswith("00"):
        text = "+" + compact[2:]
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone() from None
    if parsed.extension or not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone()
    # Numbers that may be a mobile: some regions (US, CA, ...) cannot tell fixed lines from mobiles.
    if phonenumbers.number_type(parsed) not in {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}:
        raise NotAMobilePhone()
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def region_of(phone_e164: str) -> str | None:
    """The ISO region a number belongs to (TH for +66...), None when it has none."""
    import phonenumbers

    return phonenumbers.region_code_for_number(phonenumbers.parse(phone_e164))


def mask_phone(phone: str) -> str:
    """+66812345678 -> +668*****678: enough to correlate logs, not enough to identify a person."""
    if len(phone) <= 6:
        return "*" * len(phone)
    return phone[:4] + "*" * (len(phone) - 7) + phone[-3:]
