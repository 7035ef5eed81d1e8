"""R-09: the write path is durable — SQLite in WAL with synchronous=FULL and foreign keys on;
PostgreSQL with synchronous_commit on."""

from __future__ import annotations

from sqlalchemy import text

from tokenward.runtime import Runtime
from tokenward.store.engine import transaction


def test_r09_write_connections_are_durable(runtime: Runtime) -> None:
    """The connection a credential write uses has the durable settings."""
    with transaction(runtime.engine, write=True) as conn:
        if conn.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        else:
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
            assert conn.execute(text("SHOW fsync")).scalar() == "on"


def test_r09_every_pooled_sqlite_connection_gets_the_pragmas(runtime: Runtime) -> None:
    """Not only the first: several connections open at once all run WAL, FULL and foreign keys."""
    if runtime.engine.dialect.name != "sqlite":
        with runtime.engine.connect() as conn:
            assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
        return
    conns = [runtime.engine.connect() for _ in range(3)]
    try:
        for conn in conns:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        for conn in conns:
            conn.close()
