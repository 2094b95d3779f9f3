"""Password reset by SMS code. A reset ends every session of the user."""

from __future__ import annotations

from phone_auth import clock, otp, passwords
from phone_auth.errors import OtpNotFound
from phone_auth.messages import message
from phone_auth.models import MessageResponse, SendCodeResponse
from phone_auth.phones import normalize_phone
from phone_auth.settings import get_settings
from phone_auth.signup_policy import signup_policy
from phone_auth.store import codes
from phone_auth.store.refusals import CodeRejected, UserMissing


def request_password_reset(raw_phone: str, language: str) -> SendCodeResponse:
    """The same answer whether or not the phone has an account (no SMS when it has none)."""
    phone = normalize_phone(raw_phone, get_settings().default_region)
    sent = otp.send_code(
        phone,
        "password_reset",
        recipient=signup_policy().reset_code_recipient,
        language=language,
        decoy_if_refused=True,
    )
    return SendCodeResponse(
        message=message("RESET_CODE_SENT", language), expires_in=sent.expires_in, resend_after=sent.resend_after
    )


def reset_password(raw_phone: str, code: str, new_password: str, language: str) -> MessageResponse:
    """Spend the code, set the new hash and end every session, in one transaction."""
    settings = get_settings()
    phone = normalize_phone(raw_phone, settings.default_region)
    passwords.check_policy(new_password, phone)
    password_hash = passwords.hash_password(new_password, settings.bcrypt_rounds)
    now = clock.now()
    try:
        codes.spend_code_and_replace_password(
            phone,
            code_hash=otp.code_hash(phone, "password_reset", code),
            now=int(now),
            now_iso=clock.iso(now),
            max_attempts=settings.otp_max_attempts,
            password_hash=password_hash,
        )
    except CodeRejected as rejected:
        otp.refuse(phone, "password_reset", rejected.state, int(now))
    except UserMissing:
        raise OtpNotFound() from None  # the account vanished; say no more than for a bad code
    return MessageResponse(message=message("PASSWORD_RESET", language))
