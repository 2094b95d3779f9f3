"""Password reset by SMS code. A reset ends every session of the user."""

from __future__ import annotations

from phone_auth import clock, codes, devices, limits, passwords
from phone_auth.callers import ClientInfo
from phone_auth.codes import CodeSent
from phone_auth.errors import AccountDisabled, CodeNotFound, ServiceUnavailable
from phone_auth.messages import Outcome
from phone_auth.observability import metrics
from phone_auth.phones import normalize_phone
from phone_auth.settings import get_settings
from phone_auth.signup_policy import signup_policy
from phone_auth.store import codes as code_store
from phone_auth.store.limits import LimitRefusal
from phone_auth.store.refusals import CodeRejected, UserChanged, UserDisabled, UserMissing

_RETRIES = 3


def request_password_reset(
    raw_phone: str, language: str, client: ClientInfo, device_token: str | None = None
) -> CodeSent:
    """The same answer whether or not the phone has an account (no SMS when it has none)."""
    phone = normalize_phone(raw_phone, get_settings().default_region)
    return codes.send_code(
        phone,
        "password_reset",
        recipient=signup_policy().reset_code_recipient,
        language=language,
        client=client,
        decoy_if_refused=True,
        device=devices.presented(device_token),
    )


def reset_password(
    raw_phone: str, code: str, new_password: str, client: ClientInfo, device_token: str | None = None
) -> Outcome:
    """Spend the code, set the new hash and end every session.

    One read (the code and the user) first: a code that cannot be right is refused (and
    counted as a wrong guess) before any bcrypt work. Then one transaction. A device token
    valid for the user as read spends the code its device asked for, under its own limits.
    """
    settings = get_settings()
    phone = normalize_phone(raw_phone, settings.default_region)
    passwords.check_policy(new_password, phone)
    code_hashes = codes.code_hashes(phone, "password_reset", code)
    password_hash: str | None = None
    presented = devices.presented(device_token)
    slots = ["password_reset"] + ([code_store.slot("password_reset", presented.id)] if presented else [])
    for _ in range(_RETRIES):
        now = int(clock.now())
        stored_codes, user = code_store.get_codes_and_user(phone, slots)
        device_id = presented.id if presented is not None and presented.is_valid_for(user, now) else None
        code_slot = code_store.slot("password_reset", device_id)
        stored = stored_codes[code_slot]
        if (
            stored is None
            or user is None
            or not stored.may_accept(code_hashes, now=now, max_attempts=settings.code_max_attempts)
        ):
            codes.answer_refused_code(phone, "password_reset", stored, now, client, device=device_id)
        # A user the back office disabled is refused by the transaction below (UserDisabled), after
        # its guards: a locked client learns nothing, even from the right code.
        password_hash = password_hash or passwords.hash_password(new_password, settings.bcrypt_rounds)
        try:
            code_store.spend_code_and_replace_password(
                user,
                code_hashes=code_hashes,
                now=now,
                now_iso=clock.iso(now),
                max_attempts=settings.code_max_attempts,
                password_hash=password_hash,
                guards=limits.for_password_reset(phone, client, now, device_id),
                code_slot=code_slot,
            )
        except (LimitRefusal, CodeRejected) as refusal:
            codes.answer_refused_spend(phone, "password_reset", refusal, now, client, device_id)
        except UserMissing:
            raise CodeNotFound() from None  # the account vanished; say no more than for a bad code
        except UserDisabled:
            raise AccountDisabled() from None
        except UserChanged:
            continue  # the user signed in meanwhile: read the sessions to end again
        metrics.count("CodesVerified", purpose="password_reset")
        return "PASSWORD_RESET"
    raise ServiceUnavailable(details={"dependency": "dynamodb"})
