"""One-time codes: send one (store its hash, then text it), and answer a code that was refused.

A code is 6 digits from `secrets`, stored only as an HMAC bound to phone and purpose (and,
for a code of one account, such as a number change's, to that account: its ``scope``), valid
for OTP_TTL_SECONDS (checked in the write, since DynamoDB TTL deletes late), single use,
dead after OTP_MAX_ATTEMPTS wrong guesses counted atomically, replaced by the next code
sent, and not re-sendable within OTP_RESEND_SECONDS unless it was used. Spending a code
happens in the store operation that also does what the code authorises
(``store.codes.spend_code_and_*``); a refusal comes back here through ``answer_refused_spend``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Literal, NoReturn

from phone_auth import aws, clock, crypto, limits, pacing
from phone_auth.callers import ClientInfo
from phone_auth.devices import PresentedDevice
from phone_auth.errors import (
    AlreadyRegistered,
    AuthError,
    CodeAttemptsExceeded,
    CodeExpired,
    CodeInvalid,
    CodeNotFound,
    PhoneInUse,
    PhoneNotAllowed,
    RateLimited,
)
from phone_auth.keys import key_ring
from phone_auth.messages import message
from phone_auth.observability import logger, metrics
from phone_auth.phones import mask_phone
from phone_auth.settings import get_settings
from phone_auth.sms import get_sender
from phone_auth.store import codes as code_store
from phone_auth.store.limits import LimitRefusal
from phone_auth.store.records import NewCode, StoredCode, UserRecord
from phone_auth.store.refusals import (
    CodeRejected,
    DeviceRejected,
    RecipientRefused,
    ResendTooSoon,
    ReservedForUsers,
)

Purpose = Literal["login", "registration", "password_reset", "phone_change"]
#: The domain a code's keyed hash is made in (stored hashes depend on it: never rename it).
_HASH_DOMAIN = "otp"


@dataclass(frozen=True)
class CodeSent:
    """A code went out (or, to a phone that may not have one, the same answer went back)."""

    purpose: Purpose
    expires_in: int
    resend_after: int


def stored_purpose(purpose: Purpose, scope: str | None = None) -> str:
    """The code's item in the codes table (its range key): ``purpose``, or ``purpose#scope`` for
    a code that belongs to one account (``scope``: its user id)."""
    return purpose if scope is None else f"{purpose}#{scope}"


def code_hash(phone: str, purpose: Purpose, code: str, *, scope: str | None = None) -> str:
    """The hash a new code is stored as (current key): bound to phone, purpose and scope."""
    return key_ring().hash(_HASH_DOMAIN, phone, stored_purpose(purpose, scope), code)


def code_hashes(phone: str, purpose: Purpose, code: str, *, scope: str | None = None) -> list[str]:
    """What a stored code's hash may be if ``code`` is right: one per live key."""
    return key_ring().hashes(_HASH_DOMAIN, phone, stored_purpose(purpose, scope), code)


#: The SMS that carries a code, by purpose (a number change says what the code does).
_SMS_TEXT: dict[str, str] = {"phone_change": "SMS_PHONE_CHANGE"}


def _recipient_refused(recipient: code_store.Recipient, user: UserRecord | None) -> AuthError:
    """What a phone that may not get this code is told (when the answer may tell)."""
    if recipient is code_store.Recipient.NO_ACCOUNT:
        return PhoneInUse()
    if user is not None and user.has_password:
        return AlreadyRegistered()
    return PhoneNotAllowed()


def _retry_after(state: StoredCode | None, now: int) -> int:
    sent_at = state.sent_at if state else now
    return sent_at + get_settings().code_resend_seconds - now


def send_code(
    phone: str,
    purpose: Purpose,
    *,
    recipient: code_store.Recipient,
    language: str,
    client: ClientInfo,
    decoy_if_refused: bool = False,
    lookup: bool = False,
    scope: str | None = None,
    device: PresentedDevice | None = None,
) -> CodeSent:
    """Store a new code and text it: one DynamoDB round trip plus the SMS.

    Refused before any write for a country the market does not text; refused by the limits
    (see limits.py: SMS limits, the phone's lock, and the client's lookups when ``lookup``).
    ``decoy_if_refused``: a phone that is not a valid recipient gets the same answer, limits
    and resend wait (through a decoy record with no code) but no SMS, so the answer does not
    tell whether it has an account. A user the back office disabled is always answered so (a
    decoy, no SMS) where the rule would take them, and as usual where it would not. A fixed
    test number (TEST_PHONE_NUMBERS) gets its fixed code and no SMS. ``scope`` keeps the code
    apart for one account (see ``stored_purpose``).

    ``device``: a presented device credential. Checked in the same transaction; while it holds,
    the code goes to the device's own item under the device's own limits (limits.for_sending)
    (for a disabled user: a decoy there, under those limits). When it does not, the send goes
    on as any untrusted one (one more round trip, only then).
    """
    settings = get_settings()
    limits.check_country(phone)
    since = pacing.started()
    step = f"send_code:{purpose}"
    now = int(clock.now())
    code = settings.test_codes.get(phone) or crypto.new_code()
    record = NewCode(
        phone=phone,
        purpose=stored_purpose(purpose, scope),
        code_id=uuid.uuid4().hex,
        code_hash=code_hash(phone, purpose, code, scope=scope),
        sent_at=now,
        expires_at=now + settings.code_ttl_seconds,
    )
    sent = CodeSent(purpose=purpose, expires_in=settings.code_ttl_seconds, resend_after=settings.code_resend_seconds)
    cutoff = now - settings.code_resend_seconds
    guards = limits.for_sending(phone, client, lookup=lookup)
    # Store a code only with time left to text it and, should the SMS fail, to withdraw it.
    aws.ensure_time_for(2 * aws.DYNAMODB.worst_case_seconds() + aws.SNS.worst_case_seconds(), "dynamodb")
    reserve = limits.stack_reserve(phone)
    if scope is not None and reserve is not None:
        guards, reserve = guards.with_counter(reserve), None  # an account's own code: the whole budget
    try:
        trusted = None if device is None else _issue_trusted(record, device, recipient, cutoff, client, lookup)
        if trusted == "withheld":
            logger.info("code not sent: a disabled user", extra={"phone": mask_phone(phone), "purpose": purpose})
            pacing.settle(step, "decoy", since, time_left=_time_to_wait())
            return sent
        if trusted == "issued" and device is not None:
            record = replace(record, purpose=code_store.slot(record.purpose, device.id))
        else:
            try:
                code_store.issue_code(
                    record,
                    recipient=recipient,
                    resend_cutoff=cutoff,
                    guards=guards,
                    reserve=reserve,
                )
            except ReservedForUsers:
                # Past the unreserved part of the budget: the same answer, limits and resend wait, no SMS.
                code_store.issue_decoy(record, resend_cutoff=cutoff, guards=limits.for_decoy(guards))
                metrics.count("SmsWithheld", purpose=purpose)
                logger.info("code not sent: SMS budget reserved for users", extra={"phone": mask_phone(phone)})
                pacing.settle(step, "decoy", since, time_left=_time_to_wait())
                return sent
            except RecipientRefused as refused:
                disabled = refused.user is not None and refused.user.disabled
                if not decoy_if_refused and not (disabled and code_store.accepts(recipient, refused.user)):
                    if lookup:  # the refusal was rolled back with the rest: count what it tells
                        limits.count_lookup(client, now)
                    raise _recipient_refused(recipient, refused.user) from None
                code_store.issue_decoy(record, resend_cutoff=cutoff, guards=limits.for_decoy(guards))
                why = "a disabled user" if disabled else "no such recipient"
                logger.info(f"code not sent: {why}", extra={"phone": mask_phone(phone), "purpose": purpose})
                pacing.settle(step, "decoy", since, time_left=_time_to_wait())
                return sent
    except LimitRefusal as refusal:
        logger.info("code refused by a limit", extra={"phone": mask_phone(phone), "limit": refusal.name})
        raise limits.refusal_error(refusal, now) from None
    except ResendTooSoon as too_soon:
        metrics.count("Refusals", limit="otp_resend_seconds")
        raise RateLimited(_retry_after(too_soon.state, now), limit="otp_resend_seconds") from None

    if limits.is_test_number(phone):
        logger.info("code not sent: fixed test number", extra={"phone": mask_phone(phone), "purpose": purpose})
        return sent
    text = message(_SMS_TEXT.get(purpose, "SMS_LOGIN"), language)
    text = text.format(code=code, minutes=max(1, settings.code_ttl_seconds // 60))
    try:
        get_sender().send(phone, text)
    except Exception:
        code_store.withdraw_code(record)
        raise
    logger.info("code sent", extra={"phone": mask_phone(phone), "purpose": purpose})
    metrics.count("CodesSent", purpose=purpose)
    pacing.settle(step, "real", since, time_left=_time_to_wait())
    return sent


def _time_to_wait() -> float | None:
    """How long a paced answer may still wait: the invocation's time left, less a DynamoDB call."""
    left = aws.time_left()
    return None if left is None else left - aws.DYNAMODB.worst_case_seconds()


def _issue_trusted(
    record: NewCode,
    device: PresentedDevice,
    recipient: code_store.Recipient,
    cutoff: int,
    client: ClientInfo,
    lookup: bool,
) -> Literal["issued", "withheld"] | None:
    """Store the code in the device's own item under the device's limits, if its credential holds
    (checked in the same transaction): "issued"; for a user the back office disabled, a decoy
    there under the same limits instead: "withheld" (no SMS). None when the credential does not
    hold (nothing was written)."""
    trusted = replace(record, purpose=code_store.slot(record.purpose, device.id))
    guards = limits.for_sending(record.phone, client, lookup=lookup, device=device.id)
    try:
        code_store.issue_code(
            trusted,
            recipient=recipient,
            resend_cutoff=cutoff,
            guards=guards,
            device=device.check(record.sent_at),
        )
    except DeviceRejected:
        return None
    except RecipientRefused:  # a disabled user, on a device its credential holds for
        code_store.issue_decoy(trusted, resend_cutoff=cutoff, guards=limits.for_decoy(guards))
        return "withheld"
    return "issued"


def answer_refused_code(
    phone: str,
    purpose: Purpose,
    state: StoredCode | None,
    now: int,
    client: ClientInfo,
    *,
    count: bool = True,
    scope: str | None = None,
    device: str | None = None,
) -> NoReturn:
    """Answer a code the store refused, counting it as a wrong guess when it was one.

    A wrong guess counts against the code (OTP_MAX_ATTEMPTS), the client IP's code checks
    and the phone's daily failures (which may lock the phone). A decoy (a reset asked for a
    phone without an account) has no hash: it is refused like a wrong guess, attempts and
    all, so the answers do not tell which phones have accounts. A trusted ``device``'s wrong
    guess counts against its own code item and failures instead (limits.record_code_failure).
    """
    settings = get_settings()
    if state is None or state.used:
        raise CodeNotFound()
    if state.attempts >= settings.code_max_attempts:
        metrics.count("Refusals", limit="otp_max_attempts")
        raise CodeAttemptsExceeded(_retry_after(state, now))
    if state.expires_at <= now:
        raise CodeExpired()
    if not count:
        raise CodeInvalid()
    try:
        attempts = code_store.count_wrong_guess(
            phone,
            code_store.slot(stored_purpose(purpose, scope), device),
            state,
            max_attempts=settings.code_max_attempts,
            now=now,
            guards=limits.for_code_check(phone, client, device),
        )
    except LimitRefusal as refusal:
        raise limits.refusal_error(refusal, now) from None
    except CodeRejected as rejected:
        answer_refused_code(phone, purpose, rejected.state, now, client, count=False, scope=scope, device=device)
    remaining = settings.code_max_attempts - attempts
    logger.info("wrong code", extra={"phone": mask_phone(phone), "purpose": purpose, "remaining": remaining})
    metrics.count("WrongCodes", purpose=purpose)
    locked = limits.record_code_failure(phone, now, client, device)
    if locked is not None:
        logger.info("phone locked: too many wrong codes", extra={"phone": mask_phone(phone)})
        raise locked
    if remaining <= 0:
        metrics.count("Locks", limit="otp_max_attempts")  # this code is dead
        raise CodeAttemptsExceeded(_retry_after(state, now))
    raise CodeInvalid(details={"attempts_remaining": remaining})


def answer_refused_spend(
    phone: str,
    purpose: Purpose,
    refusal: LimitRefusal | CodeRejected,
    now: int,
    client: ClientInfo,
    device: str | None = None,
    *,
    scope: str | None = None,
) -> NoReturn:
    """Answer a spend the store refused: a limit (lock, counter) or the code itself."""
    if isinstance(refusal, LimitRefusal):
        raise limits.refusal_error(refusal, now) from None
    answer_refused_code(phone, purpose, refusal.state, now, client, scope=scope, device=device)
