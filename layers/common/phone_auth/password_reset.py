"""Seed 004: password reset by SMS code. Every earlier token of the user is revoked."""

from __future__ import annotations

from phone_auth import clock, otp, passwords, repository
from phone_auth.errors import OtpNotFound
from phone_auth.messages import message
from phone_auth.models import MessageResponse, SendCodeResponse
from phone_auth.phones import normalize_phone
from phone_auth.settings import get_settings


def request_password_reset(raw_phone: str, language: str) -> SendCodeResponse:
    """The same answer whether or not the phone has an account (no SMS when it has none)."""
    phone = normalize_phone(raw_phone, get_settings().default_region)
    sent = otp.send_code(phone, "password_reset", language=language, user_requirement="exists", silent_if_unknown=True)
    return SendCodeResponse(
        message=message("RESET_CODE_SENT", language), expires_in=sent.expires_in, resend_after=sent.resend_after
    )


def reset_password(raw_phone: str, code: str, new_password: str, language: str) -> MessageResponse:
    """One transaction: spend the code, set the new hash, end every session (epoch bump)."""
    settings = get_settings()
    phone = normalize_phone(raw_phone, settings.default_region)
    passwords.check_policy(new_password, phone)
    password_hash = passwords.hash_password(new_password, settings.bcrypt_rounds)
    now_iso = clock.iso(clock.now())
    set_password = repository.password_reset_update(phone, password_hash=password_hash, now_iso=now_iso)
    try:
        otp.use_code(phone, "password_reset", code, together_with=[{"Update": set_password}])
    except otp.CompanionFailed:
        raise OtpNotFound() from None  # the account vanished; say no more than for a bad code
    return MessageResponse(message=message("PASSWORD_RESET", language))
