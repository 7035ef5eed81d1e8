"""Engines for SQLite (WAL, durable commits, serialised writers) and PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError

from tokenward.errors import StoreError

__all__ = ["IDLE_PING_SECONDS", "make_engine", "transaction"]

#: A pooled PostgreSQL connection idle longer than this is pinged before it is handed out.
IDLE_PING_SECONDS = 5.0


def make_engine(url: str, *, busy_timeout_ms: int = 30_000, pool_size: int = 10) -> Engine:
    """Build the engine for ``url``; SQLite files get their folder created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, busy_timeout_ms)
    engine = create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, connect_args={"connect_timeout": 10}
    )
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Hand out no connection the server has dropped: ping one that has been idle (a restart, a
    proxy's idle timeout) before use, and replace it if the ping fails. SQLAlchemy's
    ``pool_pre_ping`` pings on *every* checkout, a round trip that cost as much as the hot reads
    themselves; a connection in steady use needs none, and one broken while busy fails its
    statement, after which SQLAlchemy replaces every connection of the pool."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return  # new, or in steady use
        try:
            engine.dialect.do_ping(dbapi)  # the dialect's own ping (leaves no transaction open)
        except Exception as exc:  # whatever the driver raises for a dead connection
            raise DisconnectionError("the pooled connection is gone") from exc


def _sqlite_engine(url: str, database: str | None, busy_timeout_ms: int) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        # Every thread keeps a reader (see SqlDatabase.read) and writers come and go: SQLite
        # connections are cheap, so the pool never makes a caller wait for one.
        pool_size=20,
        max_overflow=200,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed credential survives power loss, not only a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.info.get("autocommit"):
            return  # a reused reader: SqlDatabase.read issues BEGIN itself
        # Writers take the lock up front: a deferred transaction that later writes can fail with
        # SQLITE_BUSY without waiting, whereas BEGIN IMMEDIATE waits for busy_timeout.
        # On the DBAPI connection itself: through exec_driver_sql this costs ~60 µs per transaction.
        dbapi = conn.connection.driver_connection
        assert isinstance(dbapi, sqlite3.Connection)
        dbapi.execute("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")

    return engine


@contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """One transaction; committed on success, rolled back on any error."""
    try:
        with engine.connect() as conn:
            conn.info["write"] = write
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("write", None)
    except SQLAlchemyError as exc:
        raise StoreError(f"database error: {type(exc).__name__}") from exc
