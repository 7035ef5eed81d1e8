"""Ports for partner settings, idempotency records, the audit log and store metadata."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tokenward.domain.models import PartnerSettings

__all__ = [
    "AuditEntry",
    "AuditRepo",
    "IdempotencyRecord",
    "IdempotencyRepo",
    "MetaRepo",
    "PartnerRepo",
]


class PartnerRepo(Protocol):
    def get(self) -> PartnerSettings: ...
    def put(self, settings: PartnerSettings, now: datetime) -> None: ...


@dataclass(frozen=True)
class IdempotencyRecord:
    request_hash: str
    status_code: int | None  # None while the first request is still running
    response: str | None
    created_utc: datetime


class IdempotencyRepo(Protocol):
    def reserve(self, scope: str, key: str, request_hash: str, now: datetime) -> bool:
        """Insert an in-progress record; False if one exists already."""
        ...

    def get(self, scope: str, key: str) -> IdempotencyRecord | None: ...
    def complete(self, scope: str, key: str, status_code: int, response: str) -> None: ...
    def release(self, scope: str, key: str) -> None: ...
    def purge(self, before: datetime) -> int: ...


@dataclass(frozen=True)
class AuditEntry:
    at_utc: datetime
    actor: str
    action: str
    account_id: str | None = None
    account_connector_id: int | None = None
    detail: str | None = None


class AuditRepo(Protocol):
    def add(self, entries: list[AuditEntry]) -> None: ...
    def list(self, limit: int = 100, offset: int = 0) -> list[AuditEntry]:
        """Newest first, skipping the ``offset`` newest."""
        ...

    def purge(self, before: datetime) -> int: ...


class MetaRepo(Protocol):
    def get(self, name: str) -> str | None: ...
    def put(self, name: str, value: str) -> None: ...
