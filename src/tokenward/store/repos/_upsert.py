"""Insert-or-update by one unique key, shared by repositories.

SQLite and PostgreSQL both speak ``INSERT … ON CONFLICT DO UPDATE`` but SQLAlchemy builds it per
dialect, so the choice is made here once rather than in every repository.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["upsert"]


def upsert(conn: Connection, table: Any, key: str, values: dict[str, Any]) -> None:
    """Insert ``values`` into ``table``, or update every other column where ``key`` collides."""
    dialect = conn.dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(**values)
    else:
        stmt = sqlite.insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[key], set_={k: v for k, v in values.items() if k != key}
    )
    conn.execute(stmt)
