"""Typed settings, read once from environment variables at start-up."""

import json
import sys
from functools import lru_cache
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

DEV_JWT_SECRET = "dev-only-jwt-secret-never-use-in-production"
# HS256 signs with SHA-256, so a shorter secret weakens it (RFC 7518, section 3.2).
MIN_HMAC_SECRET_BYTES = 32
# The JWS algorithms PyJWT verifies with a shared secret or a public key.
JWT_ALGORITHM_NAMES = frozenset(
    f"{family}{bits}" for family in ("HS", "RS", "ES", "PS") for bits in (256, 384, 512)
)
ALGORITHMS_FORMAT = 'a JSON list such as ["HS256"] or comma-separated names such as HS256,RS256'


class Settings(BaseSettings):
    """Every setting of both services; field names map to upper-case variables."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    app_env: Literal["development", "production"] = "production"

    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)

    jwt_secret: SecretStr | None = None
    jwt_public_key: SecretStr | None = None
    jwt_algorithms: Annotated[list[str], NoDecode] = ["HS256"]
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_s: int = Field(default=30, ge=0, le=300)

    api_host: str = "0.0.0.0"
    api_port: int = Field(default=8080, ge=1, le=65535)
    api_prefix: str = ""

    timezone: str = "UTC"
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    stream_key: str = "crm:bulk:stream"
    consumer_group: str = "crm-bulk-workers"
    consumer_name: str | None = None

    chunk_size: int = Field(default=1000, ge=1, le=100_000)
    max_leads_per_job: int = Field(default=1_000_000, ge=1)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    sync_max_leads: int = Field(default=100, ge=1)
    prevalidate_max_leads: int = Field(default=10_000, ge=0)
    failed_details_inline_max: int = Field(default=1000, ge=0)
    observaciones_max_chars: int = Field(default=2000, ge=1)

    job_ttl_completed_s: int = Field(default=7 * 24 * 3600, ge=60)
    job_ttl_failed_s: int = Field(default=30 * 24 * 3600, ge=60)
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=60)

    rate_limit_pending_jobs: int = Field(default=10, ge=0)
    rate_limit_jobs_per_day: int = Field(default=0, ge=0)
    rate_limit_leads_per_day: int = Field(default=0, ge=0)
    rate_limit_cooldown_s: int = Field(default=0, ge=0)

    worker_concurrency: int = Field(default=2, ge=1, le=64)
    worker_read_count: int = Field(default=4, ge=1)
    worker_block_ms: int = Field(default=2000, ge=1)
    claim_idle_ms: int = Field(default=60_000, ge=1000)
    max_deliveries: int = Field(default=5, ge=1)
    shutdown_grace_s: float = Field(default=25.0, ge=0)
    worker_heartbeat_file: str = "/tmp/crm-worker-heartbeat"
    worker_heartbeat_ttl_s: int = Field(default=30, ge=3)
    housekeeping_interval_s: float = Field(default=10.0, gt=0)
    stale_consumer_idle_ms: int = Field(default=3_600_000, ge=1000)

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: object) -> object:
        """Accept a JSON list, as other list settings do, or comma-separated names (`HS256,RS256`)."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text.startswith("["):
            return [name.strip() for name in text.split(",") if name.strip()]
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"JWT_ALGORITHMS must be {ALGORITHMS_FORMAT}") from error

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        """Fail at start-up, not on the first response that formats a timestamp."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as UTC") from error
        return value

    @model_validator(mode="after")
    def _check_jwt_settings(self) -> "Settings":
        """Reject `none` and unknown algorithms, and give development a fixed HMAC secret."""
        if "none" in (alg.lower() for alg in self.jwt_algorithms):
            raise ValueError("JWT_ALGORITHMS must not include 'none'")
        if not self.jwt_algorithms:
            raise ValueError(f"JWT_ALGORITHMS is empty; it must be {ALGORITHMS_FORMAT}")
        unknown = [alg for alg in self.jwt_algorithms if alg not in JWT_ALGORITHM_NAMES]
        if unknown:
            raise ValueError(
                f"JWT_ALGORITHMS has unknown algorithms {unknown}; use upper-case names from"
                f" {sorted(JWT_ALGORITHM_NAMES)}"
            )
        if self.app_env == "development" and self.uses_hmac and self.jwt_secret is None:
            self.jwt_secret = SecretStr(DEV_JWT_SECRET)
        return self

    @property
    def uses_hmac(self) -> bool:
        return any(alg.startswith("HS") for alg in self.jwt_algorithms)

    def require_jwt_keys(self) -> None:
        """Raise ValueError when a configured algorithm has no key; the API calls it at start-up.

        The worker and the tools verify no tokens, so they run without JWT settings.
        """
        if self.uses_hmac and self.jwt_secret is None:
            raise ValueError("JWT_SECRET is required when JWT_ALGORITHMS includes an HS algorithm")
        secret_bytes = len(self.jwt_secret.get_secret_value().encode()) if self.jwt_secret else 0
        if self.uses_hmac and self.app_env == "production" and secret_bytes < MIN_HMAC_SECRET_BYTES:
            raise ValueError(f"JWT_SECRET must be at least {MIN_HMAC_SECRET_BYTES} bytes in production")
        uses_public_key = any(not alg.startswith("HS") for alg in self.jwt_algorithms)
        if uses_public_key and self.jwt_public_key is None:
            raise ValueError("JWT_PUBLIC_KEY is required when JWT_ALGORITHMS includes RS or ES")

    @property
    def normalized_prefix(self) -> str:
        """API_PREFIX with one leading slash and no trailing slash, or an empty string."""
        prefix = self.api_prefix.strip().strip("/")
        return f"/{prefix}" if prefix else ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once per process."""
    return Settings()


def load_settings_or_exit() -> Settings:
    """Read the settings for a service's entry point; print what is wrong and exit 2 when invalid."""
    try:
        return get_settings()
    except (ValidationError, SettingsError) as error:
        print(f"invalid settings: {error}", file=sys.stderr)
        raise SystemExit(2) from error
