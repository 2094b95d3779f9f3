"""Every error a client may see: a class with a stable machine code and an HTTP status.

These classes are the one source of the error codes: the OpenAPI document, docs/api.md's
error table and the template's GatewayResponses are checked against ``catalogue()``.
One mapper (phone_auth.api.endpoint) turns them into responses; nothing matches on message strings.
Human messages live in phone_auth.messages, keyed by the same code, in English and Thai.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AuthError(Exception):
    """The request is not valid.

    The base class of every error a client may see.
    """

    code: ClassVar[str] = "BAD_REQUEST"
    status: ClassVar[int] = 400

    def __init__(self, *, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(self.code)
        self.details = details or {}
        self.headers = headers or {}


class InvalidJson(AuthError):
    """The body is not valid JSON (or not valid base64 when so flagged)."""

    code = "INVALID_JSON"


class ValidationFailed(AuthError):
    """Fields are missing or have the wrong type; details name the fields, never echo values."""

    code = "VALIDATION_ERROR"


class PayloadTooLarge(AuthError):
    """The body is larger than MAX_BODY_BYTES."""

    code = "PAYLOAD_TOO_LARGE"
    status = 413


class UnsupportedMediaType(AuthError):
    """The body is not declared as JSON (Content-Type application/json): nothing else is read."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


class InvalidPhone(AuthError):
    """Not a valid phone number in E.164 or the market's national format."""

    code = "INVALID_PHONE"


class NotAMobilePhone(AuthError):
    """A valid number that cannot receive SMS (fixed line, toll-free ...)."""

    code = "PHONE_NOT_MOBILE"


class CodeInvalid(AuthError):
    """Wrong code; details say how many attempts remain for this code."""

    code = "OTP_INVALID"


class CodeExpired(AuthError):
    """The code is past its lifetime; request a new one."""

    code = "OTP_EXPIRED"


class CodeNotFound(AuthError):
    """No usable code: never sent, already used, or replaced by a newer one."""

    code = "OTP_NOT_FOUND"


class RateLimited(AuthError):
    """Too many requests; details.limit names the limit, Retry-After says when to try again."""

    code = "RATE_LIMITED"
    status = 429

    def __init__(self, retry_after: int, limit: str | None = None) -> None:
        retry_after = max(1, int(retry_after))
        details: dict[str, Any] = {"retry_after": retry_after}
        if limit:
            details["limit"] = limit
        super().__init__(details=details, headers={"Retry-After": str(retry_after)})


class PhoneLocked(RateLimited):
    """Too many wrong codes for this phone: no code is sent or accepted until Retry-After."""

    code = "PHONE_LOCKED"


class LoginLocked(RateLimited):
    """Too many wrong passwords for this phone: password login is refused until Retry-After."""

    code = "LOGIN_LOCKED"


class CountryNotAllowed(AuthError):
    """Codes are not texted to this country in this market (ALLOWED_COUNTRIES)."""

    code = "COUNTRY_NOT_ALLOWED"


class CodeAttemptsExceeded(RateLimited):
    """The code is dead after too many wrong guesses; Retry-After says when a new one may be sent."""

    code = "OTP_ATTEMPTS_EXCEEDED"


class PasswordlessLoginDisabled(AuthError):
    """Passwordless login is turned off in this market (OTP_LOGIN_ENABLED=false)."""

    code = "OTP_LOGIN_DISABLED"
    status = 403


class PhoneNotAllowed(AuthError):
    """This phone may not get this code or register (imported-users mode, or no account)."""

    code = "PHONE_NOT_ALLOWED"
    status = 403


class RegistrationRequired(AuthError):
    """The user exists but has no password yet; register first."""

    code = "REGISTRATION_REQUIRED"
    status = 403


class ReauthenticationRequired(AuthError):
    """This step needs a recent sign-in (REAUTH_MAX_AGE_SECONDS): sign in again, then retry."""

    code = "REAUTHENTICATION_REQUIRED"
    status = 403


class PhoneUnchanged(AuthError):
    """The new number is the number the account already has."""

    code = "PHONE_UNCHANGED"


class PhoneInUse(AuthError):
    """Another account has this number (or claimed it first)."""

    code = "PHONE_IN_USE"
    status = 409


class AlreadyRegistered(AuthError):
    """The user already has a password."""

    code = "ALREADY_REGISTERED"
    status = 409


class RegistrationTokenInvalid(AuthError):
    """The registration token is wrong, used or expired."""

    code = "REGISTRATION_TOKEN_INVALID"
    status = 401


class InvalidCredentials(AuthError):
    """Wrong phone or password (the same answer for both)."""

    code = "INVALID_CREDENTIALS"
    status = 401


class PasswordTooShort(AuthError):
    """The password has fewer than 8 characters."""

    code = "PASSWORD_TOO_SHORT"


class PasswordTooLong(AuthError):
    """The password is longer than 72 UTF-8 bytes (bcrypt's limit)."""

    code = "PASSWORD_TOO_LONG"


class PasswordTooCommon(AuthError):
    """The password is on the list of common passwords."""

    code = "PASSWORD_TOO_COMMON"


class PasswordIsPhone(AuthError):
    """The password is the phone number in some spelling."""

    code = "PASSWORD_IS_PHONE"


class TokenMissing(AuthError):
    """No bearer token, or the call did not pass the authorizer."""

    code = "TOKEN_MISSING"
    status = 401


class TokenInvalid(AuthError):
    """The access token is malformed, tampered, from another key, issuer, audience or market."""

    code = "TOKEN_INVALID"
    status = 401


class TokenExpired(AuthError):
    """The access token has expired."""

    code = "TOKEN_EXPIRED"
    status = 401


class TokenRevoked(AuthError):
    """The access token was ended by a logout or password reset."""

    code = "TOKEN_REVOKED"
    status = 401


class RefreshTokenInvalid(AuthError):
    """The refresh token is malformed, unknown, from another stack, or its session has ended."""

    code = "REFRESH_TOKEN_INVALID"
    status = 401


class RefreshTokenReused(AuthError):
    """An already spent refresh token was presented: its whole session has been ended."""

    code = "REFRESH_TOKEN_REUSED"
    status = 401


class RefreshTokenExpired(AuthError):
    """The session is past its idle or absolute lifetime; sign in again."""

    code = "REFRESH_TOKEN_EXPIRED"
    status = 401


class SessionNotFound(AuthError):
    """The user has no such live session."""

    code = "SESSION_NOT_FOUND"
    status = 404


class UserNotFound(AuthError):
    """The token's user no longer exists."""

    code = "USER_NOT_FOUND"
    status = 404


class AccountDisabled(AuthError):
    """The back office disabled this account: said only after proof (the right password or code)."""

    code = "ACCOUNT_DISABLED"
    status = 403


class InvalidCursor(AuthError):
    """A page cursor that this API did not issue, or one altered since (admin API)."""

    code = "INVALID_CURSOR"


class ImportNotFound(AuthError):
    """No import job has this id (never started, or older than the 7 days jobs are kept)."""

    code = "IMPORT_NOT_FOUND"
    status = 404


class OperatorUnknown(AuthError):
    """An admin API call without a signed IAM principal (a misconfigured route): refused, not trusted."""

    code = "OPERATOR_UNKNOWN"
    status = 403


class SmsBudgetExhausted(AuthError):
    """The stack's SMS budget for this hour is spent; Retry-After says when it renews."""

    code = "SMS_BUDGET_EXHAUSTED"
    status = 503

    def __init__(self, retry_after: int) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(details={"retry_after": retry_after}, headers={"Retry-After": str(retry_after)})


class ServiceUnavailable(AuthError):
    """A dependency (DynamoDB, SSM, SNS) failed; nothing was half-done, the client may retry."""

    code = "SERVICE_UNAVAILABLE"
    status = 503
    #: Seconds a client should wait before retrying (every 503 carries Retry-After). Short:
    #: the failure is usually a blip, and the code or request was not used up.
    RETRY_AFTER_SECONDS: ClassVar[int] = 1

    def __init__(self, *, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(details=details, headers={"Retry-After": str(self.RETRY_AFTER_SECONDS), **(headers or {})})


class InternalError(AuthError):
    """An unexpected failure on our side; nothing about it is revealed."""

    code = "INTERNAL_ERROR"
    status = 500


class Unauthorized(AuthError):
    """A protected route was called without an Authorization header (answered by API Gateway)."""

    code = "UNAUTHORIZED"
    status = 401


class MissingAuthenticationToken(AuthError):
    """An admin API call without a SigV4 signature, or to no admin route (answered by API Gateway)."""

    code = "MISSING_AUTHENTICATION_TOKEN"
    status = 403


class InvalidSignature(AuthError):
    """An admin API call whose SigV4 signature does not match (answered by API Gateway)."""

    code = "INVALID_SIGNATURE"
    status = 403


class AccessDenied(AuthError):
    """An admin API call by an IAM principal not allowed execute-api:Invoke on it (answered by API Gateway)."""

    code = "ACCESS_DENIED"
    status = 403


class ExpiredToken(AuthError):
    """An admin API call signed with expired credentials (answered by API Gateway)."""

    code = "EXPIRED_TOKEN"
    status = 403


class RouteNotFound(AuthError):
    """No such route or method (answered by API Gateway)."""

    code = "NOT_FOUND"
    status = 404


def catalogue() -> dict[str, type[AuthError]]:
    """Every error code a client may see -> its class (status, meaning in the docstring)."""
    found: dict[str, type[AuthError]] = {}
    pending: list[type[AuthError]] = [AuthError]
    while pending:
        error = pending.pop()
        if found.setdefault(error.code, error) is not error:
            raise RuntimeError(f"two error classes share the code {error.code}")
        pending.extend(error.__subclasses__())
    return dict(sorted(found.items(), key=lambda item: (item[1].status, item[0])))
