"""The partner console's users and sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from tokenward.services.ports.console import ConsoleSession, ConsoleUser
from tokenward.store.tables import console_sessions, console_users

__all__ = ["SqlConsoleSessionRepo", "SqlConsoleUserRepo"]


def _user(row: Any) -> ConsoleUser:
    return ConsoleUser(row.username, row.password_hash, row.created_utc, row.last_login_utc)


class SqlConsoleUserRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def get(self, username: str) -> ConsoleUser | None:
        query = select(console_users).where(console_users.c.username == username)
        row = self._c.execute(query).first()
        return _user(row) if row else None

    def add(self, user: ConsoleUser) -> bool:
        try:
            with self._c.begin_nested():
                self._c.execute(
                    insert(console_users).values(
                        username=user.username,
                        password_hash=user.password_hash,
                        created_utc=user.created_utc,
                    )
                )
        except IntegrityError:
            return False
        return True

    def set_password(self, username: str, password_hash: str) -> bool:
        result = self._c.execute(
            update(console_users)
            .where(console_users.c.username == username)
            .values(password_hash=password_hash)
        )
        return bool(result.rowcount)

    def touch_login(self, username: str, now: datetime) -> None:
        self._c.execute(
            update(console_users)
            .where(console_users.c.username == username)
            .values(last_login_utc=now)
        )

    def list(self) -> list[ConsoleUser]:
        query = select(console_users).order_by(console_users.c.username)
        return [_user(row) for row in self._c.execute(query)]


class SqlConsoleSessionRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, session: ConsoleSession) -> None:
        self._c.execute(
            insert(console_sessions).values(
                token_hash=session.token_hash,
                username=session.username,
                csrf_token=session.csrf_token,
                created_utc=session.created_utc,
                expires_utc=session.expires_utc,
            )
        )

    def get(self, token_hash: str, now: datetime) -> ConsoleSession | None:
        query = select(console_sessions).where(
            console_sessions.c.token_hash == token_hash, console_sessions.c.expires_utc > now
        )
        row = self._c.execute(query).first()
        if row is None:
            return None
        return ConsoleSession(
            row.token_hash, row.username, row.csrf_token, row.created_utc, row.expires_utc
        )

    def delete(self, token_hash: str) -> None:
        self._c.execute(delete(console_sessions).where(console_sessions.c.token_hash == token_hash))

    def delete_for_user(self, username: str) -> int:
        query = delete(console_sessions).where(console_sessions.c.username == username)
        return int(self._c.execute(query).rowcount)

    def purge(self, before: datetime) -> int:
        query = delete(console_sessions).where(console_sessions.c.expires_utc < before)
        return int(self._c.execute(query).rowcount)
