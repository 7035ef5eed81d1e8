"""Ports for the credential lifecycle: credentials with their refresh lease, auth sessions, the
event outbox and the revocation queue (DESIGN.md §7, §8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tokenward.domain.models import AuthSession, Credential, Event, Revocation

__all__ = ["AuthSessionRepo", "CredentialRepo", "DueCredential", "EventRepo", "RevocationRepo"]


@dataclass(frozen=True)
class DueCredential:
    """A credential the background refresher should look at now."""

    account_connector_id: int
    connector_id: int
    account_pk: int
    account_id: str


class CredentialRepo(Protocol):
    def get(self, account_connector_id: int) -> Credential | None: ...

    def swap(
        self,
        new: Credential,
        now: datetime,
        *,
        expected_version: int,
        lease_free_at: datetime | None = None,
        owner: str | None = None,
    ) -> bool:
        """Write ``new`` (every column) only if the stored version is ``expected_version``
        (compare-and-swap, SECURITY.md R-10/R-11); with ``lease_free_at`` only if nobody holds
        the lease at that time (taking it); with ``owner`` only if ``owner`` holds it. True if
        the row was written."""
        ...

    def due(self, now: datetime, limit: int) -> list[DueCredential]:
        """Usable credentials whose ``next_refresh_utc`` has come and that nobody is
        refreshing, earliest first."""
        ...


class AuthSessionRepo(Protocol):
    def add(self, session: AuthSession) -> None: ...
    def get(self, state_hash: str) -> AuthSession | None: ...

    def consume(self, state_hash: str, now: datetime) -> AuthSession | None:
        """Mark the session consumed, atomically and once (C-03): the session if this call
        consumed it, None if it is unknown or was consumed before."""
        ...

    def finish(self, state_hash: str, outcome: str) -> None: ...
    def purge(self, before: datetime) -> int: ...


class EventRepo(Protocol):
    def add(self, event: Event) -> None: ...
    def get(self, event_id: str) -> Event | None: ...

    def page(self, *, offset: int, limit: int) -> tuple[list[Event], int]:
        """Newest first, with the total count."""
        ...

    def claim(self, now: datetime, owner: str, until: datetime, limit: int) -> list[Event]:
        """Due events (``next_attempt_utc <= now``) leased to ``owner`` until ``until``."""
        ...

    def record_attempt(
        self,
        event_id: str,
        owner: str,
        *,
        attempts: int,
        next_attempt_utc: datetime | None,
        delivered_utc: datetime | None,
        failed_utc: datetime | None,
        last_status: int | None,
        last_error: str | None,
    ) -> None: ...

    def redeliver(self, event_id: str, now: datetime) -> bool:
        """Schedule a delivered or given-up event again (same id)."""
        ...


class RevocationRepo(Protocol):
    def add(self, item: Revocation) -> None: ...
    def get(self, revocation_id: str) -> Revocation | None: ...
    def claim(self, now: datetime, owner: str, until: datetime, limit: int) -> list[Revocation]: ...

    def record_attempt(
        self,
        revocation_id: str,
        owner: str,
        *,
        attempts: int,
        next_attempt_utc: datetime | None,
        finished_utc: datetime | None,
        outcome: str | None,
        last_error: str | None,
        keep_secret: bool,
    ) -> None:
        """Store an attempt's result; ``keep_secret`` False destroys the sealed tokens (V-03)."""
        ...
