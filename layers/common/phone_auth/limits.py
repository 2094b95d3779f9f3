"""Abuse and cost limits: which counters and locks guard each step, and what a refusal says.

Every limit is a setting (0 switches it off) and a fixed-window counter or a lock in the
limits table (see store/limits.py), raised or checked in the write the step makes anyway.
Per-phone counters and locks work the same for phones with and without an account, so a
limit never tells whether a phone is known. A client is counted by its address as
``ClientInfo.address_key`` keys it (IPv4 /32, IPv6 /64): API Gateway's sourceIp, never a header the
client sends unless a trusted proxy vouches for it (phone_auth.callers.client_address).

- Sending a code: the phone's hourly and daily SMS, the client IP's hourly SMS, the number
  prefix's hourly SMS (the number without its last 3 digits: sequential-number pumping), the
  stack's hourly SMS budget, and the phone's code lock. The stack's budget counts real SMS only
  (a decoy texts nothing and does not count), and its last SMS_BUDGET_RESERVED_PERCENT are kept
  for phones with an account: past the rest, another phone gets the same answer and no SMS.
- Checking a code (any purpose): the client IP's hourly code checks and the phone's code
  lock. A wrong code also counts against the phone's daily failures, shared by every
  purpose; past OTP_FAILURES_PER_PHONE the phone is locked 15 min, doubling with each
  further wrong code, up to 24 h.
- Password login: the phone's password lock and the client IP's hourly failures are read
  first (a locked phone is refused before bcrypt, even with the right password); a wrong
  password counts against both, and past PASSWORD_FAILURES_PER_PHONE a day the phone's
  password login is locked 1 min, doubling, up to 1 h.
- Answers that tell whether a phone has an account (check-mobile, registration codes, a
  login without a password yet) count against the client IP's hourly lookups.
"""

from __future__ import annotations

import contextlib

from phone_auth.callers import ClientInfo
from phone_auth.errors import AuthError, CountryNotAllowed, LoginLocked, PhoneLocked, RateLimited, SmsBudgetExhausted
from phone_auth.observability import metrics
from phone_auth.phones import region_of
from phone_auth.settings import get_settings
from phone_auth.store.limits import DAY, HOUR, Counter, Guards, LimitRefusal, Lock, count, lock_until

CODE_LOCK_BASE, CODE_LOCK_MAX = 15 * 60, DAY
PASSWORD_LOCK_BASE, PASSWORD_LOCK_MAX = 60, HOUR


def _ip(client: ClientInfo) -> str:
    return client.address_key


def _counters(*candidates: tuple[str, str, int, int]) -> tuple[Counter, ...]:
    return tuple(Counter(name, subject, limit, window) for name, subject, limit, window in candidates if limit > 0)


def code_lock(phone: str) -> Lock:
    """The phone's lock after too many wrong codes (its item id and name, ``otp_lock``, are stored
    and shown as ``details.limit``: never rename them)."""
    return Lock("otp_lock", phone)


def password_lock(phone: str) -> Lock:
    return Lock("password_lock", phone)


def is_test_number(phone: str) -> bool:
    return phone in get_settings().test_codes


def check_country(phone: str) -> None:
    """Refuse a number of a country this market does not text, before any write or SMS."""
    allowed = get_settings().allowed_country_codes
    if allowed is not None and region_of(phone) not in allowed:
        raise CountryNotAllowed()


def for_sending(phone: str, client: ClientInfo, *, lookup: bool = False) -> Guards:
    """The limits of a step that texts a code (``lookup``: its answer tells if the phone is known)."""
    settings = get_settings()
    unreserved = settings.sms_per_stack_per_hour - _reserved(settings.sms_per_stack_per_hour)
    sms = (
        ()
        if is_test_number(phone)
        else (
            ("sms_per_phone_per_hour", phone, settings.sms_per_phone_per_hour, HOUR),
            ("sms_per_phone_per_day", phone, settings.sms_per_phone_per_day, DAY),
            ("sms_per_ip_per_hour", _ip(client), settings.sms_per_ip_per_hour, HOUR),
            ("sms_per_prefix_per_hour", phone[:-3], settings.sms_per_prefix_per_hour, HOUR),
            # bounded by the unreserved part: the rest is for phones with an account (stack_reserve)
            (STACK_BUDGET, "stack", unreserved, HOUR),
        )
    )
    lookups = (("lookups_per_ip_per_hour", _ip(client), settings.lookups_per_ip_per_hour, HOUR),) if lookup else ()
    return Guards(counters=_counters(*sms, *lookups), locks=(code_lock(phone),))


STACK_BUDGET = "sms_per_stack_per_hour"


def _reserved(budget: int) -> int:
    return budget * get_settings().sms_budget_reserved_percent // 100


def stack_reserve(phone: str) -> Counter | None:
    """The stack's budget counter with the whole budget as its bound, when part of it is reserved
    for phones with an account (SMS_BUDGET_RESERVED_PERCENT): ``for_sending`` bounds it by the
    unreserved part, and only a send to an existing user may go on up to this bound. None when
    nothing is reserved (or the phone is a fixed test number, which no SMS limit counts)."""
    budget = get_settings().sms_per_stack_per_hour
    if not budget or not _reserved(budget) or is_test_number(phone):
        return None
    return Counter(STACK_BUDGET, "stack", budget, HOUR)


def for_decoy(guards: Guards) -> Guards:
    """The guards of a send that texts nothing: the same, without the stack's SMS budget (which
    counts real SMS only, as CodesSent does); the phone's and the client's counters still count."""
    return guards.without(STACK_BUDGET)


def for_code_check(phone: str, client: ClientInfo) -> Guards:
    settings = get_settings()
    checks = ("code_checks_per_ip_per_hour", _ip(client), settings.code_checks_per_ip_per_hour, HOUR)
    return Guards(counters=_counters(checks), locks=(code_lock(phone),))


def for_password_reset(phone: str, client: ClientInfo, now: int) -> Guards:
    """A reset checks a code like any step; once it proved the SIM, it also ends the phone's
    password lock and forgives its wrong passwords, so the owner can log in at once."""
    guards = for_code_check(phone, client)
    forgiven = (password_lock(phone).item_id, Counter("password_failures_per_phone", phone, 0, DAY).item_id(now))
    return Guards(counters=guards.counters, locks=guards.locks, clears=forgiven)


def count_lookup(client: ClientInfo, now: int) -> None:
    """Count one answer that tells whether a phone has an account; refuse it past the limit."""
    limit = get_settings().lookups_per_ip_per_hour
    if limit:
        try:
            count(Counter("lookups_per_ip_per_hour", _ip(client), limit, HOUR), now)
        except LimitRefusal as refusal:
            raise refusal_error(refusal, now) from None


def password_ip_failures(client: ClientInfo) -> Counter | None:
    limit = get_settings().password_failures_per_ip_per_hour
    return Counter("password_failures_per_ip_per_hour", _ip(client), limit, HOUR) if limit else None


def refusal_error(refusal: LimitRefusal, now: int) -> AuthError:
    """The answer for a limit's refusal: a lock, the stack's spent budget, or a named limit.
    Every refusal by a limit passes here, and is counted here."""
    metrics.count("Refusals", limit=refusal.name)
    retry_after = refusal.until - now
    if refusal.name == "otp_lock":
        return PhoneLocked(retry_after)
    if refusal.name == "password_lock":
        return LoginLocked(retry_after)
    if refusal.name == "sms_per_stack_per_hour":
        return SmsBudgetExhausted(retry_after)
    return RateLimited(retry_after, limit=refusal.name)


def _count_failure(name: str, phone: str, lock: Lock, limit: int, base: int, longest: int, now: int) -> int | None:
    """Count one failure against the phone (a day's window); past ``limit``, close ``lock`` for
    ``base`` seconds, doubling with each further failure up to ``longest``. The lock's length, if
    it closed it. One UpdateItem, and one more when it locks."""
    if not limit:
        return None
    failures = count(Counter(name, phone, 0, DAY), now)
    if failures < limit:
        return None
    length = min(base << (failures - limit), longest)  # base doubled once per failure past the limit
    lock_until(lock, now + length)
    metrics.count("Locks", limit=lock.name)
    return length


def record_code_failure(phone: str, now: int) -> PhoneLocked | None:
    """Count a wrong code against the phone (all purposes); the lock it set, if it did."""
    limit = get_settings().code_failures_per_phone
    length = _count_failure(
        "otp_failures_per_phone", phone, code_lock(phone), limit, CODE_LOCK_BASE, CODE_LOCK_MAX, now
    )
    return None if length is None else PhoneLocked(length)


def count_password_ip_failure(client: ClientInfo, now: int) -> None:
    """Count a wrong password against the client IP (at its limit, the next try is refused)."""
    ip_counter = password_ip_failures(client)
    if ip_counter is not None:
        with contextlib.suppress(LimitRefusal):
            count(ip_counter, now)


def record_password_failure(phone: str, client: ClientInfo, now: int) -> LoginLocked | None:
    """Count a wrong password against the phone and the client IP; the lock it set, if it did."""
    count_password_ip_failure(client, now)
    limit = get_settings().password_failures_per_phone
    lock = password_lock(phone)
    length = _count_failure(
        "password_failures_per_phone", phone, lock, limit, PASSWORD_LOCK_BASE, PASSWORD_LOCK_MAX, now
    )
    return None if length is None else LoginLocked(length)
