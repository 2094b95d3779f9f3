"""One-time codes: send one (store its hash, then text it), and answer a code that was refused.

A code is 6 digits from `secrets`, stored only as an HMAC bound to phone and purpose, valid
for OTP_TTL_SECONDS (checked in the write, since DynamoDB TTL deletes late), single use,
dead after OTP_MAX_ATTEMPTS wrong guesses counted atomically, replaced by the next code
sent, and not re-sendable within OTP_RESEND_SECONDS unless it was used. Spending a code
happens in the store operation that also does what the code authorises
(``store.codes.spend_code_and_*``); a refusal comes back here through ``refuse``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal, NoReturn

from phone_auth import clock, crypto
from phone_auth.errors import (
    AlreadyRegistered,
    OtpAttemptsExceeded,
    OtpExpired,
    OtpInvalid,
    OtpNotFound,
    PhoneNotAllowed,
    RateLimited,
)
from phone_auth.keys import key_ring
from phone_auth.log import logger
from phone_auth.messages import message
from phone_auth.phones import mask_phone
from phone_auth.settings import get_settings
from phone_auth.sms import get_sender
from phone_auth.store import codes
from phone_auth.store.records import NewCode, StoredCode
from phone_auth.store.refusals import CodeRejected, RecipientRefused, ResendTooSoon

Purpose = Literal["login", "registration", "password_reset"]


@dataclass(frozen=True)
class CodeSent:
    expires_in: int
    resend_after: int


def code_hash(phone: str, purpose: str, code: str) -> str:
    """The hash a new code is stored as (current key)."""
    return key_ring().hash("otp", phone, purpose, code)


def code_hashes(phone: str, purpose: str, code: str) -> list[str]:
    """What a stored code's hash may be if ``code`` is right: one per live key."""
    return key_ring().hashes("otp", phone, purpose, code)


def _retry_after(state: StoredCode | None, now: int) -> int:
    sent_at = state.sent_at if state else now
    return sent_at + get_settings().otp_resend_seconds - now


def send_code(
    phone: str, purpose: Purpose, *, recipient: codes.Recipient, language: str, decoy_if_refused: bool = False
) -> CodeSent:
    """Store a new code and text it: one DynamoDB round trip plus the SMS.

    ``decoy_if_refused``: a phone that is not a valid recipient gets the same answer and
    the same resend limit (through a decoy record with no code) but no SMS, so the answer
    does not tell whether it has an account.
    """
    settings = get_settings()
    now = int(clock.now())
    code = crypto.new_code()
    record = NewCode(
        phone=phone,
        purpose=purpose,
        code_id=uuid.uuid4().hex,
        code_hash=code_hash(phone, purpose, code),
        sent_at=now,
        expires_at=now + settings.otp_ttl_seconds,
    )
    sent = CodeSent(expires_in=settings.otp_ttl_seconds, resend_after=settings.otp_resend_seconds)
    cutoff = now - settings.otp_resend_seconds
    try:
        codes.issue_code(record, recipient=recipient, resend_cutoff=cutoff)
    except ResendTooSoon as too_soon:
        raise RateLimited(_retry_after(too_soon.state, now)) from None
    except RecipientRefused as refused:
        if decoy_if_refused:
            try:
                codes.issue_decoy(record, resend_cutoff=cutoff)
            except ResendTooSoon as too_soon:
                raise RateLimited(_retry_after(too_soon.state, now)) from None
            logger.info("code not sent: no account", extra={"phone": mask_phone(phone), "purpose": purpose})
            return sent
        if refused.user is not None and refused.user.has_password:
            raise AlreadyRegistered() from None
        raise PhoneNotAllowed() from None

    text = message("SMS_LOGIN", language).format(code=code, minutes=max(1, settings.otp_ttl_seconds // 60))
    try:
        get_sender().send(phone, text)
    except Exception:
        codes.withdraw_code(record)
        raise
    logger.info("code sent", extra={"phone": mask_phone(phone), "purpose": purpose})
    return sent


def refuse(phone: str, purpose: Purpose, state: StoredCode | None, now: int, *, count: bool = True) -> NoReturn:
    """Answer a code the store refused, counting it as a wrong guess when it was one.

    A decoy (reset asked for a phone without an account) has no hash: it is refused like
    a wrong guess, attempts and all, so the answers do not tell which phones have accounts.
    """
    settings = get_settings()
    if state is None or state.used:
        raise OtpNotFound()
    if state.attempts >= settings.otp_max_attempts:
        raise OtpAttemptsExceeded(_retry_after(state, now))
    if state.expires_at <= now:
        raise OtpExpired()
    if not count:
        raise OtpInvalid()
    try:
        attempts = codes.count_wrong_guess(
            phone, purpose, code_id=state.code_id, max_attempts=settings.otp_max_attempts, now=now
        )
    except CodeRejected as rejected:
        refuse(phone, purpose, rejected.state, now, count=False)
    remaining = settings.otp_max_attempts - attempts
    logger.info("wrong code", extra={"phone": mask_phone(phone), "purpose": purpose, "remaining": remaining})
    if remaining <= 0:
        raise OtpAttemptsExceeded(_retry_after(state, now))
    raise OtpInvalid(details={"attempts_remaining": remaining})
