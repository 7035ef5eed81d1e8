"""Which account an account-level call acts on (``X-Cyclr-Account``, SECURITY.md K-03).

The rule every account-level service applies inside its own transaction: a missing header is a
401, an unknown account a 404, and a token restricted to another account a 403.
"""

from __future__ import annotations

from tokenward.domain.models import Account
from tokenward.errors import Forbidden, NotFound, Unauthenticated
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.ports import Tx

__all__ = [
    "account_header_id",
    "account_not_found",
    "check_access",
    "require_account",
    "resolve_account",
    "resolve_account_tx",
]


def account_not_found(account_id: str) -> NotFound:
    return NotFound(f"Account '{account_id}' not found.", "account_not_found")


def require_account(tx: Tx, account_id: str) -> Account:
    account = tx.accounts.get(account_id)
    if account is None:
        raise account_not_found(account_id)
    return account


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
