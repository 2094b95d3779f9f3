"""Login with mobile number and password."""

from __future__ import annotations

from phone_auth import clock, passwords, sessions
from phone_auth.errors import InvalidCredentials, InvalidPhone, NotAMobilePhone, RegistrationRequired
from phone_auth.http import ClientInfo
from phone_auth.models import AuthSuccessResponse
from phone_auth.phones import normalize_phone
from phone_auth.settings import get_settings
from phone_auth.store import users
from phone_auth.store.refusals import PasswordChanged


def login_with_password(raw_phone: str, password: str, client: ClientInfo) -> AuthSuccessResponse:
    """Two DynamoDB round trips: read the user, then record the sign-in and start a session
    only if the password hash is still the one just checked (upgrading a hash made with a
    lower bcrypt cost, and ending sessions past the cap, in the same write)."""
    settings = get_settings()
    try:
        phone = normalize_phone(raw_phone, settings.default_region)
    except (InvalidPhone, NotAMobilePhone):
        # Same answer and about the same time as an unknown phone.
        passwords.verify_password(password, None, settings.bcrypt_rounds)
        raise InvalidCredentials() from None
    user = users.get_user(phone)
    if user is not None and user.password_hash is None:
        raise RegistrationRequired()
    stored_hash = user.password_hash if user else None
    if (
        user is None
        or stored_hash is None
        or not passwords.verify_password(password, stored_hash, settings.bcrypt_rounds)
    ):
        if user is None:
            passwords.verify_password(password, None, settings.bcrypt_rounds)
        raise InvalidCredentials()
    upgraded = None
    if passwords.needs_rehash(stored_hash, settings.bcrypt_rounds):
        upgraded = passwords.hash_password(password, settings.bcrypt_rounds)
    session, refresh_secret = sessions.new_session("password", client)
    now = clock.now()
    dead, surplus = user.sessions_to_end(keep=session.id, cap=settings.max_sessions_per_user, now=now)
    try:
        sign_in = users.record_password_sign_in(
            user,
            checked_hash=stored_hash,
            upgraded_hash=upgraded,
            now_iso=clock.iso(now),
            session=session,
            end_sessions=[*dead, *(old.id for old in surplus)],
        )
    except PasswordChanged:
        raise InvalidCredentials() from None
    return sessions.signed_in(sign_in, refresh_secret=refresh_secret, method="password", cap_enforced=True)
