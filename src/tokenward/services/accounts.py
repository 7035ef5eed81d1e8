"""Accounts: the partner's customers (``/v1.0/accounts``).

Which account an account-level call acts on (:mod:`~tokenward.services.account_access`), an
account's users (:mod:`~tokenward.services.users`) and sign-in tokens
(:mod:`~tokenward.services.signin_tokens`) live in their own modules and are re-exported here,
the name routes and tests import.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from tokenward.domain.models import Account
from tokenward.domain.paging import Page, PageRequest
from tokenward.errors import InvalidRequest
from tokenward.services.account_access import (
    account_header_id,
    account_not_found,
    check_access,
    require_account,
    resolve_account,
    resolve_account_tx,
)
from tokenward.services.context import ServiceContext
from tokenward.services.signin_tokens import IssuedSignInToken, create_signin_token
from tokenward.services.users import add_user, delete_user, list_users, set_password

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
    "valid_account_id",
    "valid_account_name",
]

MAX_ID = 200


@dataclass(frozen=True)
class AccountChanges:
    """A partial update: ``None`` leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    timezone: str | None = None


def valid_account_id(account_id: str) -> str:
    account_id = account_id.strip()
    if not account_id or len(account_id) > MAX_ID or any(c in account_id for c in "/?#\\"):
        raise InvalidRequest(
            "Id must be 1 to 200 characters without '/', '?', '#' or '\\'.", "invalid_id"
        )
    return account_id


def valid_account_name(name: str | None) -> str:
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
    name = valid_account_name(name)
    account_id = valid_account_id(account_id) if account_id else str(uuid.uuid4())
    timezone = _valid_timezone(timezone)
    with ctx.db.write() as tx:
        if tx.accounts.get(account_id) is not None:
            raise InvalidRequest("ID already in use", "id_in_use")
        return tx.accounts.add(account_id, name, description, timezone, ctx.clock.now())


def list_accounts(ctx: ServiceContext, page: PageRequest) -> Page[Account]:
    with ctx.db.read() as tx:
        return tx.accounts.list(page)


def get_account(ctx: ServiceContext, account_id: str) -> Account:
    with ctx.db.read() as tx:
        return require_account(tx, account_id)


def update_account(ctx: ServiceContext, account_id: str, changes: AccountChanges) -> Account:
    with ctx.db.write() as tx:
        account = require_account(tx, account_id)
        updated = replace(
            account,
            name=valid_account_name(changes.name) if changes.name is not None else account.name,
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
