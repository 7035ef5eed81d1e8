"""Accounts (the partner's customers), their users and sign-in tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from tokenward.crypto.hashing import hash_token, new_token
from tokenward.domain.models import Account, SignInToken
from tokenward.domain.paging import Page, PageRequest
from tokenward.errors import Forbidden, InvalidRequest, NotFound, Unauthenticated
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.passwords import hash_password
from tokenward.services.ports import Tx

__all__ = [
    "AccountChanges",
    "IssuedSignInToken",
    "account_header_id",
    "account_not_found",
    "add_user",
    "check_access",
    "create_account",
    "create_signin_token",
    "delete_account",
    "delete_user",
    "get_account",
    "list_accounts",
    "list_users",
    "require_account",
    "resolve_account",
    "resolve_account_tx",
    "set_password",
    "update_account",
]

_UNSET = object()
MAX_ID = 200


@dataclass(frozen=True)
class AccountChanges:
    """A partial update: ``None`` leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class IssuedSignInToken:
    token: str
    expires_utc: datetime
    account_id: str
    username: str


def _valid_id(account_id: str) -> str:
    account_id = account_id.strip()
    if not account_id or len(account_id) > MAX_ID or any(c in account_id for c in "/?#\\"):
        raise InvalidRequest(
            "Id must be 1 to 200 characters without '/', '?', '#' or '\\'.", "invalid_id"
        )
    return account_id


def _valid_name(name: str | None) -> str:
    if name is None or not name.strip():
        raise InvalidRequest("Name is required", "name_required")
    if len(name) > 500:
        raise InvalidRequest("Name must be at most 500 characters.", "invalid_name")
    return name.strip()


def _valid_timezone(tz: str | None) -> str | None:
    if tz is None or tz == "":
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest(
            f"Timezone '{tz}' is not an IANA time zone name.", "invalid_timezone"
        ) from None
    return tz


def create_account(
    ctx: ServiceContext,
    name: str | None,
    account_id: str | None = None,
    description: str | None = None,
    timezone: str | None = None,
) -> Account:
    name = _valid_name(name)
    account_id = _valid_id(account_id) if account_id else str(uuid.uuid4())
    timezone = _valid_timezone(timezone)
    with ctx.db.write() as tx:
        if tx.accounts.get(account_id) is not None:
            raise InvalidRequest("ID already in use", "id_in_use")
        return tx.accounts.add(account_id, name, description, timezone, ctx.clock.now())


def list_accounts(ctx: ServiceContext, page: PageRequest) -> Page[Account]:
    with ctx.db.read() as tx:
        return tx.accounts.list(page)


def account_not_found(account_id: str) -> NotFound:
    return NotFound(f"Account '{account_id}' not found.", "account_not_found")


def require_account(tx: Tx, account_id: str) -> Account:
    account = tx.accounts.get(account_id)
    if account is None:
        raise account_not_found(account_id)
    return account


def get_account(ctx: ServiceContext, account_id: str) -> Account:
    with ctx.db.read() as tx:
        return require_account(tx, account_id)


def update_account(ctx: ServiceContext, account_id: str, changes: AccountChanges) -> Account:
    with ctx.db.write() as tx:
        account = require_account(tx, account_id)
        updated = replace(
            account,
            name=_valid_name(changes.name) if changes.name is not None else account.name,
            description=changes.description
            if changes.description is not None
            else account.description,
            timezone=_valid_timezone(changes.timezone)
            if changes.timezone is not None
            else account.timezone,
        )
        tx.accounts.update(updated)
        return updated


def delete_account(ctx: ServiceContext, account_id: str) -> None:
    with ctx.db.write() as tx:
        tx.accounts.delete(require_account(tx, account_id).pk)


def account_header_id(header: str | None) -> str:
    """The account Id named by ``X-Cyclr-Account``; a missing header is a 401."""
    if not header or not header.strip():
        raise Unauthenticated(
            "The X-Cyclr-Account header is required for account-level calls.",
            "account_header_missing",
        )
    return header.strip()


def check_access(principal: Principal, account: Account) -> Account:
    """A token restricted to another account gets a 403."""
    if principal.account_id is not None and principal.account_id != account.id:
        raise Forbidden("This token is restricted to another account.", "account_forbidden")
    return account


def resolve_account(ctx: ServiceContext, principal: Principal, header: str | None) -> Account:
    """The account of an account-level call (``X-Cyclr-Account``): 401, 404 or 403 rules."""
    with ctx.db.read() as tx:
        return resolve_account_tx(tx, principal, header)


def resolve_account_tx(tx: Tx, principal: Principal, header: str | None) -> Account:
    """:func:`resolve_account` inside the caller's transaction (same 401, 404, 403 rules)."""
    return check_access(principal, require_account(tx, account_header_id(header)))


def _valid_username(username: str | None) -> str:
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
    username = _valid_username(username)
    digest = hash_password(_valid_password(password)) if password is not None else None
    with ctx.db.write() as tx:
        account = require_account(tx, account_id)
        existing = tx.users.get(account.pk, username)
        if existing is None:
            tx.users.add(account.pk, username, digest, ctx.clock.now())
        elif digest is not None:
            tx.users.set_password(existing.pk, digest)


def delete_user(ctx: ServiceContext, account_id: str, username: str | None) -> None:
    username = _valid_username(username)
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
    username = _valid_username(username)
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


def create_signin_token(
    ctx: ServiceContext, account_id: str, username: str | None
) -> IssuedSignInToken:
    """A single-use, short-lived, URL-safe token; creates the user if unknown (as Cyclr)."""
    username = _valid_username(username)
    token = new_token(32)
    now = ctx.clock.now()
    with ctx.db.write() as tx:
        account = require_account(tx, account_id)
        if tx.users.get(account.pk, username) is None:
            tx.users.add(account.pk, username, None, now)
        lifetime = (
            tx.partner.get().signin_token_lifetime_seconds or ctx.signin_token_lifetime_seconds
        )
        expires = now + timedelta(seconds=lifetime)
        tx.signin_tokens.add(
            SignInToken(
                token_hash=hash_token(token),
                account_pk=account.pk,
                username=username,
                expires_utc=expires,
            ),
            now,
        )
    return IssuedSignInToken(token, expires, account.id, username)
