"""Sign-in tokens: single-use, short-lived tokens that sign an account's user in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tokenward.crypto.hashing import hash_token, new_token
from tokenward.domain.models import Account, SignInToken
from tokenward.services.account_access import require_account
from tokenward.services.context import ServiceContext
from tokenward.services.ports import Tx
from tokenward.services.users import valid_username

__all__ = ["IssuedSignInToken", "create_signin_token", "issue_signin_token"]


@dataclass(frozen=True)
class IssuedSignInToken:
    token: str
    expires_utc: datetime
    account_id: str
    username: str


def create_signin_token(
    ctx: ServiceContext, account_id: str, username: str | None
) -> IssuedSignInToken:
    """A single-use, short-lived, URL-safe token; creates the user if unknown (as Cyclr)."""
    username = valid_username(username)
    with ctx.db.write() as tx:
        return issue_signin_token(ctx, tx, require_account(tx, account_id), username)


def issue_signin_token(
    ctx: ServiceContext, tx: Tx, account: Account, username: str
) -> IssuedSignInToken:
    """:func:`create_signin_token` inside the caller's transaction (``username`` valid)."""
    token = new_token(32)
    now = ctx.clock.now()
    if tx.users.get(account.pk, username) is None:
        tx.users.add(account.pk, username, None, now)
    lifetime = tx.partner.get().signin_token_lifetime_seconds or ctx.signin_token_lifetime_seconds
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
