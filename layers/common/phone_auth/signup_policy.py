"""Who may sign up and sign in how: the one place SIGNUP_MODE and OTP_LOGIN_ENABLED are read.

- ``SIGNUP_MODE=open``: any valid mobile number may get a login code, and the first
  verified sign-in creates the user; any phone without a password may register.
- ``SIGNUP_MODE=imported``: only phones the back office imported exist; codes go only to
  them, and a sign-in never creates a user.
- ``OTP_LOGIN_ENABLED=false``: no passwordless login (send-verification, verify-code).
A password reset code goes only to existing users in either mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from phone_auth.errors import PasswordlessLoginDisabled
from phone_auth.settings import get_settings
from phone_auth.store.codes import Recipient


@dataclass(frozen=True)
class SignupPolicy:
    open_signup: bool
    passwordless_login_enabled: bool

    def require_passwordless_login(self) -> None:
        if not self.passwordless_login_enabled:
            raise PasswordlessLoginDisabled()

    @property
    def sign_in_creates_users(self) -> bool:
        return self.open_signup

    @property
    def login_code_recipient(self) -> Recipient:
        return Recipient.ANYONE if self.open_signup else Recipient.EXISTING_USER

    @property
    def registration_code_recipient(self) -> Recipient:
        return Recipient.ANYONE_WITHOUT_PASSWORD if self.open_signup else Recipient.USER_WITHOUT_PASSWORD

    reset_code_recipient = Recipient.EXISTING_USER

    def can_register(self, *, exists: bool, has_password: bool) -> bool:
        return not has_password if exists else self.open_signup


def signup_policy() -> SignupPolicy:
    settings = get_settings()
    return SignupPolicy(
        open_signup=settings.signup_mode == "open", passwordless_login_enabled=settings.passwordless_login_enabled
    )
