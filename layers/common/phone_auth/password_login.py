"""Seed 004: login with mobile number + password."""

from __future__ import annotations

import uuid

from phone_auth import clock, passwords, repository
from phone_auth.errors import InvalidCredentials, InvalidPhone, NotAMobilePhone, RegistrationRequired
from phone_auth.models import AuthSuccessResponse
from phone_auth.phones import normalize_phone
from phone_auth.settings import get_settings
from phone_auth.signin import signed_in


def login_with_password(raw_phone: str, password: str) -> AuthSuccessResponse:
    """Two DynamoDB round trips: read the user, then one conditional update that records the
    sign-in (and upgrades a hash made with a lower bcrypt cost) only if the password hash is
    still the one just checked."""
    settings = get_settings()
    try:
        phone = normalize_phone(raw_phone, settings.default_region)
    except (InvalidPhone, NotAMobilePhone):
        # Same answer and about the same time as an unknown phone.
        passwords.verify_password(password, None, settings.bcrypt_rounds)
        raise InvalidCredentials() from None
    item = repository.get_user(phone)
    if item is not None and "password_hash" not in item:
        raise RegistrationRequired()
    stored_hash = item.get("password_hash") if item else None
    if not passwords.verify_password(password, stored_hash, settings.bcrypt_rounds) or stored_hash is None:
        raise InvalidCredentials()
    extra = {}
    if passwords.needs_rehash(stored_hash, settings.bcrypt_rounds):
        extra["password_hash"] = passwords.hash_password(password, settings.bcrypt_rounds)
    proposed_id = str(uuid.uuid4())
    update = repository.login_update(
        phone,
        now_iso=clock.iso(clock.now()),
        proposed_user_id=proposed_id,
        must_exist=True,
        verified=False,
        extra_set=extra,
        condition="password_hash = :checked_hash",
        condition_values={":checked_hash": stored_hash},
    )
    try:
        item = repository.update_user(update)
    except repository.ConditionFailed:
        raise InvalidCredentials() from None  # the password changed meanwhile
    return signed_in(item, proposed_id=proposed_id, method="password")
