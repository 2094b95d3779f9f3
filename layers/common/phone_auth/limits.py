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


def failure_subject(phone: str, client: ClientInfo, device: str | None = None) -> str:
    """Whose failures these are: a trusted device's own (``phone#device:<id>``), else the phone's
    from the client's network (``phone#203.0.113.0/24``, ``phone#2001:db8:1:2::/64``)."""
    return f"{phone}#device:{device}" if device else f"{phone}#{client.network_key}"


def code_lock(phone: str) -> Lock:
    """The phone's lock for every client without a device token, past the day's ceiling of wrong
    codes (its item id and name, ``otp_lock``, are stored and shown as ``details.limit``: never
    rename them)."""
    return Lock("otp_lock", phone)


def password_lock(phone: str) -> Lock:
    """The phone's password lock for every client without a device token, past the day's ceiling."""
    return Lock("password_lock", phone)


def code_locks(phone: str, client: ClientInfo, device: str | None = None) -> tuple[Lock, ...]:
    """The locks a code step checks: a trusted device's own; else the client network's and the
    phone's ceiling."""
    own = Lock("otp_lock", failure_subject(phone, client, device))
    return (own,) if device else (code_lock(phone), own)


def password_locks(phone: str, client: ClientInfo, device: str | None = None) -> tuple[Lock, ...]:
    """The locks a password login checks, as ``code_locks``."""
    own = Lock("password_lock", failure_subject(phone, client, device))
    return (own,) if device else (password_lock(phone), own)


def is_test_number(phone: str) -> bool:
    return phone in get_settings().test_codes


def check_country(phone: str) -> None:
    """Refuse a number of a country this market does not text, before any write or SMS."""
    allowed = get_settings().allowed_country_codes
    if allowed is not None and region_of(phone) not in allowed:
        raise CountryNotAllowed()


def for_sending(phone: str, client: ClientInfo, *, lookup: bool = False, device: str | None = None) -> Guards:
    """The limits of a step that texts a code (``lookup``: its answer tells if the phone is known).

    A trusted ``device`` spends its own hourly and daily SMS (the phone's thresholds), not the
    phone's nor the prefix's, and the whole stack budget (its account is proven in the same
    transaction); the client's hourly SMS still count."""
    settings = get_settings()
    budget = settings.sms_per_stack_per_hour
    per_phone = (
        (
            ("sms_per_device_per_hour", f"{phone}#device:{device}", settings.sms_per_phone_per_hour, HOUR),
            ("sms_per_device_per_day", f"{phone}#device:{device}", settings.sms_per_phone_per_day, DAY),
            (STACK_BUDGET, "stack", budget, HOUR),
        )
        if device
        else (
            ("sms_per_phone_per_hour", phone, settings.sms_per_phone_per_hour, HOUR),
            ("sms_per_phone_per_day", phone, settings.sms_per_phone_per_day, DAY),
            ("sms_per_prefix_per_hour", phone[:-3], settings.sms_per_prefix_per_hour, HOUR),
            # bounded by the unreserved part: the rest is for phones with an account (stack_reserve)
            (STACK_BUDGET, "stack", budget - _reserved(budget), HOUR),
        )
    )
    sms = (
        ()
        if is_test_number(phone)
        else (*per_phone, ("sms_per_ip_per_hour", _ip(client), settings.sms_per_ip_per_hour, HOUR))
    )
    lookups = (("lookups_per_ip_per_hour", _ip(client), settings.lookups_per_ip_per_hour, HOUR),) if lookup else ()
    return Guards(counters=_counters(*sms, *lookups), locks=code_locks(phone, client, device))


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


def for_code_check(phone: str, client: ClientInfo, device: str | None = None) -> Guards:
    """A code check: the client's hourly checks and the code locks; a trusted device's wrong codes
    count against its own failures instead (``record_code_failure``)."""
    settings = get_settings()
    checks = (
        () if device else (("code_checks_per_ip_per_hour", _ip(client), settings.code_checks_per_ip_per_hour, HOUR),)
    )
    return Guards(counters=_counters(*checks), locks=code_locks(phone, client, device))


def for_password_reset(phone: str, client: ClientInfo, now: int, device: str | None = None) -> Guards:
    """A reset checks a code like any step; once it proved the SIM, it also ends the password
    locks that stood in this client's way (its network's or device's, and the phone's ceiling:
    the guesses counted there were against the password it replaces) and forgives their wrong
    passwords, so the owner can log in at once."""
    guards = for_code_check(phone, client, device)
    subject = failure_subject(phone, client, device)
    forgiven = (
        Lock("password_lock", subject).item_id,
        Counter("password_failures_per_phone", subject, 0, DAY).item_id(now),
        password_lock(phone).item_id,
        Counter("password_failures_ceiling_per_phone", phone, 0, DAY).item_id(now),
    )
    return Guards(counters=guards.counters, locks=guards.locks, clears=forgiven)


def lookup_counter(client: ClientInfo) -> Counter | None:
    """The client's hourly lookups (None when the limit is off)."""
    limit = get_settings().lookups_per_ip_per_hour
    return Counter("lookups_per_ip_per_hour", _ip(client), limit, HOUR) if limit else None


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


def _count_failure(name: str, subject: str, lock: Lock, limit: int, base: int, longest: int, now: int) -> int | None:
    """Count one failure against ``subject`` (a day's window); past ``limit``, close ``lock`` for
    ``base`` seconds, doubling with each further failure up to ``longest``. The lock's length, if
    it closed it. One UpdateItem, and one more when it locks."""
    if not limit:
        return None
    failures = count(Counter(name, subject, 0, DAY), now)
    if failures < limit:
        return None
    length = min(base << (failures - limit), longest)  # base doubled once per failure past the limit
    lock_until(lock, now + length)
    metrics.count("Locks", limit=lock.name)
    return length


def _count_toward_ceiling(name: str, phone: str, lock: Lock, ceiling: int, now: int) -> int | None:
    """Count one untrusted failure against the phone's daily ceiling; at it, close ``lock`` (the
    phone's, for every untrusted client) until the day's window ends. The lock's length, if it
    closed it."""
    if not ceiling:
        return None
    counter = Counter(name, phone, 0, DAY)
    if count(counter, now) < ceiling:
        return None
    lock_until(lock, counter.window_end(now))
    metrics.count("Locks", limit=lock.name)
    return counter.window_end(now) - now


def _longest(*lengths: int | None) -> int | None:
    closed = [length for length in lengths if length is not None]
    return max(closed) if closed else None


def record_code_failure(phone: str, now: int, client: ClientInfo, device: str | None = None) -> PhoneLocked | None:
    """Count a wrong code (all purposes) against a trusted device, or against the phone from the
    client's network and the phone's ceiling for untrusted clients; the lock it set, if it did."""
    settings = get_settings()
    subject = failure_subject(phone, client, device)
    own = _count_failure(
        "otp_failures_per_phone",
        subject,
        Lock("otp_lock", subject),
        settings.code_failures_per_phone,
        CODE_LOCK_BASE,
        CODE_LOCK_MAX,
        now,
    )
    ceiling = (
        None
        if device
        else _count_toward_ceiling(
            "otp_failures_ceiling_per_phone", phone, code_lock(phone), settings.code_failures_ceiling_per_phone, now
        )
    )
    length = _longest(own, ceiling)
    return None if length is None else PhoneLocked(length)


def charge_password_ip_failure(client: ClientInfo, now: int) -> None:
    """Count a certain password failure against the client IP before any work; refuse it at the
    client's limit (a login that can never be right, such as an invalid phone)."""
    ip_counter = password_ip_failures(client)
    if ip_counter is not None:
        try:
            count(ip_counter, now)
        except LimitRefusal as refusal:
            raise refusal_error(refusal, now) from None


def count_password_ip_failure(client: ClientInfo, now: int) -> None:
    """Count a wrong password against the client IP (at its limit, the next try is refused)."""
    ip_counter = password_ip_failures(client)
    if ip_counter is not None:
        with contextlib.suppress(LimitRefusal):
            count(ip_counter, now)


def record_password_failure(phone: str, client: ClientInfo, now: int, device: str | None = None) -> LoginLocked | None:
    """Count a wrong password against a trusted device, or against the client IP, the phone from
    the client's network and the phone's ceiling; the lock it set, if it did."""
    settings = get_settings()
    if not device:
        count_password_ip_failure(client, now)
    subject = failure_subject(phone, client, device)
    own = _count_failure(
        "password_failures_per_phone",
        subject,
        Lock("password_lock", subject),
        settings.password_failures_per_phone,
        PASSWORD_LOCK_BASE,
        PASSWORD_LOCK_MAX,
        now,
    )
    ceiling = (
        None
        if device
        else _count_toward_ceiling(
            "password_failures_ceiling_per_phone",
            phone,
            password_lock(phone),
            settings.password_failures_ceiling_per_phone,
            now,
        )
    )
    length = _longest(own, ceiling)
    return None if length is None else LoginLocked(length)
