"""The account's own life: delete it, or move it to another number.

Both need a recent sign-in: the calling session must have signed in (by code, password or
registration, not by a refresh) at most REAUTH_MAX_AGE_SECONDS ago, else
REAUTHENTICATION_REQUIRED, as Firebase's ``requires-recent-login`` does. A stolen refresh
token alone can then neither erase the account nor take it to another SIM.

- Deleting erases the user item with every session and every item of its phone in the codes
  table (``erase_user``, the one code path for this and the back office's erasure). Rate-limit
  counters and locks stay until their TTL.
- Changing the number texts a code to the new number (``purpose`` phone_change, kept and hashed
  per account, so it binds to this account and purpose only), then spends it and moves the
  account in one transaction: id, profile, password and ``created_at`` kept, the old number
  freed, every other session ended. The answer is a fresh sign-in on this device; the old
  number gets a security notice by SMS.
"""

from __future__ import annotations

from phone_auth import aws, clock, codes, devices, limits
from phone_auth.callers import Caller, ClientInfo
from phone_auth.codes import CodeSent
from phone_auth.errors import (
    PhoneInUse,
    PhoneUnchanged,
    ReauthenticationRequired,
    ServiceUnavailable,
    TokenRevoked,
    UserNotFound,
)
from phone_auth.flows import sessions
from phone_auth.flows.sessions import SignedIn
from phone_auth.messages import Outcome, message
from phone_auth.observability import logger, metrics
from phone_auth.phones import mask_phone, normalize_phone
from phone_auth.settings import get_settings
from phone_auth.signup_policy import signup_policy
from phone_auth.sms import get_sender
from phone_auth.store import accounts, users
from phone_auth.store import codes as code_store
from phone_auth.store.limits import LimitRefusal
from phone_auth.store.records import SignIn
from phone_auth.store.refusals import CodeRejected, PhoneTaken, UserChanged, UserDisabled, UserMissing

_RETRIES = 3


def require_recent_sign_in(caller: Caller) -> None:
    """REAUTHENTICATION_REQUIRED unless the caller's session signed in within REAUTH_MAX_AGE_SECONDS."""
    if not caller.signed_in_within(get_settings().reauth_max_age_seconds, clock.now()):
        raise ReauthenticationRequired()


# ---------------------------------------------------------------- deleting
def erase_user(phone: str, user_id: str, *, session_epoch: int | None = None) -> None:
    """Erase the user ``user_id`` whose number is ``phone`` (E.164): the user item with every
    session, and every item of the phone in the codes table; rate-limit items stay.

    With ``session_epoch`` (the caller's token has it) a Query and one transaction, which holds
    only while the user is still at that epoch; without (an operator's erasure), one read
    first to learn it. UserNotFound when there is no such user at ``phone`` (or it changed
    under an operator's erasure three times running).
    """
    for _ in range(_RETRIES if session_epoch is None else 1):
        epoch = session_epoch
        if epoch is None:
            user = users.get_user(phone)
            if user is None or user.id != user_id:
                raise UserNotFound()
            epoch = user.session_epoch
        now = clock.now()
        try:
            accounts.erase_user(phone, user_id, session_epoch=epoch, now=int(now), now_iso=clock.iso(now))
        except UserMissing:
            continue
        logger.info("account deleted", extra={"user_id": user_id})
        metrics.count("AccountsDeleted")
        return
    raise UserNotFound()


def delete_account(caller: Caller) -> Outcome:
    """DELETE /auth/me: erase the caller's account; every token of it is refused from now on.

    A caller whose account went meanwhile (another delete won, or a logout everywhere moved
    the epoch on) gets the 401 a revoked token gets. In imported-users mode the answer says
    that the number can register again only once the back office imports it again.
    """
    require_recent_sign_in(caller)
    try:
        erase_user(caller.phone, caller.user_id, session_epoch=caller.session_epoch)
    except UserNotFound:
        raise TokenRevoked() from None
    return "ACCOUNT_DELETED" if signup_policy().open_signup else "ACCOUNT_DELETED_IMPORTED"


# ---------------------------------------------------------------- changing the number
def _new_phone(caller: Caller, raw_phone: str) -> str:
    phone = normalize_phone(raw_phone, get_settings().default_region)
    if phone == caller.phone:
        raise PhoneUnchanged()
    return phone


def request_phone_change(caller: Caller, raw_new_phone: str, language: str, client: ClientInfo) -> CodeSent:
    """Text a phone_change code to the new number: one transaction plus the SMS.

    The country allowlist and every sending limit apply to the new number. A number that has
    an account is refused with PHONE_IN_USE by a condition in that same transaction; the
    answer tells that the number is a user, so every request costs the client a lookup.
    """
    require_recent_sign_in(caller)
    new_phone = _new_phone(caller, raw_new_phone)
    return codes.send_code(
        new_phone,
        "phone_change",
        recipient=code_store.Recipient.NO_ACCOUNT,
        language=language,
        client=client,
        lookup=True,
        scope=caller.user_id,
    )


def verify_phone_change(caller: Caller, raw_new_phone: str, code: str, client: ClientInfo, language: str) -> SignedIn:
    """Spend the phone_change code and move the account to the new number; a fresh sign-in.

    One read of the user, then one transaction (the code, the new item, the old one's delete,
    the code-check guards), read again should a sign-in have raced it; then the SMS notice to
    the old number, whose failure is logged and counted but never fails the change.
    """
    require_recent_sign_in(caller)
    settings = get_settings()
    new_phone = _new_phone(caller, raw_new_phone)
    scope = caller.user_id
    code_hashes = codes.code_hashes(new_phone, "phone_change", code, scope=scope)
    session, refresh_secret = sessions.new_session("phone_change", client)
    device_use, device_token = devices.new_device()
    for _ in range(_RETRIES):
        now = clock.now()
        stored = users.get_stored_user(caller.phone)
        if stored is None or stored.user.id != caller.user_id or stored.user.session_epoch != caller.session_epoch:
            raise TokenRevoked()
        try:
            moved = code_store.spend_code_and_move_user(
                stored,
                new_phone,
                purpose=codes.stored_purpose("phone_change", scope),
                code_hashes=code_hashes,
                now=int(now),
                now_iso=clock.iso(now),
                max_attempts=settings.code_max_attempts,
                session=session,
                guards=limits.for_code_check(new_phone, client),
                device=device_use.new,
            )
        except (LimitRefusal, CodeRejected) as refusal:
            codes.answer_refused_spend(new_phone, "phone_change", refusal, int(now), client, scope=scope)
        except PhoneTaken:
            raise PhoneInUse() from None
        except (UserMissing, UserDisabled):
            raise TokenRevoked() from None
        except UserChanged:
            continue  # a sign-in, logout or reset since the read: read again
        break
    else:
        raise ServiceUnavailable(details={"dependency": "dynamodb"})
    metrics.count("CodesVerified", purpose="phone_change")
    metrics.count("PhoneChanges")
    logger.info(
        "phone changed",
        extra={"user_id": caller.user_id, "phone": mask_phone(new_phone), "previous": mask_phone(caller.phone)},
    )
    signed_in = sessions.signed_in(
        SignIn(user=moved, is_new_user=False, session=session),
        refresh_secret=refresh_secret,
        method="phone_change",
        device_token=device_token,
    )
    _notify_old_number(caller.phone, language)
    return signed_in


def _notify_old_number(old_phone: str, language: str) -> None:
    """Tell the old number that the account has left it (a security notice, no code). A
    failure is logged and counted (NoticeFailures), never an error: the change is done."""
    if limits.is_test_number(old_phone):
        return  # fixed test numbers are never texted
    try:
        aws.ensure_time_for(aws.SNS.worst_case_seconds(), "sms")
        get_sender().send(old_phone, message("SMS_PHONE_CHANGED", language))
    except Exception as exc:
        logger.warning(
            "phone change notice not sent", extra={"phone": mask_phone(old_phone), "reason": type(exc).__name__}
        )
        metrics.count("NoticeFailures")
        return
    logger.info("phone change notice sent", extra={"phone": mask_phone(old_phone)})
