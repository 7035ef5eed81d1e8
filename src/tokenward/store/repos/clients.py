"""API clients and their bearer tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from tokenward.domain.models import ApiClient, ApiToken
from tokenward.store.tables import api_clients, api_tokens

__all__ = ["SqlApiClientRepo", "SqlApiTokenRepo"]


def _client(row: Any) -> ApiClient:
    return ApiClient(
        client_id=row.client_id,
        name=row.name,
        secret_hash=row.secret_hash,
        created_utc=row.created_utc,
        revoked_utc=row.revoked_utc,
    )


class SqlApiClientRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, client: ApiClient) -> None:
        self._c.execute(
            insert(api_clients).values(
                client_id=client.client_id,
                name=client.name,
                secret_hash=client.secret_hash,
                created_utc=client.created_utc,
            )
        )

    def get(self, client_id: str) -> ApiClient | None:
        row = self._c.execute(
            select(api_clients).where(api_clients.c.client_id == client_id)
        ).first()
        return _client(row) if row else None

    def list(self) -> list[ApiClient]:
        query = select(api_clients).order_by(api_clients.c.created_utc)
        return [_client(row) for row in self._c.execute(query)]

    def revoke(self, client_id: str, now: datetime) -> bool:
        result = self._c.execute(
            update(api_clients)
            .where(api_clients.c.client_id == client_id, api_clients.c.revoked_utc.is_(None))
            .values(revoked_utc=now)
        )
        # A revoked client's live bearer tokens die with it.
        self._c.execute(delete(api_tokens).where(api_tokens.c.client_id == client_id))
        return result.rowcount == 1


def _token(row: Any) -> ApiToken:
    return ApiToken(
        token_hash=row.token_hash,
        client_id=row.client_id,
        issued_utc=row.issued_utc,
        expires_utc=row.expires_utc,
        account_id=row.account_id,
        username=row.username,
        refresh_token_hash=row.refresh_token_hash,
    )


class SqlApiTokenRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, token: ApiToken) -> None:
        self._c.execute(
            insert(api_tokens).values(
                token_hash=token.token_hash,
                client_id=token.client_id,
                account_id=token.account_id,
                username=token.username,
                refresh_token_hash=token.refresh_token_hash,
                issued_utc=token.issued_utc,
                expires_utc=token.expires_utc,
            )
        )

    def get(self, token_hash: str) -> ApiToken | None:
        row = self._c.execute(
            select(api_tokens).where(api_tokens.c.token_hash == token_hash)
        ).first()
        return _token(row) if row else None

    def take_by_refresh_hash(self, refresh_hash: str) -> ApiToken | None:
        row = self._c.execute(
            delete(api_tokens)
            .where(api_tokens.c.refresh_token_hash == refresh_hash)
            .returning(*api_tokens.c)
        ).first()
        return _token(row) if row else None

    def purge(self, before: datetime, refreshable_before: datetime | None = None) -> int:
        refreshable_before = refreshable_before or before
        result = self._c.execute(
            delete(api_tokens).where(
                api_tokens.c.expires_utc < before,
                or_(
                    api_tokens.c.refresh_token_hash.is_(None),
                    api_tokens.c.expires_utc < refreshable_before,
                ),
            )
        )
        return int(result.rowcount)
