"""Paging helpers shared by repositories."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, Table, func, select

from tokenward.domain.paging import PageRequest

__all__ = ["count", "ordered_page"]


def ordered_page(
    query: Select[Any], table: Table, request: PageRequest, columns: dict[str, str], default: str
) -> Select[Any]:
    """Apply orderBy (a public field name, case-insensitive) and the page window."""
    column_name = columns.get((request.order_by or "").lower(), default)
    column = table.c[column_name]
    query = query.order_by(column.asc() if request.ascending else column.desc())
    return query.limit(request.page_size).offset(request.offset)


def count(conn: Connection, table: Table, *where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())
