"""Accounts, users and sign-in tokens."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from tokenward.domain.models import Account, SignInToken, User
from tokenward.domain.paging import Page, PageRequest
from tokenward.store.repos._paging import count, ordered_page
from tokenward.store.tables import accounts, signin_tokens, users

__all__ = ["SqlAccountRepo", "SqlSignInTokenRepo", "SqlUserRepo"]

_ORDER = {"id": "id", "name": "name", "createddate": "created_utc", "description": "description"}


_ACCOUNT_GET = select(accounts).where(accounts.c.id == bindparam("account_id"))  # hot path


def _account(row: Any) -> Account:
    return Account(
        pk=row.pk,
        id=row.id,
        name=row.name,
        description=row.description,
        timezone=row.timezone,
        created_utc=row.created_utc,
    )


class SqlAccountRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(
        self,
        account_id: str,
        name: str,
        description: str | None,
        timezone: str | None,
        now: datetime,
    ) -> Account:
        pk = self._c.execute(
            insert(accounts).values(
                id=account_id,
                name=name,
                description=description,
                timezone=timezone,
                created_utc=now,
            )
        ).inserted_primary_key
        assert pk is not None
        return Account(
            pk=int(pk[0]),
            id=account_id,
            name=name,
            description=description,
            timezone=timezone,
            created_utc=now,
        )

    def get(self, account_id: str) -> Account | None:
        row = self._c.execute(_ACCOUNT_GET, {"account_id": account_id}).first()
        return _account(row) if row else None

    def get_by_pk(self, pk: int) -> Account | None:
        row = self._c.execute(select(accounts).where(accounts.c.pk == pk)).first()
        return _account(row) if row else None

    def list(self, page: PageRequest) -> Page[Account]:
        query = ordered_page(select(accounts), accounts, page, _ORDER, "created_utc")
        items = [_account(row) for row in self._c.execute(query)]
        return Page(items, count(self._c, accounts), page.page_size)

    def update(self, account: Account) -> None:
        self._c.execute(
            update(accounts)
            .where(accounts.c.pk == account.pk)
            .values(name=account.name, description=account.description, timezone=account.timezone)
        )

    def delete(self, pk: int) -> None:
        self._c.execute(delete(accounts).where(accounts.c.pk == pk))


def _user(row: Any) -> User:
    return User(
        pk=row.pk, account_pk=row.account_pk, username=row.username, password_hash=row.password_hash
    )


class SqlUserRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def list(self, account_pk: int) -> list[User]:
        query = select(users).where(users.c.account_pk == account_pk).order_by(users.c.username)
        return [_user(row) for row in self._c.execute(query)]

    def get(self, account_pk: int, username: str) -> User | None:
        row = self._c.execute(
            select(users).where(users.c.account_pk == account_pk, users.c.username == username)
        ).first()
        return _user(row) if row else None

    def find(self, username: str) -> builtins.list[User]:
        return [
            _user(r) for r in self._c.execute(select(users).where(users.c.username == username))
        ]

    def add(self, account_pk: int, username: str, password_hash: str | None, now: datetime) -> User:
        pk = self._c.execute(
            insert(users).values(
                account_pk=account_pk,
                username=username,
                password_hash=password_hash,
                created_utc=now,
            )
        ).inserted_primary_key
        assert pk is not None
        return User(
            pk=int(pk[0]), account_pk=account_pk, username=username, password_hash=password_hash
        )

    def set_password(self, user_pk: int, password_hash: str) -> None:
        self._c.execute(
            update(users).where(users.c.pk == user_pk).values(password_hash=password_hash)
        )

    def delete(self, user_pk: int) -> None:
        self._c.execute(delete(users).where(users.c.pk == user_pk))


def _signin(row: Any) -> SignInToken:
    return SignInToken(
        token_hash=row.token_hash,
        account_pk=row.account_pk,
        username=row.username,
        expires_utc=row.expires_utc,
        used_utc=row.used_utc,
    )


class SqlSignInTokenRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, token: SignInToken, now: datetime) -> None:
        self._c.execute(
            insert(signin_tokens).values(
                token_hash=token.token_hash,
                account_pk=token.account_pk,
                username=token.username,
                created_utc=now,
                expires_utc=token.expires_utc,
            )
        )

    def get(self, token_hash: str) -> SignInToken | None:
        row = self._c.execute(
            select(signin_tokens).where(signin_tokens.c.token_hash == token_hash)
        ).first()
        return _signin(row) if row else None

    def consume(self, token_hash: str, now: datetime) -> SignInToken | None:
        # One conditional UPDATE: of any number of concurrent consumers exactly one matches (K-02).
        result = self._c.execute(
            update(signin_tokens)
            .where(
                signin_tokens.c.token_hash == token_hash,
                signin_tokens.c.used_utc.is_(None),
                signin_tokens.c.expires_utc > now,
            )
            .values(used_utc=now)
        )
        if result.rowcount != 1:
            return None
        return self.get(token_hash)

    def purge(self, before: datetime) -> int:
        result = self._c.execute(delete(signin_tokens).where(signin_tokens.c.expires_utc < before))
        return int(result.rowcount)
