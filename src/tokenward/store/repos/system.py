"""Partner settings, idempotency records, the audit log and store metadata."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from tokenward.domain.models import PartnerSettings
from tokenward.services.ports.system import AuditEntry, IdempotencyRecord
from tokenward.store.repos._upsert import upsert
from tokenward.store.tables import audit_log, idempotency_keys, meta, partner_settings

__all__ = ["SqlAuditRepo", "SqlIdempotencyRepo", "SqlMetaRepo", "SqlPartnerRepo"]


_PARTNER_GET = select(partner_settings).where(partner_settings.c.id == 1)  # built once: hot path


class SqlPartnerRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def get(self) -> PartnerSettings:
        row = self._c.execute(_PARTNER_GET).first()
        if row is None:
            return PartnerSettings()
        return PartnerSettings(
            allowed_target_origins=tuple(json.loads(row.allowed_target_origins)),
            webhook_url=row.webhook_url,
            webhook_secret_sealed=row.webhook_secret_sealed,
            api_token_lifetime_seconds=row.api_token_lifetime_seconds,
            signin_token_lifetime_seconds=row.signin_token_lifetime_seconds,
            reveal_partner_auth_value=bool(row.reveal_partner_auth_value),
        )

    def put(self, settings: PartnerSettings, now: datetime) -> None:
        upsert(
            self._c,
            partner_settings,
            "id",
            {
                "id": 1,
                "allowed_target_origins": json.dumps(list(settings.allowed_target_origins)),
                "webhook_url": settings.webhook_url,
                "webhook_secret_sealed": settings.webhook_secret_sealed,
                "api_token_lifetime_seconds": settings.api_token_lifetime_seconds,
                "signin_token_lifetime_seconds": settings.signin_token_lifetime_seconds,
                "reveal_partner_auth_value": settings.reveal_partner_auth_value,
                "updated_utc": now,
            },
        )


class SqlIdempotencyRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def reserve(self, scope: str, key: str, request_hash: str, now: datetime) -> bool:
        try:
            with self._c.begin_nested():
                self._c.execute(
                    insert(idempotency_keys).values(
                        scope=scope, key=key, request_hash=request_hash, created_utc=now
                    )
                )
        except IntegrityError:
            return False
        return True

    def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        row = self._c.execute(
            select(idempotency_keys).where(
                idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
            )
        ).first()
        if row is None:
            return None
        return IdempotencyRecord(
            request_hash=row.request_hash,
            status_code=row.status_code,
            response=row.response_sealed,
            created_utc=row.created_utc,
        )

    def complete(self, scope: str, key: str, status_code: int, response: str) -> None:
        self._c.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
            .values(status_code=status_code, response_sealed=response)
        )

    def release(self, scope: str, key: str) -> None:
        self._c.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
            )
        )

    def purge(self, before: datetime) -> int:
        result = self._c.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_utc < before)
        )
        return int(result.rowcount)


def _entry(row: Any) -> AuditEntry:
    return AuditEntry(
        at_utc=row.at_utc,
        actor=row.actor,
        action=row.action,
        account_id=row.account_id,
        account_connector_id=row.account_connector_id,
        detail=row.detail,
    )


_AUDIT_COPY = (
    "COPY audit_log (at_utc, actor, action, account_id, account_connector_id, detail) FROM STDIN"
)


_AUDIT_INSERT = (
    "INSERT INTO audit_log (at_utc, actor, action, account_id, account_connector_id, detail)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


class SqlAuditRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, entries: list[AuditEntry]) -> None:
        """A batch of the hot paths' entries on the driver itself: one ``COPY`` on PostgreSQL
        (psycopg formats the rows in C), sqlite3's ``executemany`` on SQLite; either costs a
        fraction of the CPU of an ``executemany`` through SQLAlchemy."""
        if not entries:
            return
        # the time as the column's own type writes it (UTCDateTime: refuses naive values;
        # naive UTC text on SQLite)
        at: Callable[[Any], Any] = audit_log.c.at_utc.type.bind_processor(self._c.dialect) or (
            lambda value: value
        )
        rows = [
            (at(e.at_utc), e.actor, e.action, e.account_id, e.account_connector_id, e.detail)
            for e in entries
        ]
        if self._c.dialect.driver == "psycopg":
            cursor = self._c.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                with cursor.copy(_AUDIT_COPY) as copy:
                    for row in rows:
                        copy.write_row(row)
            finally:
                cursor.close()
            return
        driver = self._c.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)  # the two supported backends
        driver.executemany(_AUDIT_INSERT, rows)

    def list(self, limit: int = 100, offset: int = 0) -> list[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
        return [_entry(row) for row in self._c.execute(query)]

    def purge(self, before: datetime) -> int:
        return int(self._c.execute(delete(audit_log).where(audit_log.c.at_utc < before)).rowcount)


class SqlMetaRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def get(self, name: str) -> str | None:
        row = self._c.execute(select(meta.c.value).where(meta.c.name == name)).first()
        return str(row[0]) if row else None

    def put(self, name: str, value: str) -> None:
        upsert(self._c, meta, "name", {"name": name, "value": value})
