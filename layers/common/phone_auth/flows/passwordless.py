"""Passwordless login by SMS code: send a code, then verify it to sign in.

The first verified sign-in of a phone creates the user (in open sign-up), exactly once
whatever the concurrency, and returns `is_new_user: true`.
"""

from __future__ import annotations

import contextlib

from phone_auth import clock, codes, devices, limits
from phone_auth.callers import ClientInfo
from phone_auth.codes import CodeSent
from phone_auth.errors import AccountDisabled, PhoneNotAllowed
from phone_auth.flows import sessions
from phone_auth.flows.sessions import SignedIn
from phone_auth.observability import metrics
from phone_auth.phones import normalize_phone
from phone_auth.settings import get_settings
from phone_auth.signup_policy import signup_policy
from phone_auth.store import codes as code_store
from phone_auth.store.limits import LimitRefusal
from phone_auth.store.refusals import CodeRejected, DeviceRejected, UserDisabled, UserMissing


def send_login_code(raw_phone: str, language: str, client: ClientInfo, device_token: str | None = None) -> CodeSent:
    """Text a login code. With imported users only, a phone the back office did not import
    gets the same answer but no SMS, so the answer does not tell which phones are users."""
    policy = signup_policy()
    policy.require_passwordless_login()
    phone = normalize_phone(raw_phone, get_settings().default_region)
    return codes.send_code(
        phone,
        "login",
        recipient=policy.login_code_recipient,
        language=language,
        client=client,
        decoy_if_refused=True,
        device=devices.presented(device_token),
    )


def verify_login_code(raw_phone: str, code: str, client: ClientInfo, device_token: str | None = None) -> SignedIn:
    """Spend the code, sign in and start a session (two DynamoDB round trips, see the store
    operation). A valid device token spends the code its device asked for, under its own
    limits; one that does not hold is ignored (one more round trip, only then)."""
    policy = signup_policy()
    policy.require_passwordless_login()
    phone = normalize_phone(raw_phone, get_settings().default_region)
    device = devices.presented(device_token)
    if device is not None:
        with contextlib.suppress(DeviceRejected):
            return _verify(phone, code, client, device)
    return _verify(phone, code, client, None)


def _verify(phone: str, code: str, client: ClientInfo, device: devices.PresentedDevice | None) -> SignedIn:
    policy, settings = signup_policy(), get_settings()
    now = clock.now()
    session, refresh_secret = sessions.new_session("sms_code", client)
    device_use, device_token = devices.for_sign_in(device, now)
    device_id = device.id if device else None
    try:
        sign_in = code_store.spend_code_and_sign_in(
            phone,
            code_hashes=codes.code_hashes(phone, "login", code),
            now=int(now),
            now_iso=clock.iso(now),
            max_attempts=settings.code_max_attempts,
            create_user=policy.sign_in_creates_users and device is None,
            session=session,
            guards=limits.for_code_check(phone, client, device_id),
            device=device_use,
            code_slot=code_store.slot("login", device_id),
        )
    except (LimitRefusal, CodeRejected) as refusal:
        codes.answer_refused_spend(phone, "login", refusal, int(now), client, device_id)
    except UserMissing:
        raise PhoneNotAllowed() from None
    except UserDisabled:  # the code was right: now the answer may say so
        raise AccountDisabled() from None
    metrics.count("CodesVerified", purpose="login")
    return sessions.signed_in(sign_in, refresh_secret=refresh_secret, method="sms_code", device_token=device_token)
