"""Login with mobile number and password."""

from __future__ import annotations

from phone_auth import clock, devices, limits, passwords
from phone_auth.callers import ClientInfo
from phone_auth.errors import AccountDisabled, InvalidCredentials, InvalidPhone, NotAMobilePhone, RegistrationRequired
from phone_auth.flows import sessions
from phone_auth.flows.sessions import SignedIn
from phone_auth.observability import logger
from phone_auth.phones import mask_phone, normalize_phone
from phone_auth.settings import get_settings
from phone_auth.store import users
from phone_auth.store.limits import LimitRefusal
from phone_auth.store.refusals import PasswordChanged, UserDisabled


def login_with_password(raw_phone: str, password: str, client: ClientInfo, device_token: str | None = None) -> SignedIn:
    """Two DynamoDB round trips on success: read the user with the phone's password lock and
    the client IP's failure count (a lock or a spent budget refuses before any bcrypt work,
    even the right password), then record the sign-in and start a session only if the
    password hash is still the one just checked (upgrading a hash made with a lower bcrypt
    cost, and ending sessions past the cap, in the same write). A wrong password counts
    against the phone and the IP, for unknown phones the same way.

    A valid device token (checked against the user item the same read returns) makes the request
    trusted: only its device's own lock and failures apply, never those other clients caused.
    Otherwise the locks are the client network's and the phone's ceiling (limits.password_locks).

    Past the client's lookups (LOOKUPS_PER_IP_PER_HOUR, read in the same BatchGetItem), an
    untrusted login that fails gets the same 429 whether the phone is unknown, has no password
    yet or had a wrong one: none of them tells any more whether the phone is a user.
    """
    settings = get_settings()
    now = int(clock.now())
    try:
        phone = normalize_phone(raw_phone, settings.default_region)
    except (InvalidPhone, NotAMobilePhone):
        # Counted (or refused, past the client's cap) before any bcrypt: it can never be right.
        # Then the same answer and about the same time as an unknown phone.
        limits.charge_password_ip_failure(client, now)
        passwords.verify_password(password, None, settings.bcrypt_rounds)
        raise InvalidCredentials() from None
    device = devices.presented(device_token)
    untrusted_locks, ip_failures = limits.password_locks(phone, client), limits.password_ip_failures(client)
    lookups = limits.lookup_counter(client)
    device_locks = limits.password_locks(phone, client, device.id) if device else ()
    user, hits, locked_until = users.get_user_and_guards(
        phone,
        counters=[counter for counter in (ip_failures, lookups) if counter is not None],
        locks=[*untrusted_locks, *device_locks],
        now=now,
    )
    if device is not None and not device.is_valid_for(user, now):
        device = None  # ignored: the request is untrusted, and nothing says why
    device_id = device.id if device else None
    locks = device_locks if device else untrusted_locks
    until = max(locked_until[lock.item_id] for lock in locks)
    if until > now:
        raise limits.refusal_error(LimitRefusal("password_lock", until), now)
    if device is None and ip_failures is not None and hits[ip_failures.name] >= ip_failures.limit:
        raise limits.refusal_error(LimitRefusal(ip_failures.name, ip_failures.window_end(now)), now)
    lookups_spent = device is None and lookups is not None and hits[lookups.name] >= lookups.limit
    if user is not None and user.password_hash is None and not lookups_spent:
        limits.count_lookup(client, now)  # this answer tells that the phone has an account
        raise RegistrationRequired()
    stored_hash = user.password_hash if user else None
    # Checked whatever the user: an unknown phone costs the same bcrypt work as a wrong password.
    matches = passwords.verify_password(password, stored_hash, settings.bcrypt_rounds)
    if not matches or user is None or stored_hash is None:
        logger.info("wrong password", extra={"phone": mask_phone(phone)})
        locked = limits.record_password_failure(phone, client, now, device_id)
        if locked is not None:
            raise locked
        if lookups_spent and lookups is not None:
            raise limits.refusal_error(LimitRefusal(lookups.name, lookups.window_end(now)), now)
        raise InvalidCredentials()
    if user.disabled:  # said only now, after the right password
        raise AccountDisabled()
    upgraded = None
    if passwords.needs_rehash(stored_hash, settings.bcrypt_rounds):
        upgraded = passwords.hash_password(password, settings.bcrypt_rounds)
    session, refresh_secret = sessions.new_session("password", client)
    device_use, token = devices.for_sign_in(device, now)
    dead, surplus = user.sessions_to_end(keep=session.id, cap=settings.max_sessions_per_user, now=now)
    try:
        sign_in = users.record_password_sign_in(
            user,
            checked_hash=stored_hash,
            upgraded_hash=upgraded,
            now_iso=clock.iso(clock.now()),
            session=session,
            end_sessions=[*dead, *(old.id for old in surplus)],
            device=device_use,
        )
    except PasswordChanged:
        raise InvalidCredentials() from None
    except UserDisabled:  # disabled since the read, and the password was right
        raise AccountDisabled() from None
    # The write above ended what the read showed past the cap; a sign-in racing this one shows
    # in the item the write returned, and signed_in ends what is still past the cap (rarely).
    return sessions.signed_in(sign_in, refresh_secret=refresh_secret, method="password", device_token=token)
