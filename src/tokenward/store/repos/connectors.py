"""Account connectors, their credentials and their properties."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from tokenward.domain.models import AccountConnector, AuthState, Credential, Property
from tokenward.services.ports.connectors import AccountConnectorRead
from tokenward.store.repos._upsert import upsert
from tokenward.store.repos.hot_reads import read_account_connector
from tokenward.store.repos.lifecycle import credential_values
from tokenward.store.tables import account_connectors, credentials, properties

__all__ = [
    "SqlAccountConnectorRepo",
    "SqlPropertyRepo",
]


def _credential(row: Any) -> Credential | None:
    if row.state is None:
        return None
    return Credential(
        account_connector_id=row.id,
        state=AuthState(row.state),
        version=int(row.version),
        secret_sealed=row.secret_sealed,
        masked=row.masked,
        expires_utc=row.expires_utc,
        refresh_expires_utc=row.refresh_expires_utc,
        last_refreshed_utc=row.last_refreshed_utc,
        error_code=row.error_code,
        error_message=row.error_message,
    )


def _property(row: Any) -> Property:
    return Property(
        id=row.id,
        account_connector_id=row.account_connector_id,
        name=row.name,
        value=row.value,
        is_sensitive=bool(row.is_sensitive),
        sealed=row.value_sealed,
    )


_AC_COLUMNS = [
    *account_connectors.c,
    credentials.c.state,
    credentials.c.version,
    credentials.c.secret_sealed,
    credentials.c.masked,
    credentials.c.expires_utc,
    credentials.c.refresh_expires_utc,
    credentials.c.last_refreshed_utc,
    credentials.c.error_code,
    credentials.c.error_message,
]


# Hot-path statements are built once: building a SELECT costs more than running it on SQLite.
_AC_SELECT = select(*_AC_COLUMNS).select_from(
    account_connectors.outerjoin(
        credentials, credentials.c.account_connector_id == account_connectors.c.id
    )
)
_AC_GET = _AC_SELECT.where(
    account_connectors.c.id == bindparam("ac_id"),
    account_connectors.c.account_pk == bindparam("pk"),
)
_PROPERTIES_OF = (
    select(properties)
    .where(properties.c.account_connector_id.in_(bindparam("ids", expanding=True)))
    .order_by(properties.c.id)
)


class SqlAccountConnectorRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(
        self,
        account_pk: int,
        connector_id: int,
        authentication_id: str | None,
        name: str,
        description: str | None,
        is_partner_integration: bool,
        now: datetime,
    ) -> int:
        pk = self._c.execute(
            insert(account_connectors).values(
                account_pk=account_pk,
                connector_id=connector_id,
                authentication_id=authentication_id,
                name=name,
                description=description,
                is_partner_integration=is_partner_integration,
                created_utc=now,
                updated_utc=now,
            )
        ).inserted_primary_key
        assert pk is not None
        return int(pk[0])

    def _select(self) -> Any:
        return _AC_SELECT

    def _load(self, rows: list[Any]) -> list[AccountConnector]:
        ids = [row.id for row in rows]
        props: dict[int, list[Property]] = {i: [] for i in ids}
        if ids:
            for prow in self._c.execute(_PROPERTIES_OF, {"ids": ids}):
                props[prow.account_connector_id].append(_property(prow))
        return [
            AccountConnector(
                id=row.id,
                account_pk=row.account_pk,
                connector_id=row.connector_id,
                authentication_id=row.authentication_id,
                name=row.name,
                description=row.description,
                is_partner_integration=bool(row.is_partner_integration),
                created_utc=row.created_utc,
                properties=tuple(props[row.id]),
                credential=_credential(row),
            )
            for row in rows
        ]

    def get(self, account_pk: int, account_connector_id: int) -> AccountConnector | None:
        rows = list(self._c.execute(_AC_GET, {"ac_id": account_connector_id, "pk": account_pk}))
        loaded = self._load(rows)
        return loaded[0] if loaded else None

    def list(self, account_pk: int) -> list[AccountConnector]:
        query = (
            self._select()
            .where(account_connectors.c.account_pk == account_pk)
            .order_by(account_connectors.c.id)
        )
        return self._load(list(self._c.execute(query)))

    def name_taken(self, account_pk: int, name: str, except_id: int | None = None) -> bool:
        query = select(account_connectors.c.id).where(
            account_connectors.c.account_pk == account_pk, account_connectors.c.name == name
        )
        if except_id is not None:
            query = query.where(account_connectors.c.id != except_id)
        return self._c.execute(query).first() is not None

    def update(self, connector: AccountConnector, now: datetime) -> None:
        self._c.execute(
            update(account_connectors)
            .where(account_connectors.c.id == connector.id)
            .values(
                name=connector.name,
                description=connector.description,
                authentication_id=connector.authentication_id,
                is_partner_integration=connector.is_partner_integration,
                updated_utc=now,
            )
        )

    def delete(self, account_connector_id: int) -> None:
        self._c.execute(
            delete(account_connectors).where(account_connectors.c.id == account_connector_id)
        )

    def put_credential(self, credential: Credential, now: datetime) -> None:
        """Write the whole credential row: a new credential starts a new lifecycle (no lease,
        no failures), and its higher version makes any refresh still in flight lose its
        compare-and-swap (SECURITY.md R-11)."""
        upsert(self._c, credentials, "account_connector_id", credential_values(credential, now))

    def read_for_account(
        self, account_id: str, account_connector_id: int, *, properties: bool = True
    ) -> AccountConnectorRead:
        return read_account_connector(
            self._c, account_id, account_connector_id, properties=properties
        )

    def count_using_connector(self, connector_id: int) -> int:
        query = (
            select(func.count())
            .select_from(account_connectors)
            .where(account_connectors.c.connector_id == connector_id)
        )
        return int(self._c.execute(query).scalar_one())


class SqlPropertyRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(
        self,
        account_connector_id: int,
        name: str,
        value: str | None,
        is_sensitive: bool,
        sealed: str | None,
    ) -> Property:
        pk = self._c.execute(
            insert(properties).values(
                account_connector_id=account_connector_id,
                name=name,
                value=value,
                value_sealed=sealed,
                is_sensitive=is_sensitive,
            )
        ).inserted_primary_key
        assert pk is not None
        return Property(
            id=int(pk[0]),
            account_connector_id=account_connector_id,
            name=name,
            value=value,
            is_sensitive=is_sensitive,
            sealed=sealed,
        )

    def update(self, prop: Property) -> None:
        self._c.execute(
            update(properties)
            .where(properties.c.id == prop.id)
            .values(
                name=prop.name,
                value=prop.value,
                value_sealed=prop.sealed,
                is_sensitive=prop.is_sensitive,
            )
        )

    def delete(self, property_id: int) -> None:
        self._c.execute(delete(properties).where(properties.c.id == property_id))
