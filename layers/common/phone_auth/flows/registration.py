"""Registration of back-office users: check the phone, send a code, verify it, set a password.

verify-registration-otp spends the code and, in the same write, stores the hash of a
short-lived single-use registration token bound to that phone; complete-registration
needs that token, so nobody can set a password for a phone they have not proved.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from phone_auth import clock, codes, crypto, devices, limits, passwords
from phone_auth.callers import ClientInfo
from phone_auth.codes import CodeSent
from phone_auth.errors import AccountDisabled, AlreadyRegistered, PhoneNotAllowed, RegistrationTokenInvalid
from phone_auth.flows import sessions
from phone_auth.flows.sessions import SignedIn
from phone_auth.keys import key_ring
from phone_auth.observability import metrics
from phone_auth.phones import normalize_phone
from phone_auth.settings import get_settings
from phone_auth.signup_policy import signup_policy
from phone_auth.store import codes as code_store
from phone_auth.store import users
from phone_auth.store.limits import LimitRefusal
from phone_auth.store.refusals import (
    CodeRejected,
    DeviceRejected,
    PasswordAlreadySet,
    RegistrationTokenRejected,
    UserDisabled,
    UserMissing,
)


@dataclass(frozen=True)
class RegistrationTokenIssued:
    """A verified registration code's token: single use, for complete-registration."""

    token: str
    expires_in: int


def _phone(raw_phone: str) -> str:
    return normalize_phone(raw_phone, get_settings().default_region)


def _token_hash(phone: str, token: str) -> str:
    return key_ring().hash("registration-token", phone, token)


def _token_hashes(phone: str, token: str) -> list[str]:
    return key_ring().hashes("registration-token", phone, token)


def check_mobile(raw_phone: str, client: ClientInfo) -> bool:
    """May this phone register? The answer tells whether the phone is a user, so it costs the
    client a lookup (LOOKUPS_PER_IP_PER_HOUR): one counter update, then one read."""
    phone = _phone(raw_phone)
    limits.count_lookup(client, int(clock.now()))
    user = users.get_user(phone)
    return signup_policy().can_register(exists=user is not None, has_password=user is not None and user.has_password)


def request_registration_code(
    raw_phone: str, language: str, client: ClientInfo, device_token: str | None = None
) -> CodeSent:
    """Text a registration code. Its refusals (not allowed, already registered) tell whether the
    phone is a user, so every request costs the client a lookup, in the same transaction."""
    phone = _phone(raw_phone)
    return codes.send_code(
        phone,
        "registration",
        recipient=signup_policy().registration_code_recipient,
        language=language,
        client=client,
        lookup=True,
        device=devices.presented(device_token),
    )


def verify_registration_code(
    raw_phone: str, code: str, client: ClientInfo, device_token: str | None = None
) -> RegistrationTokenIssued:
    """Spend the code and issue the registration token (one conditional write). A valid device
    token spends the code its device asked for, under its own limits; one that does not hold is
    ignored (one more round trip, only then)."""
    phone = _phone(raw_phone)
    device = devices.presented(device_token)
    if device is not None:
        with contextlib.suppress(DeviceRejected):
            return _verify_registration_code(phone, code, client, device)
    return _verify_registration_code(phone, code, client, None)


def _verify_registration_code(
    phone: str, code: str, client: ClientInfo, device: devices.PresentedDevice | None
) -> RegistrationTokenIssued:
    settings = get_settings()
    device_id = device.id if device else None
    token = crypto.new_opaque_token()
    now = int(clock.now())
    try:
        code_store.spend_code_and_issue_registration_token(
            phone,
            code_hashes=codes.code_hashes(phone, "registration", code),
            now=now,
            max_attempts=settings.code_max_attempts,
            token_hash=_token_hash(phone, token),
            token_expires_at=now + settings.registration_token_ttl_seconds,
            guards=limits.for_code_check(phone, client, device_id),
            device=device.check(now) if device else None,
            code_slot=code_store.slot("registration", device_id),
        )
    except (LimitRefusal, CodeRejected) as refusal:
        codes.answer_refused_spend(phone, "registration", refusal, now, client, device_id)
    metrics.count("CodesVerified", purpose="registration")
    return RegistrationTokenIssued(token=token, expires_in=settings.registration_token_ttl_seconds)


def complete_registration(raw_phone: str, password: str, registration_token: str, client: ClientInfo) -> SignedIn:
    """Set the first password, sign in and start a session.

    A read of the registration token first: a token that cannot be right is refused before
    any bcrypt work. Then two round trips (see the store operation).
    """
    phone = _phone(raw_phone)
    settings = get_settings()
    passwords.check_policy(password, phone)
    token_hashes = _token_hashes(phone, registration_token)
    stored = code_store.get_registration_token(phone)
    now = clock.now()
    if stored is None or not stored.may_accept(token_hashes, now=int(now)):
        raise RegistrationTokenInvalid()
    password_hash = passwords.hash_password(password, settings.bcrypt_rounds)
    session, refresh_secret = sessions.new_session("registration", client)
    device_use, device_token = devices.new_device()
    try:
        sign_in = code_store.set_first_password(
            phone,
            token_hashes=token_hashes,
            password_hash=password_hash,
            now=int(now),
            now_iso=clock.iso(now),
            create_user=signup_policy().sign_in_creates_users,
            session=session,
            device=device_use,
        )
    except RegistrationTokenRejected:
        raise RegistrationTokenInvalid() from None
    except UserMissing:
        raise PhoneNotAllowed() from None
    except UserDisabled:
        raise AccountDisabled() from None
    except PasswordAlreadySet:
        raise AlreadyRegistered() from None
    return sessions.signed_in(sign_in, refresh_secret=refresh_secret, method="registration", device_token=device_token)
