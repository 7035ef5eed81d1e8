"""The SQL implementation of :class:`tokenward.services.ports.Database`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from sqlalchemy import Connection, Engine

from tokenward.store.engine import transaction
from tokenward.store.repos.accounts import SqlAccountRepo, SqlSignInTokenRepo, SqlUserRepo
from tokenward.store.repos.clients import SqlApiClientRepo, SqlApiTokenRepo
from tokenward.store.repos.connectors import (
    SqlAccountConnectorRepo,
    SqlApplicationConnectorRepo,
    SqlCustomConnectorRepo,
    SqlPropertyRepo,
)
from tokenward.store.repos.system import (
    SqlAuditRepo,
    SqlIdempotencyRepo,
    SqlMetaRepo,
    SqlPartnerRepo,
)

__all__ = ["SqlDatabase", "SqlTx"]


class SqlTx:
    """Repositories bound to one connection in one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @cached_property
    def api_clients(self) -> SqlApiClientRepo:
        return SqlApiClientRepo(self.conn)

    @cached_property
    def api_tokens(self) -> SqlApiTokenRepo:
        return SqlApiTokenRepo(self.conn)

    @cached_property
    def accounts(self) -> SqlAccountRepo:
        return SqlAccountRepo(self.conn)

    @cached_property
    def users(self) -> SqlUserRepo:
        return SqlUserRepo(self.conn)

    @cached_property
    def signin_tokens(self) -> SqlSignInTokenRepo:
        return SqlSignInTokenRepo(self.conn)

    @cached_property
    def account_connectors(self) -> SqlAccountConnectorRepo:
        return SqlAccountConnectorRepo(self.conn)

    @cached_property
    def properties(self) -> SqlPropertyRepo:
        return SqlPropertyRepo(self.conn)

    @cached_property
    def application_connectors(self) -> SqlApplicationConnectorRepo:
        return SqlApplicationConnectorRepo(self.conn)

    @cached_property
    def custom_connectors(self) -> SqlCustomConnectorRepo:
        return SqlCustomConnectorRepo(self.conn)

    @cached_property
    def partner(self) -> SqlPartnerRepo:
        return SqlPartnerRepo(self.conn)

    @cached_property
    def idempotency(self) -> SqlIdempotencyRepo:
        return SqlIdempotencyRepo(self.conn)

    @cached_property
    def audit(self) -> SqlAuditRepo:
        return SqlAuditRepo(self.conn)

    @cached_property
    def meta(self) -> SqlMetaRepo:
        return SqlMetaRepo(self.conn)


class SqlDatabase:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[SqlTx]:
        with transaction(self.engine, write=False) as conn:
            yield SqlTx(conn)

    @contextmanager
    def write(self) -> Iterator[SqlTx]:
        with transaction(self.engine, write=True) as conn:
            yield SqlTx(conn)

    def dispose(self) -> None:
        self.engine.dispose()
