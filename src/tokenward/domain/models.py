"""Entities as the services see them (the store maps rows to and from these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "Account",
    "AccountConnector",
    "ApiClient",
    "ApiToken",
    "ApplicationConnector",
    "AuthState",
    "Credential",
    "PartnerSettings",
    "Property",
    "SignInToken",
    "User",
]


class AuthState(StrEnum):
    """The state of an account connector's credential (DESIGN.md §8)."""

    UNAUTHENTICATED = "unauthenticated"
    ACTIVE = "active"
    REFRESHING = "refreshing"
    NEEDS_REAUTH = "needs_reauth"
    ERROR_CONFIG = "error_config"
    EXHAUSTED = "exhausted"


@dataclass(frozen=True)
class ApiClient:
    client_id: str
    name: str
    secret_hash: str
    created_utc: datetime
    revoked_utc: datetime | None = None


@dataclass(frozen=True)
class ApiToken:
    """A bearer token issued by ``/oauth/token`` (only its hash is stored)."""

    token_hash: str
    client_id: str
    issued_utc: datetime
    expires_utc: datetime
    account_id: str | None = None  # restricted to this account's API ID
    username: str | None = None
    refresh_token_hash: str | None = None


@dataclass(frozen=True)
class Account:
    pk: int
    id: str  # the API ID
    name: str
    description: str | None
    timezone: str | None
    created_utc: datetime


@dataclass(frozen=True)
class User:
    pk: int
    account_pk: int
    username: str
    password_hash: str | None


@dataclass(frozen=True)
class SignInToken:
    token_hash: str
    account_pk: int
    username: str
    expires_utc: datetime
    used_utc: datetime | None = None


@dataclass(frozen=True)
class Property:
    id: int
    account_connector_id: int
    name: str
    value: str | None  # plaintext for ordinary properties
    is_sensitive: bool = False
    sealed: str | None = None  # the sealed value of a sensitive property


@dataclass(frozen=True)
class Credential:
    """The secret part of an account connector plus its lifecycle fields."""

    account_connector_id: int
    state: AuthState = AuthState.UNAUTHENTICATED
    version: int = 0
    secret_sealed: str | None = None  # the sealed AuthValue document (JSON text or raw string)
    masked: str | None = None  # the AuthValue as reads show it (no secret inside)
    expires_utc: datetime | None = None
    refresh_expires_utc: datetime | None = None
    last_refreshed_utc: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class AccountConnector:
    id: int
    account_pk: int
    connector_id: int
    authentication_id: str | None
    name: str
    description: str | None
    is_partner_integration: bool
    created_utc: datetime
    properties: tuple[Property, ...] = ()
    credential: Credential | None = None


@dataclass(frozen=True)
class ApplicationConnector:
    connector_id: int
    client_id: str | None = None
    client_secret_sealed: str | None = None
    scopes: tuple[str, ...] | None = None
    settings: dict[str, str] = field(default_factory=dict)
    enabled: bool = True


@dataclass(frozen=True)
class PartnerSettings:
    allowed_target_origins: tuple[str, ...] = ()
    webhook_url: str | None = None
    webhook_secret_sealed: str | None = None
    api_token_lifetime_seconds: int | None = None
    signin_token_lifetime_seconds: int | None = None
    reveal_partner_auth_value: bool = False
