"""The SQL implementation of :class:`tokenward.services.ports.Database`."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from tokenward.errors import StoreError
from tokenward.services.ports import NotPrefetched, Outcome, Prefetched
from tokenward.services.ports.connectors import AccountConnectorRead
from tokenward.store.async_reads import AsyncHotReads
from tokenward.store.engine import transaction
from tokenward.store.repos.accounts import SqlAccountRepo, SqlSignInTokenRepo, SqlUserRepo
from tokenward.store.repos.clients import SqlApiClientRepo, SqlApiTokenRepo
from tokenward.store.repos.connectors import SqlAccountConnectorRepo, SqlPropertyRepo
from tokenward.store.repos.console import SqlConsoleSessionRepo, SqlConsoleUserRepo
from tokenward.store.repos.library import SqlApplicationConnectorRepo, SqlCustomConnectorRepo
from tokenward.store.repos.lifecycle import (
    SqlAuthSessionRepo,
    SqlCredentialRepo,
    SqlEventRepo,
    SqlRevocationRepo,
)
from tokenward.store.repos.system import (
    SqlAuditRepo,
    SqlIdempotencyRepo,
    SqlMetaRepo,
    SqlPartnerRepo,
)

__all__ = ["SqlDatabase", "SqlTx"]

T = TypeVar("T")

# The prefetched hot read that ``SqlDatabase.read`` answers from, within ``answering`` (a
# context variable: each request's task has its own).
_ANSWERING: ContextVar[Prefetched | None] = ContextVar("tokenward_prefetched", default=None)


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

    @cached_property
    def credentials(self) -> SqlCredentialRepo:
        return SqlCredentialRepo(self.conn)

    @cached_property
    def auth_sessions(self) -> SqlAuthSessionRepo:
        return SqlAuthSessionRepo(self.conn)

    @cached_property
    def events(self) -> SqlEventRepo:
        return SqlEventRepo(self.conn)

    @cached_property
    def revocations(self) -> SqlRevocationRepo:
        return SqlRevocationRepo(self.conn)

    @cached_property
    def console_users(self) -> SqlConsoleUserRepo:
        return SqlConsoleUserRepo(self.conn)

    @cached_property
    def console_sessions(self) -> SqlConsoleSessionRepo:
        return SqlConsoleSessionRepo(self.conn)


class _PrefetchedConnectors:
    def __init__(self, prefetched: Prefetched) -> None:
        self._prefetched = prefetched

    def read_for_account(
        self, account_id: str, account_connector_id: int, *, properties: bool = True
    ) -> AccountConnectorRead:
        known = self._prefetched
        if (account_id, account_connector_id, properties) != (
            known.account_id,
            known.ac_id,
            known.properties,
        ):
            raise NotPrefetched
        return known.found

    def __getattr__(self, name: str) -> Any:
        raise NotPrefetched


class _PrefetchedTx:
    """A read transaction holding only a prefetched hot read (see ``SqlDatabase.answering``)."""

    def __init__(self, prefetched: Prefetched) -> None:
        self.account_connectors = _PrefetchedConnectors(prefetched)

    def __getattr__(self, name: str) -> Any:
        raise NotPrefetched


class SqlDatabase:
    def __init__(self, engine: Engine, *, hot_read_connections: int = 10) -> None:
        self.engine = engine
        # PostgreSQL: the hot read can run on the event loop (store.async_reads)
        self._hot = (
            AsyncHotReads(engine.url, size=hot_read_connections)
            if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
            else None
        )
        # SQLite reads keep one connection per thread: checking a connection out of the pool and
        # back costs more than the reads themselves on an embedded database.
        self._reuse_readers = engine.dialect.name == "sqlite"
        self._local = threading.local()
        self._readers: list[Connection] = []
        self._readers_lock = threading.Lock()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    async def prefetch(self, account_id: str, ac_id: int, *, properties: bool) -> Prefetched | None:
        if self._hot is None:
            return None
        found = await self._hot.account_connector(account_id, ac_id, properties=properties)
        return None if found is None else Prefetched(account_id, ac_id, properties, found)

    @contextmanager
    def answering(self, prefetched: Prefetched) -> Iterator[None]:
        token = _ANSWERING.set(prefetched)
        try:
            yield
        finally:
            _ANSWERING.reset(token)

    async def aclose_loop(self) -> None:
        """Close what belongs to the running event loop (the hot read's connections)."""
        if self._hot is not None:
            await self._hot.aclose()

    @contextmanager
    def read(self, *, snapshot: bool = True) -> Iterator[SqlTx]:
        prefetched = _ANSWERING.get()
        if prefetched is not None:
            yield _PrefetchedTx(prefetched)  # type: ignore[misc]  # answers one read only
            return
        if not self._reuse_readers:
            with self._autocommit_read() as tx:
                yield tx
            return
        conn = self._reader()
        if not snapshot:  # each statement is its own transaction (see Database.read)
            try:
                yield SqlTx(conn)
            except (SQLAlchemyError, sqlite3.Error) as exc:
                self._drop_reader(conn)
                raise StoreError(f"database error: {type(exc).__name__}") from exc
            return
        # The reader runs in SQLAlchemy's AUTOCOMMIT mode and its transaction is the driver's
        # own BEGIN ... COMMIT: one snapshot for every statement of the read, without the cost
        # of SQLAlchemy's transaction objects (the reads are the hot path).
        driver = conn.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        try:
            driver.execute("BEGIN")
            try:
                yield SqlTx(conn)
            finally:
                driver.execute("COMMIT")
                if conn.in_transaction():
                    conn.rollback()  # ends SQLAlchemy's bookkeeping only: AUTOCOMMIT mode
        except (SQLAlchemyError, sqlite3.Error) as exc:
            self._drop_reader(conn)
            raise StoreError(f"database error: {type(exc).__name__}") from exc

    @contextmanager
    def _autocommit_read(self) -> Iterator[SqlTx]:
        """PostgreSQL reads: at READ COMMITTED every statement takes its own snapshot even
        inside a transaction, so BEGIN and COMMIT would buy nothing but two round trips."""
        try:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                yield SqlTx(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {type(exc).__name__}") from exc

    @contextmanager
    def write(self) -> Iterator[SqlTx]:
        with transaction(self.engine, write=True) as conn:
            yield SqlTx(conn)

    def write_each(self, units: Sequence[Callable[[SqlTx], T]]) -> list[Outcome[T]]:
        """Run ``units`` in one write transaction, each in a savepoint of its own: a unit that
        raises leaves nothing behind and the others still commit (one commit, one fsync, for
        all). If the transaction itself fails (a deadlock between batches of two processes, a
        lost connection), every unit is run again alone, so one unit never fails for another.
        """
        outcomes: list[Outcome[T]] = []
        try:
            with transaction(self.engine, write=True) as conn:
                tx = SqlTx(conn)
                for unit in units:
                    outcomes.append(_in_savepoint(conn, tx, unit))
        except StoreError:
            if len(units) == 1:
                raise
            return [self._alone(unit) for unit in units]
        return outcomes

    def _alone(self, unit: Callable[[SqlTx], T]) -> Outcome[T]:
        try:
            with self.write() as tx:
                return Outcome(unit(tx))
        except Exception as exc:  # handed to the unit's caller, who raises it
            return Outcome(None, exc)

    def _reader(self) -> Connection:
        conn: Connection | None = getattr(self._local, "reader", None)
        if conn is None or conn.closed:
            try:
                conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            except SQLAlchemyError as exc:
                raise StoreError(f"database error: {type(exc).__name__}") from exc
            conn.info["autocommit"] = True  # the begin hook leaves BEGIN to SqlDatabase.read
            self._local.reader = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _drop_reader(self, conn: Connection) -> None:
        self._local.reader = None
        with self._readers_lock:
            if conn in self._readers:
                self._readers.remove(conn)
        _discard(conn)

    def dispose(self) -> None:
        if self._hot is not None:
            self._hot.close()
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            _discard(conn)
        self.engine.dispose()


def _in_savepoint(conn: Connection, tx: SqlTx, unit: Callable[[SqlTx], T]) -> Outcome[T]:
    try:
        with conn.begin_nested():
            return Outcome(unit(tx))
    except Exception as exc:  # handed to the unit's caller, who raises it
        if isinstance(exc, SQLAlchemyError):
            exc = StoreError(f"database error: {type(exc).__name__}")
        return Outcome(None, exc)


def _discard(reader: Connection) -> None:
    """Close a reader for good: returned to the pool, its AUTOCOMMIT setting would be "reset" to
    pysqlite's implicit transactions, which the engine's BEGIN hook must never meet."""
    reader.invalidate()
    reader.close()
