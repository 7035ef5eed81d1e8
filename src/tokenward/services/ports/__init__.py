"""The store as the services see it: a database opening transactions over repositories.

``tokenward.store`` implements these protocols; services depend on nothing else of it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from tokenward.services.ports.accounts import AccountRepo, SignInTokenRepo, UserRepo
from tokenward.services.ports.clients import ApiClientRepo, ApiTokenRepo
from tokenward.services.ports.connectors import (
    AccountConnectorRepo,
    ApplicationConnectorRepo,
    CustomConnectorRepo,
    PropertyRepo,
)
from tokenward.services.ports.lifecycle import (
    AuthSessionRepo,
    CredentialRepo,
    EventRepo,
    RevocationRepo,
)
from tokenward.services.ports.system import AuditRepo, IdempotencyRepo, MetaRepo, PartnerRepo

__all__ = [
    "AccountConnectorRepo",
    "AccountRepo",
    "ApiClientRepo",
    "ApiTokenRepo",
    "ApplicationConnectorRepo",
    "AuditRepo",
    "AuthSessionRepo",
    "CredentialRepo",
    "CustomConnectorRepo",
    "Database",
    "EventRepo",
    "IdempotencyRepo",
    "MetaRepo",
    "PartnerRepo",
    "PropertyRepo",
    "RevocationRepo",
    "SignInTokenRepo",
    "Tx",
    "UserRepo",
]


class Tx(Protocol):
    """The repositories inside one transaction."""

    @property
    def api_clients(self) -> ApiClientRepo: ...
    @property
    def api_tokens(self) -> ApiTokenRepo: ...
    @property
    def accounts(self) -> AccountRepo: ...
    @property
    def users(self) -> UserRepo: ...
    @property
    def signin_tokens(self) -> SignInTokenRepo: ...
    @property
    def account_connectors(self) -> AccountConnectorRepo: ...
    @property
    def properties(self) -> PropertyRepo: ...
    @property
    def application_connectors(self) -> ApplicationConnectorRepo: ...
    @property
    def custom_connectors(self) -> CustomConnectorRepo: ...
    @property
    def partner(self) -> PartnerRepo: ...
    @property
    def idempotency(self) -> IdempotencyRepo: ...
    @property
    def audit(self) -> AuditRepo: ...
    @property
    def meta(self) -> MetaRepo: ...
    @property
    def credentials(self) -> CredentialRepo: ...
    @property
    def auth_sessions(self) -> AuthSessionRepo: ...
    @property
    def events(self) -> EventRepo: ...
    @property
    def revocations(self) -> RevocationRepo: ...


class Database(Protocol):
    """Opens transactions. ``write()`` serialises writers where the backend needs it."""

    def read(self) -> AbstractContextManager[Tx]: ...
    def write(self) -> AbstractContextManager[Tx]: ...
