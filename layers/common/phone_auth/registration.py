"""Seed 004: registration of back-office users (check -> code -> verify -> set password).

verify-registration-otp spends the code and, in the same write, stores the hash of a
short-lived single-use registration token bound to that phone; complete-registration is
refused without it (seed 004 let anyone set an imported user's password).
"""

from __future__ import annotations

import uuid

from phone_auth import clock, codes, otp, passwords, repository
from phone_auth.errors import AlreadyRegistered, PhoneNotAllowed, RegistrationTokenInvalid
from phone_auth.keys import key_ring
from phone_auth.messages import message
from phone_auth.models import (
    AuthSuccessResponse,
    CheckMobileResponse,
    RegistrationTokenResponse,
    SendCodeResponse,
)
from phone_auth.phones import normalize_phone
from phone_auth.settings import get_settings
from phone_auth.signin import signed_in


def _phone(raw_phone: str) -> str:
    return normalize_phone(raw_phone, get_settings().default_region)


def _token_hash(phone: str, token: str) -> str:
    return codes.keyed_hash(key_ring().otp_hash_key, "registration-token", phone, token)


def check_mobile(raw_phone: str, language: str) -> CheckMobileResponse:
    phone = _phone(raw_phone)
    item = repository.get_user(phone)
    # Open mode: a new phone registers too. Imported mode: only the back office's phones.
    can_register = get_settings().signup_mode == "open" if item is None else "password_hash" not in item
    return CheckMobileResponse(
        can_register=can_register, message=message("CAN_REGISTER" if can_register else "CANNOT_REGISTER", language)
    )


def request_registration_code(raw_phone: str, language: str) -> SendCodeResponse:
    phone = _phone(raw_phone)
    sent = otp.send_code(phone, "registration", language=language, user_requirement="can_register")
    return SendCodeResponse(
        message=message("CODE_SENT", language), expires_in=sent.expires_in, resend_after=sent.resend_after
    )


def verify_registration_code(raw_phone: str, code: str, language: str) -> RegistrationTokenResponse:
    phone = _phone(raw_phone)
    settings = get_settings()
    token = codes.new_opaque_token()
    otp.use_code(
        phone,
        "registration",
        code,
        extra_set={
            "registration_token_hash": _token_hash(phone, token),
            "registration_token_expires_at": int(clock.now()) + settings.registration_token_ttl_seconds,
        },
    )
    return RegistrationTokenResponse(
        message=message("OTP_VERIFIED", language),
        registration_token=token,
        expires_in=settings.registration_token_ttl_seconds,
    )


def complete_registration(raw_phone: str, password: str, registration_token: str) -> AuthSuccessResponse:
    """Set the first password and sign in: one transaction (spend the registration token +
    set the password only if none is set) and one read."""
    phone = _phone(raw_phone)
    settings = get_settings()
    passwords.check_policy(password, phone)
    password_hash = passwords.hash_password(password, settings.bcrypt_rounds)
    now = clock.now()
    proposed_id = str(uuid.uuid4())
    set_password = repository.login_update(
        phone,
        now_iso=clock.iso(now),
        proposed_user_id=proposed_id,
        must_exist=settings.signup_mode == "imported",
        verified=True,
        extra_set={"password_hash": password_hash, "password_changed_at": clock.iso(now)},
        condition="attribute_not_exists(password_hash)",
    )
    spend_token = repository.registration_token_use(
        phone, token_hash=_token_hash(phone, registration_token), now=int(now)
    )
    try:
        repository.transact([{"Update": spend_token}, {"Update": set_password}])
    except repository.TransactionCancelled as cancelled:
        (token_reason, _), (_, user_item) = cancelled.reasons
        if token_reason:
            raise RegistrationTokenInvalid() from None
        if user_item is None:
            raise PhoneNotAllowed() from None
        raise AlreadyRegistered() from None
    item = repository.get_user(phone)
    assert item is not None
    return signed_in(item, proposed_id=proposed_id, method="registration")
