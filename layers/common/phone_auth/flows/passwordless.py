"""Passwordless login by SMS code: send a code, then verify it to sign in.

The first verified sign-in of a phone creates the user (in open sign-up), exactly once
whatever the concurrency, and returns `is_new_user: true`.
"""

from __future__ import annotations

from phone_auth import clock, codes, limits
from phone_auth.callers import ClientInfo
from phone_auth.codes import CodeSent
from phone_auth.errors import PhoneNotAllowed
from phone_auth.flows import sessions
from phone_auth.flows.sessions import SignedIn
from phone_auth.observability import metrics
from phone_auth.phones import normalize_phone
from phone_auth.settings import get_settings
from phone_auth.signup_policy import signup_policy
from phone_auth.store import codes as code_store
from phone_auth.store.limits import LimitRefusal
from phone_auth.store.refusals import CodeRejected, UserMissing


def send_login_code(raw_phone: str, language: str, client: ClientInfo) -> CodeSent:
    """Text a login code. With imported users only, a phone the back office did not import
    gets the same answer but no SMS, so the answer does not tell which phones are users."""
    policy = signup_policy()
    policy.require_passwordless_login()
    phone = normalize_phone(raw_phone, get_settings().default_region)
    return codes.send_code(
        phone, "login", recipient=policy.login_code_recipient, language=language, client=client, decoy_if_refused=True
    )


def verify_login_code(raw_phone: str, code: str, client: ClientInfo) -> SignedIn:
    """Spend the code, sign in and start a session (two DynamoDB round trips, see the store
    operation)."""
    policy = signup_policy()
    policy.require_passwordless_login()
    settings = get_settings()
    phone = normalize_phone(raw_phone, settings.default_region)
    now = clock.now()
    session, refresh_secret = sessions.new_session("sms_code", client)
    try:
        sign_in = code_store.spend_code_and_sign_in(
            phone,
            code_hashes=codes.code_hashes(phone, "login", code),
            now=int(now),
            now_iso=clock.iso(now),
            max_attempts=settings.code_max_attempts,
            create_user=policy.sign_in_creates_users,
            session=session,
            guards=limits.for_code_check(phone, client),
        )
    except (LimitRefusal, CodeRejected) as refusal:
        codes.answer_refused_spend(phone, "login", refusal, int(now), client)
    except UserMissing:
        raise PhoneNotAllowed() from None
    metrics.count("CodesVerified", purpose="login")
    return sessions.signed_in(sign_in, refresh_secret=refresh_secret, method="sms_code")
