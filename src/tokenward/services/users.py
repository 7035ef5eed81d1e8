"""An account's users and their passwords (``/v1.0/accounts/{id}/users``, ``/v1.0/users``)."""

from __future__ import annotations

from tokenward.errors import InvalidRequest, NotFound
from tokenward.services.account_access import require_account
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.passwords import hash_password

__all__ = ["add_user", "delete_user", "list_users", "set_password", "valid_username"]


def valid_username(username: str | None) -> str:
    if username is None or not username.strip():
        raise InvalidRequest("UserName is required.", "username_required")
    if len(username) > 200:
        raise InvalidRequest("UserName must be at most 200 characters.", "invalid_username")
    return username.strip()


def _valid_password(password: str | None) -> str:
    if password is None or len(password) < 1:
        raise InvalidRequest("Password is required.", "password_required")
    if len(password) > 1000:
        raise InvalidRequest("Password must be at most 1000 characters.", "invalid_password")
    return password


def list_users(ctx: ServiceContext, account_id: str) -> list[str]:
    with ctx.db.read() as tx:
        account = require_account(tx, account_id)
        return [user.username for user in tx.users.list(account.pk)]


def add_user(
    ctx: ServiceContext, account_id: str, username: str | None, password: str | None
) -> None:
    username = valid_username(username)
    digest = hash_password(_valid_password(password)) if password is not None else None
    with ctx.db.write() as tx:
        account = require_account(tx, account_id)
        existing = tx.users.get(account.pk, username)
        if existing is None:
            tx.users.add(account.pk, username, digest, ctx.clock.now())
        elif digest is not None:
            tx.users.set_password(existing.pk, digest)


def delete_user(ctx: ServiceContext, account_id: str, username: str | None) -> None:
    username = valid_username(username)
    with ctx.db.write() as tx:
        account = require_account(tx, account_id)
        user = tx.users.get(account.pk, username)
        if user is None:
            raise NotFound(f"User '{username}' not found.", "user_not_found")
        tx.users.delete(user.pk)


def set_password(
    ctx: ServiceContext, principal: Principal, username: str | None, password: str | None
) -> None:
    """``PUT /v1.0/users``: set a user's password. A restricted token reaches its account only."""
    username = valid_username(username)
    digest = hash_password(_valid_password(password))
    with ctx.db.write() as tx:
        found = tx.users.find(username)
        if principal.account_id is not None:
            account = tx.accounts.get(principal.account_id)
            found = [u for u in found if account and u.account_pk == account.pk]
        if not found:
            raise NotFound(f"User '{username}' not found.", "user_not_found")
        if len(found) > 1:
            raise InvalidRequest(
                f"User name '{username}' exists in several accounts; use "
                "PUT /v1.0/accounts/{id}/users instead.",
                "username_ambiguous",
            )
        tx.users.set_password(found[0].pk, digest)
