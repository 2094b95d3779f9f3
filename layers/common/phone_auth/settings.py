"""Function settings: one pydantic model read from environment variables once per container.

A missing or invalid setting fails the cold start with a message naming the variable,
instead of surfacing later as a KeyError in the middle of a request.
"""

from __future__ import annotations

import functools
import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class SettingsError(RuntimeError):
    """Raised at start-up when the environment does not describe a usable configuration."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # Defaults and ranges equal template.yaml's Parameters (tests/test_settings_drift.py checks it).
    stage: str = Field(alias="STAGE", pattern=r"^[a-z][a-z0-9-]{0,31}$")
    market: str = Field(default="th", alias="MARKET", pattern=r"^[a-z]{2}$")
    users_table_name: str = Field(alias="USERS_TABLE_NAME", min_length=3)
    otp_table_name: str = Field(alias="OTP_TABLE_NAME", min_length=3)
    jwt_secret_parameter_name: str = Field(alias="JWT_SECRET_PARAMETER_NAME", pattern=r"^/[A-Za-z0-9_.\-/]+$")
    default_region: str = Field(default="TH", alias="DEFAULT_REGION", pattern=r"^[A-Z]{2}$")
    allowed_origin: str = Field(
        default="http://localhost:5173", alias="ALLOWED_ORIGIN", pattern="^https?://[^\\s,'\"]+$"
    )
    otp_ttl_seconds: int = Field(default=300, alias="OTP_TTL_SECONDS", ge=60, le=1800)
    otp_max_attempts: int = Field(default=3, alias="OTP_MAX_ATTEMPTS", ge=1, le=10)
    otp_resend_seconds: int = Field(default=60, alias="OTP_RESEND_SECONDS", ge=0, le=600)
    access_token_ttl_seconds: int = Field(default=900, alias="ACCESS_TOKEN_TTL_SECONDS", ge=60, le=86400)
    refresh_token_ttl_seconds: int = Field(default=2592000, alias="REFRESH_TOKEN_TTL_SECONDS", ge=3600, le=31536000)
    session_max_age_seconds: int = Field(default=7776000, alias="SESSION_MAX_AGE_SECONDS", ge=3600, le=31536000)
    refresh_reuse_grace_seconds: int = Field(default=10, alias="REFRESH_REUSE_GRACE_SECONDS", ge=0, le=60)
    max_sessions_per_user: int = Field(default=10, alias="MAX_SESSIONS_PER_USER", ge=1, le=50)
    registration_token_ttl_seconds: int = Field(default=600, alias="REGISTRATION_TOKEN_TTL_SECONDS", ge=60, le=3600)
    token_issuer: str = Field(default="phone-auth", alias="TOKEN_ISSUER", min_length=1)
    token_audience: str = Field(default="phone-auth-api", alias="TOKEN_AUDIENCE", min_length=1)
    sms_sender: Literal["sns", "log"] = Field(default="sns", alias="SMS_SENDER")
    sms_sender_id: str = Field(default="PhoneAuth", alias="SMS_SENDER_ID", pattern=r"^[A-Za-z0-9]{0,11}$")
    signup_mode: Literal["open", "imported"] = Field(default="open", alias="SIGNUP_MODE")
    otp_login_enabled: bool = Field(default=True, alias="OTP_LOGIN_ENABLED")
    bcrypt_rounds: int = Field(default=12, alias="BCRYPT_ROUNDS", ge=10, le=14)
    # Not template parameters: the defaults suit every stage.
    max_body_bytes: int = Field(default=16384, alias="MAX_BODY_BYTES", ge=256, le=1048576)
    secret_cache_seconds: int = Field(default=300, alias="SECRET_CACHE_SECONDS", ge=0, le=3600)

    @model_validator(mode="after")
    def _production_sends_real_sms(self) -> Settings:
        if self.is_production and self.sms_sender == "log":
            raise ValueError("SMS_SENDER=log sends no SMS at all; a production stage must use SMS_SENDER=sns")
        return self

    @property
    def is_production(self) -> bool:
        return self.stage.lower().startswith("prod")


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from the environment, turning validation errors into one readable message."""
    source = dict(os.environ if environ is None else environ)
    try:
        return Settings.model_validate(source)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid phone-auth configuration: {problems}") from None


@functools.cache
def get_settings() -> Settings:
    """The settings of this container, read once (tests call get_settings.cache_clear())."""
    return load_settings()
