"""Domain errors: each has a stable machine code and an HTTP status.

One mapper (phone_auth.http) turns them into responses; nothing matches on message strings.
Human messages live in phone_auth.messages, keyed by the same code, in English and Thai.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AuthError(Exception):
    """Base class of every error a client may see."""

    code: ClassVar[str] = "BAD_REQUEST"
    status: ClassVar[int] = 400

    def __init__(self, *, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(self.code)
        self.details = details or {}
        self.headers = headers or {}


class InvalidJson(AuthError):
    code = "INVALID_JSON"


class ValidationFailed(AuthError):
    code = "VALIDATION_ERROR"


class PayloadTooLarge(AuthError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


class InvalidPhone(AuthError):
    code = "INVALID_PHONE"


class NotAMobilePhone(AuthError):
    code = "PHONE_NOT_MOBILE"


class OtpInvalid(AuthError):
    """Wrong code; details say how many attempts remain for this code."""

    code = "OTP_INVALID"


class OtpExpired(AuthError):
    code = "OTP_EXPIRED"


class OtpNotFound(AuthError):
    """No usable code: never sent, already used, or replaced by a newer one."""

    code = "OTP_NOT_FOUND"


class RateLimited(AuthError):
    code = "RATE_LIMITED"
    status = 429

    def __init__(self, retry_after: int) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(details={"retry_after": retry_after}, headers={"Retry-After": str(retry_after)})


class OtpAttemptsExceeded(RateLimited):
    """The code is dead after too many wrong guesses; Retry-After says when a new one may be sent."""

    code = "OTP_ATTEMPTS_EXCEEDED"


class OtpLoginDisabled(AuthError):
    code = "OTP_LOGIN_DISABLED"
    status = 403


class PhoneNotAllowed(AuthError):
    """Imported-users mode: the phone is not in the back office's list."""

    code = "PHONE_NOT_ALLOWED"
    status = 403


class RegistrationRequired(AuthError):
    code = "REGISTRATION_REQUIRED"
    status = 403


class AlreadyRegistered(AuthError):
    code = "ALREADY_REGISTERED"
    status = 409


class RegistrationTokenInvalid(AuthError):
    code = "REGISTRATION_TOKEN_INVALID"
    status = 401


class InvalidCredentials(AuthError):
    code = "INVALID_CREDENTIALS"
    status = 401


class PasswordTooShort(AuthError):
    code = "PASSWORD_TOO_SHORT"


class PasswordTooLong(AuthError):
    code = "PASSWORD_TOO_LONG"


class PasswordTooCommon(AuthError):
    code = "PASSWORD_TOO_COMMON"


class PasswordIsPhone(AuthError):
    code = "PASSWORD_IS_PHONE"


class TokenMissing(AuthError):
    code = "TOKEN_MISSING"
    status = 401


class TokenInvalid(AuthError):
    code = "TOKEN_INVALID"
    status = 401


class TokenExpired(AuthError):
    code = "TOKEN_EXPIRED"
    status = 401


class TokenRevoked(AuthError):
    code = "TOKEN_REVOKED"
    status = 401


class UserNotFound(AuthError):
    code = "USER_NOT_FOUND"
    status = 404


class ServiceUnavailable(AuthError):
    """A dependency (DynamoDB, SSM, SNS) failed; nothing was half-done, the client may retry."""

    code = "SERVICE_UNAVAILABLE"
    status = 503


class InternalError(AuthError):
    code = "INTERNAL_ERROR"
    status = 500
