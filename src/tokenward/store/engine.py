"""Engines for SQLite (WAL, durable commits, serialised writers) and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from tokenward.errors import StoreError

__all__ = ["make_engine", "transaction"]


def make_engine(url: str, *, busy_timeout_ms: int = 30_000, pool_size: int = 10) -> Engine:
    """Build the engine for ``url``; SQLite files get their folder created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, busy_timeout_ms)
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10},
    )


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
