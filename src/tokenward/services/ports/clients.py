"""Ports for API clients and the bearer tokens issued to them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tokenward.domain.models import ApiClient, ApiToken

__all__ = ["ApiClientRepo", "ApiTokenRepo"]


class ApiClientRepo(Protocol):
    def add(self, client: ApiClient) -> None: ...
    def get(self, client_id: str) -> ApiClient | None: ...
    def list(self) -> list[ApiClient]: ...
    def revoke(self, client_id: str, now: datetime) -> bool: ...


class ApiTokenRepo(Protocol):
    def add(self, token: ApiToken) -> None: ...
    def get(self, token_hash: str) -> ApiToken | None: ...
    def take_by_refresh_hash(self, refresh_hash: str) -> ApiToken | None:
        """Delete and return the token holding this refresh token (single use)."""
        ...

    def purge(self, before: datetime, refreshable_before: datetime | None = None) -> int:
        """Delete tokens expired before ``before``; those holding a refresh token only when
        expired before ``refreshable_before`` (default: ``before``)."""
        ...
