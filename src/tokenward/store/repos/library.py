"""The partner's connector library: application connectors (OAuth apps) and custom connectors.

Application connectors hold the partner's client credentials per connector; custom connectors
are whole connector definitions stored as JSON so that every process sees them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from tokenward.catalog.checks import CUSTOM_CONNECTOR_FIRST_ID
from tokenward.domain.models import ApplicationConnector
from tokenward.store.repos._upsert import upsert
from tokenward.store.repos.hot_reads import custom_connectors_version
from tokenward.store.tables import application_connectors, custom_connectors

__all__ = ["SqlApplicationConnectorRepo", "SqlCustomConnectorRepo"]


def _app(row: Any) -> ApplicationConnector:
    return ApplicationConnector(
        connector_id=row.connector_id,
        client_id=row.client_id,
        client_secret_sealed=row.client_secret_sealed,
        scopes=tuple(json.loads(row.scopes)) if row.scopes is not None else None,
        settings=json.loads(row.settings or "{}"),
        enabled=bool(row.enabled),
    )


class SqlApplicationConnectorRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def get(self, connector_id: int) -> ApplicationConnector | None:
        row = self._c.execute(
            select(application_connectors).where(
                application_connectors.c.connector_id == connector_id
            )
        ).first()
        return _app(row) if row else None

    def list(self) -> list[ApplicationConnector]:
        query = select(application_connectors).order_by(application_connectors.c.connector_id)
        return [_app(row) for row in self._c.execute(query)]

    def put(self, entry: ApplicationConnector, now: datetime) -> None:
        upsert(
            self._c,
            application_connectors,
            "connector_id",
            {
                "connector_id": entry.connector_id,
                "client_id": entry.client_id,
                "client_secret_sealed": entry.client_secret_sealed,
                "scopes": json.dumps(list(entry.scopes)) if entry.scopes is not None else None,
                "settings": json.dumps(entry.settings),
                "enabled": entry.enabled,
                "updated_utc": now,
            },
        )

    def delete(self, connector_id: int) -> None:
        self._c.execute(
            delete(application_connectors).where(
                application_connectors.c.connector_id == connector_id
            )
        )


class SqlCustomConnectorRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def list(self) -> list[tuple[int, dict[str, Any]]]:
        query = select(custom_connectors).order_by(custom_connectors.c.id)
        return [(row.id, json.loads(row.definition)) for row in self._c.execute(query)]

    def get(self, connector_id: int) -> dict[str, Any] | None:
        row = self._c.execute(
            select(custom_connectors).where(custom_connectors.c.id == connector_id)
        ).first()
        return json.loads(row.definition) if row else None

    def next_id(self) -> int:
        current = self._c.execute(select(func.max(custom_connectors.c.id))).scalar()
        return max(int(current or 0) + 1, CUSTOM_CONNECTOR_FIRST_ID)

    def put(self, connector_id: int, definition: dict[str, Any], now: datetime) -> None:
        exists = self.get(connector_id) is not None
        if exists:
            self._c.execute(
                update(custom_connectors)
                .where(custom_connectors.c.id == connector_id)
                .values(definition=json.dumps(definition), updated_utc=now)
            )
        else:
            self._c.execute(
                insert(custom_connectors).values(
                    id=connector_id,
                    definition=json.dumps(definition),
                    created_utc=now,
                    updated_utc=now,
                )
            )

    def delete(self, connector_id: int) -> bool:
        result = self._c.execute(
            delete(custom_connectors).where(custom_connectors.c.id == connector_id)
        )
        return result.rowcount == 1

    def version(self) -> str:
        return custom_connectors_version(self._c)
