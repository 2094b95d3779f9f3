"""What a store operation raises when its precondition did not hold.

Each carries what the flow needs to answer (the stored code's state, the user as found),
never a DynamoDB shape. Infrastructure failures are ``phone_auth.errors.ServiceUnavailable``.
"""

from __future__ import annotations

from phone_auth.store.records import SessionRecord, StoredCode, UserRecord


class StoreRefusal(Exception):
    """Base class: the write did not happen because its precondition did not hold."""


class CodeRejected(StoreRefusal):
    """The code was not spent: wrong, used, expired, out of attempts, or none at all.

    ``state`` is the stored code as it was (None when there is none), so the caller can
    tell which; a wrong guess is then counted by ``codes.count_wrong_guess``.
    """

    def __init__(self, state: StoredCode | None) -> None:
        super().__init__("code rejected")
        self.state = state


class ResendTooSoon(StoreRefusal):
    """An unused code was sent after the resend cutoff; ``state`` is that code."""

    def __init__(self, state: StoredCode | None) -> None:
        super().__init__("resend too soon")
        self.state = state


class RecipientRefused(StoreRefusal):
    """The phone may not get this code (no account, or already has a password); ``user`` as found."""

    def __init__(self, user: UserRecord | None) -> None:
        super().__init__("recipient refused")
        self.user = user


class ReservedForUsers(StoreRefusal):
    """The rest of the stack's SMS budget is kept for phones with an account, and this one has none."""


class DeviceRejected(StoreRefusal):
    """The presented device credential is not (or no longer) the user's: go on untrusted."""


class UserMissing(StoreRefusal):
    """The operation needs an existing user and there is none."""


class UserDisabled(StoreRefusal):
    """The back office disabled the user: no sign-in, reset or number change writes to it."""


class UserChanged(StoreRefusal):
    """The user signed in (started a session) since the caller read it: read again."""


class PhoneTaken(StoreRefusal):
    """A user was to be moved to a phone that another user has (or took first)."""


class PasswordAlreadySet(StoreRefusal):
    """A first password was to be set, but the user has one."""


class PasswordChanged(StoreRefusal):
    """The password hash changed between the check and the write."""


class RegistrationTokenRejected(StoreRefusal):
    """Wrong, used or expired registration token."""


class RefreshRejected(StoreRefusal):
    """The refresh token was not spent; ``user`` and ``session`` as they were (None when gone)."""

    def __init__(self, user: UserRecord | None, session: SessionRecord | None) -> None:
        super().__init__("refresh rejected")
        self.user = user
        self.session = session


class SessionMissing(StoreRefusal):
    """No such session (ended, expired and removed, or never the caller's)."""


class SessionsAlreadyEnded(StoreRefusal):
    """The session epoch moved on: the caller's sessions were ended by another request."""
