"""Schema migrations with Alembic, one history for SQLite and PostgreSQL, under a database lock.

Two hosts running ``tokenward migrate`` (or ``serve --migrate``) at once never both migrate:
PostgreSQL takes an advisory lock; SQLite (one host only) an exclusive lock on a file beside
the database.

:func:`is_current` backs ``/readyz``, which load balancers call every few seconds: it reads the
``alembic_version`` row with one query and compares it with the head revision, loaded from the
migration scripts once per process, instead of starting Alembic (and its logging) per call.
"""

from __future__ import annotations

import fcntl
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

__all__ = ["head_revision", "is_current", "stored_revision", "upgrade"]

_HERE = Path(__file__).parent / "migrations"
_LOCK_ID = 7_346_211_001  # arbitrary, constant: the advisory lock of tokenward's migrations


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision of the migration scripts shipped with this version (cached)."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def stored_revision(engine: Engine) -> str | None:
    """The revision recorded in ``alembic_version``; None for a database never migrated.

    An unreachable database raises (the caller reports it), as does any error other than the
    table being absent.
    """
    failure: DBAPIError | None = None
    with engine.connect() as conn:
        try:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        except DBAPIError as exc:
            failure, rows = exc, []
    if failure is not None:
        with engine.connect() as conn:  # a fresh connection: PostgreSQL aborted the last one
            if inspect(conn).has_table("alembic_version"):
                raise failure
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def is_current(engine: Engine) -> bool:
    return stored_revision(engine) == head_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to ``revision`` while holding the migration lock."""
    with _migration_lock(engine), engine.connect() as conn:
        command.upgrade(_config(conn), revision)
        conn.commit()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _LOCK_ID})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _LOCK_ID})
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # waits for another process migrating this file
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
