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

from phone_auth import aws, clock, crypto, guards
from phone_auth.errors import (
    AlreadyRegistered,
    OtpAttemptsExceeded,
    OtpExpired,
    OtpInvalid,
    OtpNotFound,
    PhoneNotAllowed,
    RateLimited,
)
from phone_auth.http import ClientInfo
from phone_auth.keys import key_ring
from phone_auth.log import logger
from phone_auth.messages import message
from phone_auth.observability import metrics
from phone_auth.phones import mask_phone
from phone_auth.settings import get_settings
from phone_auth.sms import get_sender
from phone_auth.store import codes
from phone_auth.store.limits import LimitRefusal
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
    phone: str,
    purpose: Purpose,
    *,
    recipient: codes.Recipient,
    language: str,
    client: ClientInfo,
    decoy_if_refused: bool = False,
    lookup: bool = False,
) -> CodeSent:
    """Store a new code and text it: one DynamoDB round trip plus the SMS.

    Refused before any write for a country the market does not text; refused by the guards
    (see guards.py: SMS limits, the phone's lock, and the client's lookups when ``lookup``).
    ``decoy_if_refused``: a phone that is not a valid recipient gets the same answer, limits
    and resend wait (through a decoy record with no code) but no SMS, so the answer does not
    tell whether it has an account. A fixed test number (TEST_PHONE_NUMBERS) gets its fixed
    code and no SMS.
    """
    settings = get_settings()
    guards.check_country(phone)
    now = int(clock.now())
    code = settings.test_codes.get(phone) or crypto.new_code()
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
    limits = guards.for_sending(phone, client, lookup=lookup)
    # Store a code only with time left to text it and, should the SMS fail, to withdraw it.
    aws.ensure_time_for(2 * aws.DYNAMODB.worst_case_seconds() + aws.SNS.worst_case_seconds(), "dynamodb")
    try:
        try:
            codes.issue_code(record, recipient=recipient, resend_cutoff=cutoff, guards=limits)
        except RecipientRefused as refused:
            if not decoy_if_refused:
                if lookup:  # the refusal was rolled back with the rest: count what it tells
                    guards.count_lookup(client, now)
                if refused.user is not None and refused.user.has_password:
                    raise AlreadyRegistered() from None
                raise PhoneNotAllowed() from None
            codes.issue_decoy(record, resend_cutoff=cutoff, guards=limits)
            logger.info("code not sent: no such recipient", extra={"phone": mask_phone(phone), "purpose": purpose})
            return sent
    except LimitRefusal as refusal:
        logger.info("code refused by a limit", extra={"phone": mask_phone(phone), "limit": refusal.name})
        raise guards.refusal_error(refusal, now) from None
    except ResendTooSoon as too_soon:
        metrics.count("Refusals", limit="otp_resend_seconds")
        raise RateLimited(_retry_after(too_soon.state, now), limit="otp_resend_seconds") from None

    if guards.is_test_number(phone):
        logger.info("code not sent: fixed test number", extra={"phone": mask_phone(phone), "purpose": purpose})
        return sent
    text = message("SMS_LOGIN", language).format(code=code, minutes=max(1, settings.otp_ttl_seconds // 60))
    try:
        get_sender().send(phone, text)
    except Exception:
        codes.withdraw_code(record)
        raise
    logger.info("code sent", extra={"phone": mask_phone(phone), "purpose": purpose})
    metrics.count("CodesSent", purpose=purpose)
    return sent


def refuse(
    phone: str, purpose: Purpose, state: StoredCode | None, now: int, client: ClientInfo, *, count: bool = True
) -> NoReturn:
    """Answer a code the store refused, counting it as a wrong guess when it was one.

    A wrong guess counts against the code (OTP_MAX_ATTEMPTS), the client IP's code checks
    and the phone's daily failures (which may lock the phone). A decoy (a reset asked for a
    phone without an account) has no hash: it is refused like a wrong guess, attempts and
    all, so the answers do not tell which phones have accounts.
    """
    settings = get_settings()
    if state is None or state.used:
        raise OtpNotFound()
    if state.attempts >= settings.otp_max_attempts:
        metrics.count("Refusals", limit="otp_max_attempts")
        raise OtpAttemptsExceeded(_retry_after(state, now))
    if state.expires_at <= now:
        raise OtpExpired()
    if not count:
        raise OtpInvalid()
    try:
        attempts = codes.count_wrong_guess(
            phone,
            purpose,
            state,
            max_attempts=settings.otp_max_attempts,
            now=now,
            guards=guards.for_code_check(phone, client),
        )
    except LimitRefusal as refusal:
        raise guards.refusal_error(refusal, now) from None
    except CodeRejected as rejected:
        refuse(phone, purpose, rejected.state, now, client, count=False)
    remaining = settings.otp_max_attempts - attempts
    logger.info("wrong code", extra={"phone": mask_phone(phone), "purpose": purpose, "remaining": remaining})
    metrics.count("WrongCodes", purpose=purpose)
    locked = guards.record_code_failure(phone, now)
    if locked is not None:
        logger.info("phone locked: too many wrong codes", extra={"phone": mask_phone(phone)})
        raise locked
    if remaining <= 0:
        metrics.count("Locks", limit="otp_max_attempts")  # this code is dead
        raise OtpAttemptsExceeded(_retry_after(state, now))
    raise OtpInvalid(details={"attempts_remaining": remaining})


def spend_refused(phone: str, purpose: Purpose, refusal: Exception, now: int, client: ClientInfo) -> NoReturn:
    """Answer a spend the store refused: a guard (lock, limit) or the code itself."""
    if isinstance(refusal, LimitRefusal):
        raise guards.refusal_error(refusal, now) from None
    assert isinstance(refusal, CodeRejected)
    refuse(phone, purpose, refusal.state, now, client)
