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
    "AuthSession",
    "AuthState",
    "Credential",
    "Event",
    "PartnerSettings",
    "Property",
    "Revocation",
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
    # The refresh lifecycle (DESIGN.md §8; SECURITY.md §3.2):
    scope: str | None = None  # the scope the provider granted
    lease_owner: str | None = None  # who may refresh it now, until lease_until
    lease_until: datetime | None = None
    attempt_id: str | None = None  # a refresh was sent and has not finished
    attempt_started_utc: datetime | None = None
    failures: int = 0  # consecutive transient failures
    first_failure_utc: datetime | None = None
    retry_after_utc: datetime | None = None  # no automatic attempt before this
    next_refresh_utc: datetime | None = None  # when the background refresher looks next

    def leased(self, now: datetime) -> bool:
        """Someone holds the refresh lease right now."""
        return self.lease_until is not None and self.lease_until > now


@dataclass(frozen=True)
class AuthSession:
    """One browser flow in progress (DESIGN.md §7): everything about it lives here, keyed by the
    hash of its state; nothing is decoded from the state itself (SECURITY.md F-03)."""

    state_hash: str
    account_connector_id: int
    account_pk: int
    username: str | None
    binding_hash: str  # SHA-256 of the browser-binding cookie (F-02)
    sealed: str  # sealed JSON: PKCE verifier, endpoints, issuer, redirect URI, client id
    completion: str  # JSON: how to tell the partner's page (mode, target, messages)
    created_utc: datetime
    expires_utc: datetime
    consumed_utc: datetime | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class Event:
    """An outbox entry: one state change of an account connector, delivered to the partner's
    webhook at least once under a stable id (DESIGN.md §8)."""

    id: str
    type: str
    created_utc: datetime
    account_id: str | None
    account_connector_id: int | None
    data: dict[str, object] = field(default_factory=dict)
    attempts: int = 0
    next_attempt_utc: datetime | None = None
    delivered_utc: datetime | None = None
    failed_utc: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    redelivered_utc: datetime | None = None  # the last redelivery: its retry window's start


@dataclass(frozen=True)
class Revocation:
    """A queued RFC 7009 revocation: the tokens, endpoint and client authentication sealed."""

    id: str
    connector_id: int
    account_connector_id: int | None
    sealed: str | None
    created_utc: datetime
    attempts: int = 0
    next_attempt_utc: datetime | None = None
    finished_utc: datetime | None = None
    outcome: str | None = None
    last_error: str | None = None


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
