"""One-time codes: send (one conditional write + SMS) and use (one conditional write or
one transaction with the change the code authorises).

A code is 6 digits from `secrets`, stored only as an HMAC bound to phone and purpose, valid
for OTP_TTL_SECONDS (checked here, since DynamoDB TTL deletes late), single use, dead after
OTP_MAX_ATTEMPTS wrong guesses counted atomically, replaced by the next code sent, and not
re-sendable within OTP_RESEND_SECONDS unless it was used.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

from phone_auth import clock, codes, repository
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

Purpose = Literal["login", "registration", "password_reset"]


@dataclass(frozen=True)
class CodeSent:
    expires_in: int
    resend_after: int


def code_hash(phone: str, purpose: str, code: str) -> str:
    return codes.keyed_hash(key_ring().otp_hash_key, "otp", phone, purpose, code)


def _retry_after(item: dict[str, Any] | None, now: int) -> int:
    sent_at = int((item or {}).get("sent_at", now))
    return sent_at + get_settings().otp_resend_seconds - now


def send_code(
    phone: str,
    purpose: Purpose,
    *,
    language: str,
    user_requirement: repository.UserRequirement,
    silent_if_unknown: bool = False,
) -> CodeSent:
    """Store a new code and text it. One DynamoDB round trip (a transaction when the user
    must meet a condition) plus the SMS.

    `silent_if_unknown`: for password reset, a phone without an account gets the same
    answer (and the same resend limit, through a decoy record with no code) but no SMS.
    """
    settings = get_settings()
    now = int(clock.now())
    code = codes.new_code()
    record = repository.NewCode(
        phone=phone,
        purpose=purpose,
        code_id=uuid.uuid4().hex,
        code_hash=code_hash(phone, purpose, code),
        sent_at=now,
        expires_at=now + settings.otp_ttl_seconds,
    )
    cutoff = now - settings.otp_resend_seconds
    put = repository.code_put(record, resend_cutoff=cutoff)
    user_check = repository.user_condition_check(phone, user_requirement)
    try:
        if user_check is None:
            repository.put_code(put)
        else:
            repository.transact([user_check, {"Put": put}])
    except repository.ConditionFailed as failed:
        raise RateLimited(_retry_after(failed.item, now)) from None
    except repository.TransactionCancelled as cancelled:
        (_, user_item), (code_reason, code_item) = cancelled.reasons
        if code_reason:
            raise RateLimited(_retry_after(code_item, now)) from None
        if silent_if_unknown:
            decoy = repository.NewCode(
                phone=phone,
                purpose=purpose,
                code_id=record.code_id,
                code_hash=None,
                sent_at=now,
                expires_at=record.expires_at,
            )
            try:
                repository.put_code(repository.code_put(decoy, resend_cutoff=cutoff))
            except repository.ConditionFailed as failed:
                raise RateLimited(_retry_after(failed.item, now)) from None
            logger.info("code not sent: no account", extra={"phone": mask_phone(phone), "purpose": purpose})
            return CodeSent(expires_in=settings.otp_ttl_seconds, resend_after=settings.otp_resend_seconds)
        if user_item is not None and "password_hash" in user_item:
            raise AlreadyRegistered() from None
        raise PhoneNotAllowed() from None

    text = message("SMS_LOGIN", language).format(code=code, minutes=max(1, settings.otp_ttl_seconds // 60))
    try:
        get_sender().send(phone, text)
    except Exception:
        repository.delete_code(phone, purpose, code_id=record.code_id)
        raise
    logger.info("code sent", extra={"phone": mask_phone(phone), "purpose": purpose})
    return CodeSent(expires_in=settings.otp_ttl_seconds, resend_after=settings.otp_resend_seconds)


class CompanionFailed(Exception):
    """The code was right but an operation in its transaction did not hold."""

    def __init__(self, index: int, item: dict[str, Any] | None) -> None:
        super().__init__(f"operation {index} failed")
        self.index = index
        self.item = item


def use_code(
    phone: str,
    purpose: Purpose,
    code: str,
    *,
    extra_set: dict[str, Any] | None = None,
    together_with: list[dict[str, Any]] | None = None,
) -> None:
    """Spend a code, atomically with `together_with` (transaction operations), or refuse.

    The write holds only if the hash matches and the code is unused, unexpired and has
    attempts left. If it fails, the old item says why; a wrong guess is then counted by a
    second conditional write against that very code.
    """
    settings = get_settings()
    now = int(clock.now())
    consume = repository.code_consume(
        phone,
        purpose,
        code_hash=code_hash(phone, purpose, code),
        now=now,
        max_attempts=settings.otp_max_attempts,
        extra_set=extra_set,
    )
    try:
        if together_with:
            repository.transact([{"Update": consume}, *together_with])
        else:
            repository.run_update(consume)
        return
    except repository.ConditionFailed as failed:
        _refuse(phone, purpose, failed.item, now)
    except repository.TransactionCancelled as cancelled:
        reason, item = cancelled.reasons[0]
        if reason:
            _refuse(phone, purpose, item, now)
        for index, (other_reason, other_item) in enumerate(cancelled.reasons[1:], start=1):
            if other_reason:
                raise CompanionFailed(index, other_item) from None
        raise


def _refuse(phone: str, purpose: str, item: dict[str, Any] | None, now: int, *, count: bool = True) -> NoReturn:
    settings = get_settings()
    # A decoy (reset asked for a phone without an account) has no hash: it is refused like
    # a wrong guess, attempts and all, so the answers do not tell which phones have accounts.
    if item is None or "used_at" in item:
        raise OtpNotFound()
    if int(item.get("attempts", 0)) >= settings.otp_max_attempts:
        raise OtpAttemptsExceeded(_retry_after(item, now))
    if int(item["expires_at"]) <= now:
        raise OtpExpired()
    if not count:
        raise OtpInvalid()
    try:
        attempts = repository.count_wrong_attempt(
            phone, purpose, code_id=item["code_id"], max_attempts=settings.otp_max_attempts, now=now
        )
    except repository.ConditionFailed as failed:
        _refuse(phone, purpose, failed.item, now, count=False)
    remaining = settings.otp_max_attempts - attempts
    logger.info("wrong code", extra={"phone": mask_phone(phone), "purpose": purpose, "remaining": remaining})
    if remaining <= 0:
        raise OtpAttemptsExceeded(_retry_after(item, now))
    raise OtpInvalid(details={"attempts_remaining": remaining})
