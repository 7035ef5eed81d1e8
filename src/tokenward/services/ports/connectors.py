"""Ports for the application connector library, custom connectors and account connectors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tokenward.domain.models import (
    Account,
    AccountConnector,
    ApplicationConnector,
    Credential,
    Property,
)

__all__ = [
    "AccountConnectorRead",
    "AccountConnectorRepo",
    "ApplicationConnectorRepo",
    "CustomConnectorRepo",
    "PropertyRepo",
]


class ApplicationConnectorRepo(Protocol):
    def get(self, connector_id: int) -> ApplicationConnector | None: ...
    def list(self) -> list[ApplicationConnector]: ...
    def put(self, entry: ApplicationConnector, now: datetime) -> None: ...
    def delete(self, connector_id: int) -> None: ...


class CustomConnectorRepo(Protocol):
    def list(self) -> list[tuple[int, dict[str, Any]]]: ...
    def get(self, connector_id: int) -> dict[str, Any] | None: ...
    def next_id(self) -> int: ...
    def put(self, connector_id: int, definition: dict[str, Any], now: datetime) -> None: ...
    def delete(self, connector_id: int) -> bool: ...
    def version(self) -> str:
        """A value that changes whenever any custom connector changes (cache invalidation)."""
        ...


@dataclass(frozen=True)
class AccountConnectorRead:
    """One account connector as the hot read finds it: the account (None if unknown), the
    account connector (None if not in that account), the partner's reveal setting and the custom
    connectors' version as of the same read (``CustomConnectorRepo.version``; None: not read)."""

    account: Account | None
    item: AccountConnector | None
    reveal: bool
    catalog_version: str | None = None


class AccountConnectorRepo(Protocol):
    def add(
        self,
        account_pk: int,
        connector_id: int,
        authentication_id: str | None,
        name: str,
        description: str | None,
        is_partner_integration: bool,
        now: datetime,
    ) -> int: ...
    def get(self, account_pk: int, account_connector_id: int) -> AccountConnector | None: ...
    def list(self, account_pk: int) -> list[AccountConnector]: ...
    def name_taken(self, account_pk: int, name: str, except_id: int | None = None) -> bool: ...
    def update(self, connector: AccountConnector, now: datetime) -> None: ...
    def delete(self, account_connector_id: int) -> None: ...
    def put_credential(self, credential: Credential, now: datetime) -> None: ...
    def count_using_connector(self, connector_id: int) -> int: ...
    def read_for_account(
        self, account_id: str, account_connector_id: int, *, properties: bool = True
    ) -> AccountConnectorRead:
        """Account, account connector and reveal setting in one round trip (the hot read).
        ``properties=False``: without the account connector's properties (an empty tuple) and
        the reveal setting (False), for reads that need only the credential."""
        ...


class PropertyRepo(Protocol):
    def add(
        self,
        account_connector_id: int,
        name: str,
        value: str | None,
        is_sensitive: bool,
        sealed: str | None,
    ) -> Property: ...
    def update(self, prop: Property) -> None: ...
    def delete(self, property_id: int) -> None: ...
