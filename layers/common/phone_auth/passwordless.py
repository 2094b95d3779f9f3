"""Seed 000: passwordless login by SMS code. The first verified login creates the user."""

from __future__ import annotations

import uuid

from phone_auth import clock, otp, repository
from phone_auth.errors import OtpLoginDisabled, PhoneNotAllowed
from phone_auth.messages import message
from phone_auth.models import AuthSuccessResponse, SendCodeResponse
from phone_auth.phones import normalize_phone
from phone_auth.settings import get_settings
from phone_auth.signin import signed_in


def _enabled_phone(raw_phone: str) -> str:
    settings = get_settings()
    if not settings.otp_login_enabled:
        raise OtpLoginDisabled()
    return normalize_phone(raw_phone, settings.default_region)


def send_login_code(raw_phone: str, language: str) -> SendCodeResponse:
    phone = _enabled_phone(raw_phone)
    requirement: repository.UserRequirement = "exists" if get_settings().signup_mode == "imported" else "any"
    sent = otp.send_code(phone, "login", language=language, user_requirement=requirement)
    return SendCodeResponse(
        message=message("CODE_SENT", language), expires_in=sent.expires_in, resend_after=sent.resend_after
    )


def verify_login_code(raw_phone: str, code: str) -> AuthSuccessResponse:
    """Two DynamoDB round trips: one transaction (use the code + record the sign-in,
    creating the user if absent) and one consistent read of the user."""
    phone = _enabled_phone(raw_phone)
    proposed_id = str(uuid.uuid4())
    sign_in = repository.login_update(
        phone,
        now_iso=clock.iso(clock.now()),
        proposed_user_id=proposed_id,
        must_exist=get_settings().signup_mode == "imported",
        verified=True,
    )
    try:
        otp.use_code(phone, "login", code, together_with=[{"Update": sign_in}])
    except otp.CompanionFailed:
        raise PhoneNotAllowed() from None
    item = repository.get_user(phone)
    assert item is not None  # written by the transaction above; users are never deleted here
    return signed_in(item, proposed_id=proposed_id, method="sms_code")
