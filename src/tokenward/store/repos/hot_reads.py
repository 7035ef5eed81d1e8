"""The hot read of one account connector, on the DBAPI cursor.

``GET /v1.0/account/connectors/{id}`` is the partner API's most frequent call. Through SQLAlchemy
Core each statement costs ~60 µs of Python around a ~15 µs query, so this read runs one plain
statement on the connection's DBAPI cursor instead, joining the account, the account connector,
its credential, its properties, the partner's reveal setting and the custom connectors' version
(so that resolving a custom connector's definition needs no second statement). The result is the
same domain objects the Core repositories build.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from tokenward.domain.models import Account, AccountConnector, AuthState, Credential, Property
from tokenward.services.ports.connectors import AccountConnectorRead

__all__ = [
    "CUSTOM_CONNECTORS_VERSION",
    "account_connector_from_rows",
    "account_connector_sql",
    "custom_connectors_version",
    "read_account_connector",
]

# What changes whenever a custom connector is added, replaced or deleted. The catalog view of a
# process is cached under it (services.catalog.view); both the hot read below and
# ``SqlCustomConnectorRepo.version`` read it through the DBAPI cursor so the values compare equal.
CUSTOM_CONNECTORS_VERSION = (
    "(SELECT count(*) FROM custom_connectors), (SELECT max(updated_utc) FROM custom_connectors),"
    " (SELECT sum(id) FROM custom_connectors)"
)

_ROW = """
SELECT a.pk, a.id, a.name, a.description, a.timezone, a.created_utc,
       ac.id, ac.connector_id, ac.authentication_id, ac.name, ac.description,
       ac.is_partner_integration, ac.created_utc,
       c.state, c.version, c.secret_sealed, c.masked, c.expires_utc, c.refresh_expires_utc,
       c.last_refreshed_utc, c.error_code, c.error_message,
       (SELECT s.reveal_partner_auth_value FROM partner_settings s WHERE s.id = 1),
       p.id, p.name, p.value, p.is_sensitive, p.value_sealed,
       {version}
FROM accounts a
LEFT JOIN account_connectors ac ON ac.account_pk = a.pk AND ac.id = {p}
LEFT JOIN credentials c ON c.account_connector_id = ac.id
LEFT JOIN properties p ON p.account_connector_id = ac.id
WHERE a.id = {p}
ORDER BY p.id
"""

# The same row without the properties and the reveal setting (a token read needs neither).
_ROW_CREDENTIAL = """
SELECT a.pk, a.id, a.name, a.description, a.timezone, a.created_utc,
       ac.id, ac.connector_id, ac.authentication_id, ac.name, ac.description,
       ac.is_partner_integration, ac.created_utc,
       c.state, c.version, c.secret_sealed, c.masked, c.expires_utc, c.refresh_expires_utc,
       c.last_refreshed_utc, c.error_code, c.error_message,
       0, NULL, NULL, NULL, NULL, NULL,
       {version}
FROM accounts a
LEFT JOIN account_connectors ac ON ac.account_pk = a.pk AND ac.id = {p}
LEFT JOIN credentials c ON c.account_connector_id = ac.id
WHERE a.id = {p}
"""


@functools.cache
def account_connector_sql(paramstyle: str, *, properties: bool) -> str:
    """The hot read's statement for a driver's ``paramstyle`` (``qmark`` or ``format``); its
    parameters are ``(account connector id, account id)``."""
    return (_ROW if properties else _ROW_CREDENTIAL).format(
        p="?" if paramstyle == "qmark" else "%s", version=CUSTOM_CONNECTORS_VERSION
    )


def _version(count: Any, latest: Any, total: Any) -> str:
    """The custom connectors' version as text (a timestamp is text on SQLite, a datetime on
    PostgreSQL: either way it only has to compare equal to itself)."""
    return f"{int(count or 0)}/{latest}/{int(total or 0)}"


def custom_connectors_version(conn: Connection) -> str:
    """The custom connectors' version alone (see CUSTOM_CONNECTORS_VERSION)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"SELECT {CUSTOM_CONNECTORS_VERSION}")
        row = cursor.fetchone()
    finally:
        cursor.close()
    assert row is not None  # aggregates always give a row
    return _version(*row)


def _utc(value: Any) -> datetime | None:
    """SQLite hands back text, PostgreSQL aware datetimes; both become aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _aware(value: Any) -> datetime:
    found = _utc(value)
    assert found is not None  # NOT NULL columns
    return found


def _credential(ac_id: int, row: Sequence[Any]) -> Credential | None:
    state, version, sealed, masked, expires, refresh_expires, refreshed, code, message = row
    if state is None:
        return None
    return Credential(
        account_connector_id=ac_id,
        state=AuthState(state),
        version=int(version),
        secret_sealed=sealed,
        masked=masked,
        expires_utc=_utc(expires),
        refresh_expires_utc=_utc(refresh_expires),
        last_refreshed_utc=_utc(refreshed),
        error_code=code,
        error_message=message,
    )


def read_account_connector(
    conn: Connection, account_id: str, ac_id: int, *, properties: bool = True
) -> AccountConnectorRead:
    """One statement: a row per property (or one row without), so it needs no transaction.
    ``properties=False``: without the properties and the reveal setting (read as False)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        sql = account_connector_sql(conn.dialect.paramstyle, properties=properties)
        cursor.execute(sql, (ac_id, account_id))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return account_connector_from_rows(ac_id, rows)


def account_connector_from_rows(ac_id: int, rows: Sequence[Sequence[Any]]) -> AccountConnectorRead:
    """The domain objects of the hot read's rows (any driver)."""
    if not rows:
        return AccountConnectorRead(None, None, reveal=False)
    row = rows[0]
    version = _version(*row[28:31])
    account = Account(
        pk=row[0],
        id=row[1],
        name=row[2],
        description=row[3],
        timezone=row[4],
        created_utc=_aware(row[5]),
    )
    if row[6] is None:
        return AccountConnectorRead(account, None, bool(row[22]), version)
    props = tuple(
        Property(
            id=r[23],
            account_connector_id=ac_id,
            name=r[24],
            value=r[25],
            is_sensitive=bool(r[26]),
            sealed=r[27],
        )
        for r in rows
        if r[23] is not None
    )
    item = AccountConnector(
        id=row[6],
        account_pk=account.pk,
        connector_id=row[7],
        authentication_id=row[8],
        name=row[9],
        description=row[10],
        is_partner_integration=bool(row[11]),
        created_utc=_aware(row[12]),
        properties=props,
        credential=_credential(row[6], row[13:22]),
    )
    return AccountConnectorRead(account, item, bool(row[22]), version)
