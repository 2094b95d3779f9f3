"""Function settings: one pydantic model read from environment variables once per container.

A missing or invalid setting fails the cold start with a message naming the variable,
instead of surfacing later as a KeyError in the middle of a request.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, ValidationError, model_validator
from pydantic_core import core_schema

# On its first model, pydantic reads the entry points of every installed distribution to find
# plugins (milliseconds of metadata reads on each cold start); the service uses none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

#: ALLOWED_ORIGINS: comma-separated origins without paths, quotes or spaces; ``scheme://host:*`` is any
#: port of that host (local development only). The same text as template.yaml's AllowedPattern.
ORIGINS_PATTERN = "^https?://[^\\s,'\"*/]+(:\\*)?(,https?://[^\\s,'\"*/]+(:\\*)?)*$"


class SettingsError(RuntimeError):
    """Raised at start-up when the environment does not describe a usable configuration."""


@dataclass(frozen=True)
class CommaSeparated:
    """A comma-separated setting: the whole text must match ``pattern``, then it becomes a tuple."""

    pattern: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        split = core_schema.no_info_plain_validator_function(lambda text: tuple(text.split(",")))
        return core_schema.chain_schema([core_schema.str_schema(pattern=self.pattern), split])


def origin_matches(origin: str, allowed: str) -> bool:
    """``origin`` is ``allowed``, or ``allowed`` is ``scheme://host:*`` and ``origin`` is that host on any port."""
    if not allowed.endswith(":*"):
        return origin == allowed
    host = allowed.removesuffix(":*")
    return origin == host or (origin.startswith(host + ":") and origin[len(host) + 1 :].isdigit())


def cors_origin(request_origin: str | None, allowed: Sequence[str]) -> str | None:
    """The Access-Control-Allow-Origin answer to a request from ``request_origin``.

    The request's own origin when it is allowed; otherwise the first exact origin of the list,
    the value API Gateway's static preflight and gateway responses carry (a browser elsewhere
    is refused either way); None when the list has only ``host:*`` patterns.
    """
    if request_origin and any(origin_matches(request_origin, pattern) for pattern in allowed):
        return request_origin
    return next((origin for origin in allowed if not origin.endswith(":*")), None)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # Defaults and ranges equal template.yaml's Parameters (tests/unit/test_settings_drift.py checks it).
    stage: str = Field(alias="STAGE", pattern=r"^[a-z][a-z0-9-]{0,31}$")
    # Production or not is said in so many words, never guessed from the stage's name.
    environment: Literal["production", "development"] = Field(default="development", alias="ENVIRONMENT")
    market: str = Field(default="th", alias="MARKET", pattern=r"^[a-z]{2}$")
    users_table_name: str = Field(alias="USERS_TABLE_NAME", min_length=3)
    codes_table_name: str = Field(alias="OTP_TABLE_NAME", min_length=3)
    limits_table_name: str = Field(alias="LIMITS_TABLE_NAME", min_length=3)
    import_jobs_table_name: str = Field(alias="IMPORT_JOBS_TABLE_NAME", min_length=3)
    import_bucket_name: str = Field(alias="IMPORT_BUCKET_NAME", pattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
    jwt_secret_parameter_name: str = Field(alias="JWT_SECRET_PARAMETER_NAME", pattern=r"^/[A-Za-z0-9_.\-/]+$")
    default_region: str = Field(default="TH", alias="DEFAULT_REGION", pattern=r"^[A-Z]{2}$")
    # The default is the template's text; validate_default makes it a tuple like any value read.
    allowed_origins: Annotated[tuple[str, ...], CommaSeparated(ORIGINS_PATTERN)] = Field(
        default="http://localhost:5173", alias="ALLOWED_ORIGINS", validate_default=True
    )
    code_ttl_seconds: int = Field(default=300, alias="OTP_TTL_SECONDS", ge=60, le=1800)
    code_max_attempts: int = Field(default=3, alias="OTP_MAX_ATTEMPTS", ge=1, le=10)
    code_resend_seconds: int = Field(default=60, alias="OTP_RESEND_SECONDS", ge=0, le=600)
    access_token_ttl_seconds: int = Field(default=900, alias="ACCESS_TOKEN_TTL_SECONDS", ge=60, le=86400)
    refresh_token_ttl_seconds: int = Field(default=2592000, alias="REFRESH_TOKEN_TTL_SECONDS", ge=3600, le=31536000)
    session_max_age_seconds: int = Field(default=7776000, alias="SESSION_MAX_AGE_SECONDS", ge=3600, le=31536000)
    refresh_reuse_grace_seconds: int = Field(default=10, alias="REFRESH_REUSE_GRACE_SECONDS", ge=0, le=60)
    # A device credential lives this long after its last sign-in; a user keeps at most
    # MAX_DEVICES_PER_USER, the least recently used forgotten first (phone_auth.devices).
    device_token_idle_days: int = Field(default=180, alias="DEVICE_TOKEN_IDLE_DAYS", ge=1, le=730)
    max_devices_per_user: int = Field(default=10, alias="MAX_DEVICES_PER_USER", ge=1, le=50)
    max_sessions_per_user: int = Field(default=10, alias="MAX_SESSIONS_PER_USER", ge=1, le=50)
    registration_token_ttl_seconds: int = Field(default=600, alias="REGISTRATION_TOKEN_TTL_SECONDS", ge=60, le=3600)
    # A step that needs a recent sign-in (deleting the account, changing its number) refuses a
    # session that signed in longer ago than this (REAUTHENTICATION_REQUIRED).
    reauth_max_age_seconds: int = Field(default=300, alias="REAUTH_MAX_AGE_SECONDS", ge=60, le=3600)
    # Where lifecycle events go: the account's default bus or an existing bus of that name.
    event_bus_name: str = Field(default="default", alias="EVENT_BUS_NAME", pattern=r"^[A-Za-z0-9._\-/]{1,256}$")
    token_issuer: str = Field(default="phone-auth", alias="TOKEN_ISSUER", min_length=1)
    token_audience: str = Field(default="phone-auth-api", alias="TOKEN_AUDIENCE", min_length=1)
    sms_sender: Literal["sns", "log"] = Field(default="sns", alias="SMS_SENDER")
    sms_sender_id: str = Field(default="PhoneAuth", alias="SMS_SENDER_ID", pattern=r"^[A-Za-z0-9]{0,11}$")
    signup_mode: Literal["open", "imported"] = Field(default="open", alias="SIGNUP_MODE")
    passwordless_login_enabled: bool = Field(default=True, alias="OTP_LOGIN_ENABLED")
    bcrypt_rounds: int = Field(default=12, alias="BCRYPT_ROUNDS", ge=10, le=14)
    # Abuse and cost limits (0 switches one off); see docs/security.md.
    allowed_countries: str = Field(
        default="", alias="ALLOWED_COUNTRIES", pattern=r"^(\*|[A-Z]{2}(,[A-Z]{2})*)?$"
    )  # empty: the market's own country (DEFAULT_REGION); *: any
    sms_per_phone_per_hour: int = Field(default=5, alias="SMS_PER_PHONE_PER_HOUR", ge=0, le=1000)
    sms_per_phone_per_day: int = Field(default=10, alias="SMS_PER_PHONE_PER_DAY", ge=0, le=10000)
    sms_per_ip_per_hour: int = Field(default=20, alias="SMS_PER_IP_PER_HOUR", ge=0, le=100000)
    sms_per_prefix_per_hour: int = Field(default=20, alias="SMS_PER_PREFIX_PER_HOUR", ge=0, le=100000)
    sms_per_stack_per_hour: int = Field(default=1000, alias="SMS_PER_STACK_PER_HOUR", ge=0, le=1000000)
    # The part of the stack's budget only phones with an account may spend (limits.stack_reserve).
    sms_budget_reserved_percent: int = Field(default=20, alias="SMS_BUDGET_RESERVED_PERCENT", ge=0, le=90)
    code_failures_per_phone: int = Field(default=10, alias="OTP_FAILURES_PER_PHONE", ge=0, le=1000)
    # Wrong codes a day by all clients without a device token together (limits.py); 30 keeps the
    # odds of guessing a 6-digit code below 1 in 30,000 a day.
    code_failures_ceiling_per_phone: int = Field(default=30, alias="OTP_FAILURES_CEILING_PER_PHONE", ge=0, le=10000)
    code_checks_per_ip_per_hour: int = Field(default=100, alias="CODE_CHECKS_PER_IP_PER_HOUR", ge=0, le=100000)
    password_failures_per_phone: int = Field(default=5, alias="PASSWORD_FAILURES_PER_PHONE", ge=0, le=1000)
    # Wrong passwords a day by all clients without a device token together (docs/security.md).
    password_failures_ceiling_per_phone: int = Field(
        default=100, alias="PASSWORD_FAILURES_CEILING_PER_PHONE", ge=0, le=10000
    )
    password_failures_per_ip_per_hour: int = Field(
        default=50, alias="PASSWORD_FAILURES_PER_IP_PER_HOUR", ge=0, le=100000
    )
    lookups_per_ip_per_hour: int = Field(default=60, alias="LOOKUPS_PER_IP_PER_HOUR", ge=0, le=100000)
    # none: the client is API Gateway's sourceIp; cloudfront: the viewer address CloudFront reports,
    # on requests that prove they came through it (phone_auth.callers.client_address).
    trusted_proxy: Literal["none", "cloudfront"] = Field(default="none", alias="TRUSTED_PROXY")
    test_phone_numbers: str = Field(
        default="", alias="TEST_PHONE_NUMBERS", pattern=r"^(\+[0-9]{6,15}=[0-9]{6}(,\+[0-9]{6,15}=[0-9]{6})*)?$"
    )  # +66800000001=123456,...: never texted, the fixed code works (not in production)
    # Not template parameters: the defaults suit every stage (STACK_NAME is the stack's own name).
    stack_name: str = Field(default="local", alias="STACK_NAME", min_length=1)
    max_body_bytes: int = Field(default=16384, alias="MAX_BODY_BYTES", ge=256, le=1048576)
    secret_cache_seconds: int = Field(default=300, alias="SECRET_CACHE_SECONDS", ge=0, le=3600)

    @model_validator(mode="after")
    def _production_sends_real_sms(self) -> Settings:
        if self.is_production and self.sms_sender == "log":
            raise ValueError("SMS_SENDER=log sends no SMS at all; ENVIRONMENT=production must use SMS_SENDER=sns")
        if self.is_production and self.test_phone_numbers:
            raise ValueError(
                "TEST_PHONE_NUMBERS lets anyone sign in as those numbers; ENVIRONMENT=production refuses it"
            )
        return self

    @model_validator(mode="after")
    def _production_names_exact_origins(self) -> Settings:
        if self.is_production and any(origin.endswith(":*") for origin in self.allowed_origins):
            raise ValueError("ALLOWED_ORIGINS: ENVIRONMENT=production lists exact origins, not host:* patterns")
        return self

    @property
    def allowed_country_codes(self) -> frozenset[str] | None:
        """Regions codes may be texted to; None for any."""
        if self.allowed_countries == "*":
            return None
        return frozenset((self.allowed_countries or self.default_region).split(","))

    @property
    def test_codes(self) -> dict[str, str]:
        """Fixed test numbers: E.164 -> their fixed code."""
        pairs = (entry.split("=") for entry in self.test_phone_numbers.split(",") if entry)
        return {phone: code for phone, code in pairs}

    @property
    def is_production(self) -> bool:
        """ENVIRONMENT=production (the template's Environment parameter, its IsProd condition)."""
        return self.environment == "production"


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
