"""Request and response models of every endpoint (the OpenAPI document is generated from these).

Requests are strict (a number where a string belongs is an error, not a coercion) and
accept the back office's camelCase spellings (mobilePhone, otpCode ...) as aliases. Unknown fields are ignored.
`defer_build` keeps a cold start from building schemas a function never uses.

Each response model is built by its classmethod ``.of(<what the flow returned>, ...)``; the
messages of an answer are chosen there, in the client's language.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from phone_auth.crypto import CODE_PATTERN, OPAQUE_TOKEN_PATTERN, REFRESH_TOKEN_PATTERN, SESSION_ID_PATTERN
from phone_auth.messages import message
from phone_auth.phones import MAX_PHONE_LENGTH
from phone_auth.settings import get_settings

if TYPE_CHECKING:
    from phone_auth.codes import CodeSent
    from phone_auth.errors import AuthError
    from phone_auth.flows.back_office import AdminUser, PutResult, UserPage
    from phone_auth.flows.imports import ImportView, StartedImport
    from phone_auth.flows.registration import RegistrationTokenIssued
    from phone_auth.flows.sessions import SessionList, SessionTokens, SignedIn
    from phone_auth.messages import Outcome
    from phone_auth.store.records import SessionRecord, UserRecord

_REQUEST = ConfigDict(strict=True, extra="ignore", populate_by_name=True, defer_build=True, frozen=True)
_RESPONSE = ConfigDict(defer_build=True)

Phone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_PHONE_LENGTH,
        validation_alias=AliasChoices("phone", "mobilePhone", "mobile_phone"),
        description=(
            "A mobile number in E.164 (+66812345678), with 00 for + (0066812345678) or in the market's national "
            "format (081-234-5678); spaces, dashes, dots and parentheses are ignored. Not a valid number: "
            "INVALID_PHONE; not a mobile: PHONE_NOT_MOBILE."
        ),
        examples=["+66812345678", "081-234-5678"],
    ),
]
Code = Annotated[
    str,
    Field(
        pattern=CODE_PATTERN,
        validation_alias=AliasChoices("code", "otpCode", "otp_code"),
        description="The 6-digit code from the SMS.",
        examples=["123456"],
    ),
]
# Long enough for any sane password; the real limit (72 UTF-8 bytes) is a policy error with its own code.
Password = Annotated[
    str,
    Field(
        max_length=1024, description="At least 8 characters, at most 72 UTF-8 bytes.", examples=["Sunflower-Rain-2026"]
    ),
]

DeviceToken = Annotated[
    str | None,
    Field(
        default=None,
        max_length=512,
        validation_alias=AliasChoices("device_token", "deviceToken"),
        description=(
            "The device_token of an earlier sign-in on this device, if it has one (keep it across logout). A valid "
            "one makes the request trusted: locks and limits other clients caused do not refuse it. An invalid, "
            "expired or foreign one is ignored, never an error."
        ),
        examples=["3f9a0c1d2b4e5f60.q1V9hL0bX2kZ7pR4tY6wC8nM3dS5fG0jK2lP9oU1iE7"],
    ),
]


class PhoneRequest(BaseModel):
    model_config = _REQUEST
    phone: Phone
    device_token: DeviceToken


class VerifyCodeRequest(BaseModel):
    model_config = _REQUEST
    phone: Phone
    verification_code: Annotated[
        str,
        Field(
            pattern=CODE_PATTERN,
            validation_alias=AliasChoices("verification_code", "verificationCode", "code", "otpCode"),
            description="The 6-digit code from the SMS.",
            examples=["123456"],
        ),
    ]
    device_token: DeviceToken


class VerifyRegistrationOtpRequest(BaseModel):
    model_config = _REQUEST
    phone: Phone
    code: Code
    device_token: DeviceToken


class CompleteRegistrationRequest(BaseModel):
    model_config = _REQUEST
    phone: Phone
    password: Password
    registration_token: Annotated[
        str,
        Field(
            pattern=OPAQUE_TOKEN_PATTERN,
            validation_alias=AliasChoices("registration_token", "registrationToken"),
            description="The registration_token of /auth/verify-registration-otp.",
            examples=["q1V9hL0bX2kZ7pR4tY6wC8nM3dS5fG0jK2lP9oU1iE7"],
        ),
    ]


class LoginRequest(BaseModel):
    model_config = _REQUEST
    phone: Phone
    password: Password
    device_token: DeviceToken


class ResetPasswordRequest(BaseModel):
    model_config = _REQUEST
    phone: Phone
    code: Code
    new_password: Annotated[
        str,
        Field(
            max_length=1024,
            validation_alias=AliasChoices("new_password", "newPassword"),
            description="At least 8 characters, at most 72 UTF-8 bytes.",
            examples=["Mango-Sticky-Rice-42"],
        ),
    ]
    device_token: DeviceToken


class RefreshRequest(BaseModel):
    model_config = _REQUEST
    refresh_token: Annotated[
        str,
        Field(
            min_length=1,
            max_length=512,
            validation_alias=AliasChoices("refresh_token", "refreshToken"),
            description=(
                "The refresh token of the last sign-in or refresh; it is spent by this call. Any other text is "
                "refused as REFRESH_TOKEN_INVALID (401), like an unknown token."
            ),
            json_schema_extra={"pattern": REFRESH_TOKEN_PATTERN},
        ),
    ]


class LogoutRequest(BaseModel):
    model_config = _REQUEST
    scope: Literal["all", "current"] = Field(
        default="all",
        description="all (the default, also with no body): end every session; current: only this one.",
    )


NewPhone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_PHONE_LENGTH,
        validation_alias=AliasChoices("new_phone", "newPhone", "newMobilePhone"),
        description=(
            "The number to move the account to, in any format the phone fields take. The account's own number: "
            "PHONE_UNCHANGED; a number another account has: PHONE_IN_USE (409)."
        ),
        examples=["+66898765432", "089-876-5432"],
    ),
]


class PhoneChangeRequest(BaseModel):
    model_config = _REQUEST
    new_phone: NewPhone


class PhoneChangeVerifyRequest(BaseModel):
    model_config = _REQUEST
    new_phone: NewPhone
    code: Code


class PathParameters(BaseModel):
    """The path parameters of the routes (by name): documented only, the template's routes carry them."""

    model_config = _REQUEST
    id: str = Field(
        description="A session id, as /auth/sessions lists them; any other is SESSION_NOT_FOUND (404).",
        json_schema_extra={"pattern": SESSION_ID_PATTERN},
        examples=["5f0c3e9a1b7d4e2f8a6c0b1d3e5f7a9c"],
    )
    phone: str = Field(
        description=(
            "The user's mobile number (admin API), URL-encoded, in any spelling the phone fields take: "
            "%2B66812345678, 0812345678. Not a valid number: INVALID_PHONE."
        ),
        examples=["%2B66812345678"],
    )
    import_id: str = Field(
        description="An import job's id, as POST /admin/imports returned it (32 hexadecimal characters).",
        json_schema_extra={"pattern": "^[0-9a-f]{32}$"},
        examples=["3f2a9c1e7b5d4a6f8e0c2b4d6a8f0e1c"],
    )


class UserView(BaseModel):
    model_config = _RESPONSE
    id: str
    phone: str = Field(description="E.164")
    is_active: bool
    is_verified: bool
    last_login: str | None = Field(description="ISO 8601 UTC")
    created_at: str
    updated_at: str
    market: str
    has_password: bool
    profile: dict[str, str] = Field(default_factory=dict, description="Fields imported from the back office.")

    @classmethod
    def of(cls, user: UserRecord) -> UserView:
        """The user as stored; ``market`` is this stack's (a user belongs to the market that serves it)."""
        return cls(
            id=user.id,
            phone=user.phone,
            is_active=user.is_active,
            is_verified=user.is_verified,
            last_login=user.last_login,
            created_at=user.created_at,
            updated_at=user.updated_at,
            market=get_settings().market,
            has_password=user.has_password,
            profile=dict(user.profile),
        )


class SendCodeResponse(BaseModel):
    model_config = _RESPONSE
    success: Literal[True] = True
    message: str
    expires_in: int = Field(description="Seconds the code stays valid.")
    resend_after: int = Field(description="Seconds before another code may be requested.")

    @classmethod
    def of(cls, sent: CodeSent, language: str) -> SendCodeResponse:
        """A reset says "if this number has an account": its answer must not tell whether it has."""
        text = message("RESET_CODE_SENT" if sent.purpose == "password_reset" else "CODE_SENT", language)
        return cls(message=text, expires_in=sent.expires_in, resend_after=sent.resend_after)


class AuthSuccessResponse(BaseModel):
    model_config = _RESPONSE
    success: Literal[True] = True
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name, not a secret)
    expires_in: int = Field(description="Seconds the access token stays valid.")
    user: UserView
    is_new_user: bool = Field(description="True on the user's first sign-in.")
    refresh_token: str = Field(description="Send to /auth/refresh for new tokens; single use, rotated each time.")
    session_id: str = Field(description="This device's session (see /auth/sessions).")
    device_token: str = Field(
        description=(
            "This device's credential: keep it (across logout too) and send it as device_token with later code, "
            "login and reset requests. The same token comes back when a valid one was presented. A number change "
            "keeps the account's device credentials and adds this device's."
        )
    )

    @classmethod
    def of(cls, signed_in: SignedIn) -> AuthSuccessResponse:
        return cls(
            access_token=signed_in.access_token,
            expires_in=signed_in.expires_in,
            user=UserView.of(signed_in.user),
            is_new_user=signed_in.is_new_user,
            refresh_token=signed_in.refresh_token,
            session_id=signed_in.session_id,
            device_token=signed_in.device_token,
        )


class RefreshResponse(BaseModel):
    model_config = _RESPONSE
    success: Literal[True] = True
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int
    refresh_token: str = Field(description="The successor: the presented refresh token is now spent.")
    session_id: str
    user: UserView

    @classmethod
    def of(cls, tokens: SessionTokens) -> RefreshResponse:
        return cls(
            access_token=tokens.access_token,
            expires_in=tokens.expires_in,
            refresh_token=tokens.refresh_token,
            session_id=tokens.session_id,
            user=UserView.of(tokens.user),
        )


class SessionView(BaseModel):
    model_config = _RESPONSE
    id: str
    created_at: str = Field(description="ISO 8601 UTC: the sign-in that started it.")
    last_used_at: str = Field(description="ISO 8601 UTC: the sign-in or the last refresh.")
    method: str = Field(description="How the session started: sms_code, password, registration or phone_change.")
    user_agent: str
    ip: str = Field(description="The network it was last used from, masked (e.g. 203.0.113.0/24).")
    current: bool = Field(description="True for the session of the token making this call.")

    @classmethod
    def of(cls, session: SessionRecord, *, current: bool) -> SessionView:
        fields = ("id", "created_at", "last_used_at", "method", "user_agent", "ip")
        return cls(current=current, **{name: getattr(session, name) for name in fields})


class SessionsResponse(BaseModel):
    model_config = _RESPONSE
    success: Literal[True] = True
    sessions: list[SessionView] = Field(description="Live sessions, most recently used first.")

    @classmethod
    def of(cls, listing: SessionList) -> SessionsResponse:
        return cls(
            sessions=[SessionView.of(session, current=session.id == listing.current) for session in listing.sessions]
        )


class MeResponse(BaseModel):
    model_config = _RESPONSE
    success: Literal[True] = True
    user: UserView

    @classmethod
    def of(cls, user: UserRecord) -> MeResponse:
        return cls(user=UserView.of(user))


class MessageResponse(BaseModel):
    model_config = _RESPONSE
    success: Literal[True] = True
    message: str

    @classmethod
    def of(cls, outcome: Outcome, language: str) -> MessageResponse:
        return cls(message=message(outcome, language))


class CheckMobileResponse(BaseModel):
    model_config = _RESPONSE
    success: Literal[True] = True
    can_register: bool
    message: str

    @classmethod
    def of(cls, can_register: bool, language: str) -> CheckMobileResponse:
        text = message("CAN_REGISTER" if can_register else "CANNOT_REGISTER", language)
        return cls(can_register=can_register, message=text)


class RegistrationTokenResponse(BaseModel):
    model_config = _RESPONSE
    success: Literal[True] = True
    message: str
    registration_token: str = Field(description="Single use; send it to /auth/complete-registration.")
    expires_in: int

    @classmethod
    def of(cls, issued: RegistrationTokenIssued, language: str) -> RegistrationTokenResponse:
        return cls(
            message=message("CODE_VERIFIED", language), registration_token=issued.token, expires_in=issued.expires_in
        )


# ---------------------------------------------------------------- the admin API
class AdminUserRequest(BaseModel):
    """PUT /admin/users/{phone}: what an import row gives; every field optional."""

    model_config = _REQUEST
    profile: dict[str, Annotated[str, Field(max_length=1024)]] | None = Field(
        default=None,
        description=(
            "Profile fields to set (name -> text; names up to 64 characters, at most 100 fields). Fields not "
            "named keep their values."
        ),
        examples=[{"employee_id": "E-1042", "branch": "Chiang Mai"}],
    )
    password: Password | None = Field(
        default=None,
        description="A first password in plaintext, hashed here (the password policy applies). Never replaces one.",
    )
    password_hash: Annotated[str, Field(max_length=128)] | None = Field(
        default=None,
        validation_alias=AliasChoices("password_hash", "passwordHash"),
        description="A first password as a bcrypt hash ($2a$/$2b$/$2y$, 60 characters); not with password.",
    )


class AdminUserView(UserView):
    """A user as the back office sees it: the public view, its state and its live sessions."""

    disabled: bool = Field(description="True while the back office has the user disabled.")
    sessions: int = Field(description="Live sessions (signed-in devices) now.")

    @classmethod
    def of_admin(cls, seen: AdminUser) -> AdminUserView:
        view = UserView.of(seen.user).model_dump()
        return cls(**view, disabled=seen.user.disabled, sessions=seen.live_sessions)


class AdminUserResponse(BaseModel):
    model_config = _RESPONSE
    success: Literal[True] = True
    user: AdminUserView

    @classmethod
    def of(cls, seen: AdminUser) -> AdminUserResponse:
        return cls(user=AdminUserView.of_admin(seen))


class AdminPutUserResponse(BaseModel):
    model_config = _RESPONSE
    success: Literal[True] = True
    outcome: Literal["created", "updated", "unchanged"] = Field(description="201 for created, 200 otherwise.")
    user: AdminUserView

    @classmethod
    def of(cls, result: PutResult) -> AdminPutUserResponse:
        return cls(outcome=result.outcome, user=AdminUserView.of_admin(result.user))


class AdminUserListResponse(BaseModel):
    model_config = _RESPONSE
    success: Literal[True] = True
    users: list[AdminUserView]
    next_cursor: str | None = Field(
        default=None, description="Give it as ?cursor= for the next page; absent on the last page."
    )

    @classmethod
    def of(cls, page: UserPage) -> AdminUserListResponse:
        return cls(users=[AdminUserView.of_admin(seen) for seen in page.users], next_cursor=page.cursor)


class AdminStartImportRequest(BaseModel):
    """POST /admin/imports: a new import job; the file follows through the upload URL."""

    model_config = _REQUEST
    file_name: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")] | None = Field(
        default=None,
        validation_alias=AliasChoices("file_name", "fileName"),
        description="The file's name, kept with the job for the people who read it (optional).",
        examples=["users-2026-12.csv"],
    )


class AdminStartImportResponse(BaseModel):
    model_config = _RESPONSE
    success: Literal[True] = True
    import_id: str = Field(description="The job's id: GET /admin/imports/{import_id}.")
    upload_url: str = Field(description="PUT the CSV file's bytes here (a pre-signed S3 URL); any Content-Type.")
    expires_in: int = Field(description="Seconds the upload URL stays valid.")
    status: Literal["waiting"] = "waiting"

    @classmethod
    def of(cls, started: StartedImport) -> AdminStartImportResponse:
        return cls(import_id=started.import_id, upload_url=started.upload_url, expires_in=started.expires_in)


class ImportCounts(BaseModel):
    model_config = _RESPONSE
    created: int
    updated: int
    unchanged: int
    rejected: int


class ImportJobError(BaseModel):
    model_config = _RESPONSE
    code: str = Field(
        description=(
            "IMPORT_FILE_INVALID, IMPORT_FILE_TOO_LARGE, IMPORT_UPLOAD_CHANGED or IMPORT_ABANDONED"
            " (docs/back-office.md)."
        )
    )
    message: str


class ImportJobView(BaseModel):
    model_config = _RESPONSE
    import_id: str
    status: Literal["waiting", "running", "done", "failed"] = Field(
        description="waiting for the upload, running, done, or failed (see error)."
    )
    file_name: str | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    rows: int = Field(description="Rows read so far (created + updated + unchanged + rejected).")
    counts: ImportCounts
    error: ImportJobError | None = None
    report_url: str | None = Field(
        default=None,
        description="A pre-signed GET of the per-row report (line,phone,outcome,reason; phones masked), once written.",
    )
    report_expires_in: int | None = Field(default=None, description="Seconds the report URL stays valid.")


class AdminImportResponse(BaseModel):
    # "import" is a Python keyword: the field is import_, named "import" in JSON.
    model_config = ConfigDict(defer_build=True, serialize_by_alias=True)
    success: Literal[True] = True
    import_: ImportJobView = Field(alias="import")

    @classmethod
    def of(cls, view: ImportView) -> AdminImportResponse:
        job = view.job
        error = ImportJobError(code=job.error_code, message=job.error_message or "") if job.error_code else None
        return cls.model_validate(
            {
                "import": ImportJobView(
                    import_id=job.import_id,
                    status=job.status,
                    file_name=job.file_name,
                    created_at=job.created_at,
                    started_at=job.started_at,
                    finished_at=job.finished_at,
                    rows=job.rows,
                    counts=ImportCounts(**job.counts),
                    error=error,
                    report_url=view.report_url,
                    report_expires_in=view.report_expires_in,
                )
            }
        )


class ErrorDetail(BaseModel):
    model_config = _RESPONSE
    code: str = Field(description="Stable machine code, e.g. OTP_INVALID.")
    message: str = Field(description="Human message in English or Thai (Accept-Language).")
    details: dict[str, object] | None = None


class ErrorResponse(BaseModel):
    model_config = _RESPONSE
    success: Literal[False] = False
    error: ErrorDetail

    @classmethod
    def of(cls, error: AuthError, language: str) -> ErrorResponse:
        return cls(
            error=ErrorDetail(code=error.code, message=message(error.code, language), details=error.details or None)
        )
