"""Ports for the partner console: its users and their sign-in sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["ConsoleSession", "ConsoleSessionRepo", "ConsoleUser", "ConsoleUserRepo"]


@dataclass(frozen=True)
class ConsoleUser:
    username: str
    password_hash: str
    created_utc: datetime
    last_login_utc: datetime | None = None


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in browser. Only the SHA-256 of the cookie's token is stored; the CSRF token
    (synchronizer token, bound to this session) is not a credential on its own."""

    token_hash: str
    username: str
    csrf_token: str
    created_utc: datetime
    expires_utc: datetime


class ConsoleUserRepo(Protocol):
    def get(self, username: str) -> ConsoleUser | None: ...
    def add(self, user: ConsoleUser) -> bool:
        """Insert; False when the user name is taken."""
        ...

    def set_password(self, username: str, password_hash: str) -> bool: ...
    def touch_login(self, username: str, now: datetime) -> None: ...
    def list(self) -> list[ConsoleUser]: ...


class ConsoleSessionRepo(Protocol):
    def add(self, session: ConsoleSession) -> None: ...
    def get(self, token_hash: str, now: datetime) -> ConsoleSession | None:
        """The session if it exists and has not expired."""
        ...

    def delete(self, token_hash: str) -> None: ...
    def delete_for_user(self, username: str) -> int: ...
    def purge(self, before: datetime) -> int: ...
