"""Settings from ``TOKENWARD_*`` environment variables (or a ``.env`` file), loaded once.

The app factory and the CLI call :func:`load_settings`; nothing reads the environment at import
time. Invalid values raise :class:`~tokenward.errors.ConfigurationError` naming every problem.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tokenward.errors import ConfigurationError

__all__ = ["DEFAULT_DATA_DIR", "Settings", "load_settings"]

DEFAULT_DATA_DIR = Path("tokenward-data")


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of a tokenward deployment. See ``docs/configuration.md``."""

    model_config = SettingsConfigDict(
        env_prefix="TOKENWARD_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str | None = Field(
        default=None,
        description="sqlite:///path or postgresql+psycopg://…; default: the data folder",
    )
    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="embedded default's folder")
    service_url: str = Field(default="http://127.0.0.1:8000", description="public base URL")
    encryption_keys: SecretStr | None = Field(
        default=None, description="'kid:base64key,…' — the first key is the primary"
    )
    key_file: Path | None = Field(default=None, description="JSON key file (mode 0600)")
    allowed_target_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    catalog_dirs: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    allow_insecure_http: bool = False
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_token_lifetime_seconds: int = Field(default=14 * 24 * 3600, ge=60, le=366 * 24 * 3600)
    signin_token_lifetime_seconds: int = Field(default=300, ge=30, le=3600)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    audit_retention_days: int = Field(default=90, ge=1)
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    # Credentials over time (DESIGN.md §8; docs/credentials.md):
    provider_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    refresh_attempts: int = Field(default=3, ge=1, le=10)
    refresh_keepalive_hours: float = Field(default=24.0, ge=0)
    refresh_exhausted_after_hours: float = Field(default=96.0, gt=0)
    refresher_enabled: bool = True
    refresher_concurrency: int = Field(default=4, ge=1, le=256)
    refresh_window_seconds: int = Field(default=300, ge=0, le=86_400)
    # The browser webflow (docs/webflow.md):
    flow_cookie_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="binding cookie name; default __Host-tw_flow (https) or tw_flow (http)",
    )
    webflow_rate_limit_per_minute: int = Field(default=120, ge=1, le=1_000_000)

    @field_validator("allowed_target_origins", "catalog_dirs", "trusted_proxies", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("service_url")
    @classmethod
    def _service_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL such as https://auth.example.com")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("sqlite:///", "postgresql+psycopg://", "postgresql://")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        if value.startswith("postgresql://"):
            return "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("allowed_target_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        bad = [origin for origin in value if not _is_origin(origin)]
        if bad:
            raise ValueError(f"not origins (scheme://host[:port]): {', '.join(bad)}")
        return value

    @field_validator("flow_cookie_name")
    @classmethod
    def _flow_cookie_name(cls, value: str | None, info: ValidationInfo) -> str | None:
        https = str(info.data.get("service_url", "")).startswith("https://")
        if value and value.startswith(("__Host-", "__Secure-")) and not https:
            raise ValueError("a __Host- or __Secure- cookie needs an https SERVICE_URL")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {item}") from None
        return value

    @property
    def service_is_https(self) -> bool:
        return self.service_url.startswith("https://")

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'tokenward.db').as_posix()}"

    @property
    def uses_embedded_default(self) -> bool:
        return self.database_url is None and self.encryption_keys is None and self.key_file is None


def _is_origin(value: str) -> bool:
    parts = urlsplit(value)
    return (
        parts.scheme in {"http", "https"}
        and bool(parts.hostname)
        and parts.path in {"", "/"}
        and not parts.query
        and not parts.fragment
        and "@" not in parts.netloc
    )


def load_settings(**overrides: Any) -> Settings:
    """Load settings, turning validation errors into one ConfigurationError naming each problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = [
            f"TOKENWARD_{'_'.join(str(p) for p in err['loc'][:1]).upper()}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigurationError(problems) from None
