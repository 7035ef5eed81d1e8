"""The store as the services see it: a database opening transactions over repositories.

``tokenward.store`` implements these protocols; services depend on nothing else of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from tokenward.services.ports.accounts import AccountRepo, SignInTokenRepo, UserRepo
from tokenward.services.ports.clients import ApiClientRepo, ApiTokenRepo
from tokenward.services.ports.connectors import (
    AccountConnectorRead,
    AccountConnectorRepo,
    ApplicationConnectorRepo,
    CustomConnectorRepo,
    PropertyRepo,
)
from tokenward.services.ports.console import ConsoleSessionRepo, ConsoleUserRepo
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
    "ConsoleSessionRepo",
    "ConsoleUserRepo",
    "CredentialRepo",
    "CustomConnectorRepo",
    "Database",
    "EventRepo",
    "IdempotencyRepo",
    "MetaRepo",
    "NotPrefetched",
    "Outcome",
    "PartnerRepo",
    "Prefetched",
    "PropertyRepo",
    "RevocationRepo",
    "SignInTokenRepo",
    "Tx",
    "UserRepo",
]

T = TypeVar("T")


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
    @property
    def console_users(self) -> ConsoleUserRepo: ...
    @property
    def console_sessions(self) -> ConsoleSessionRepo: ...


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What one unit of :meth:`Database.write_each` returned, or the exception it raised."""

    value: T | None
    error: Exception | None = None

    def unwrap(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # None only when T admits it


class NotPrefetched(Exception):  # a signal to the caller, not an error
    """A read answered from a prefetched result needed something it does not hold."""


@dataclass(frozen=True)
class Prefetched:
    """The hot read of account connector ``ac_id`` of account ``account_id``, made ahead."""

    account_id: str
    ac_id: int
    properties: bool
    found: AccountConnectorRead


class Database(Protocol):
    """Opens transactions. ``write()`` serialises writers where the backend needs it.
    ``write_each`` runs several units of work in one transaction, each in a savepoint (group
    commit: :mod:`tokenward.services.group_commit`)."""

    def read(self, *, snapshot: bool = True) -> AbstractContextManager[Tx]:
        """A read. ``snapshot=False``: the statements need not share one snapshot (a read that
        is one statement, or whose statements are independent) — it saves BEGIN and COMMIT
        on the embedded database; PostgreSQL reads never share one (READ COMMITTED)."""
        ...

    def write(self) -> AbstractContextManager[Tx]: ...
    def write_each(self, units: Sequence[Callable[[Tx], T]]) -> list[Outcome[T]]: ...

    async def prefetch(self, account_id: str, ac_id: int, *, properties: bool) -> Prefetched | None:
        """The hot read (``AccountConnectorRepo.read_for_account``) made on the event loop,
        where the backend has a way to (PostgreSQL); None where it has not or could not."""
        ...

    def answering(self, prefetched: Prefetched) -> AbstractContextManager[None]:
        """Within: ``read()`` gives a transaction whose ``read_for_account`` of exactly that
        account connector answers ``prefetched``; anything else raises :class:`NotPrefetched`."""
        ...

    async def aclose_loop(self) -> None:
        """Close what :meth:`prefetch` opened on the running event loop."""
        ...
