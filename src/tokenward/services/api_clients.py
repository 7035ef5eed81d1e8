"""API clients (partner credentials) and the bearer tokens of ``POST /oauth/token``.

Secrets and tokens are stored only as SHA-256 hashes and compared in constant time (K-01, S-07).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tokenward.crypto.hashing import hash_token, new_token, tokens_equal
from tokenward.domain.models import ApiClient, ApiToken
from tokenward.errors import InvalidRequest, NotFound, Unauthenticated
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.passwords import verify_password

__all__ = [
    "IssuedToken",
    "authenticate_bearer",
    "create_client",
    "issue_client_credentials",
    "issue_password_grant",
    "issue_refresh_grant",
    "list_clients",
    "revoke_client",
]


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    client_id: str
    issued_utc: datetime
    expires_utc: datetime
    refresh_token: str | None = None
    username: str | None = None

    @property
    def expires_in(self) -> int:
        return int((self.expires_utc - self.issued_utc).total_seconds())


def create_client(ctx: ServiceContext, name: str) -> tuple[ApiClient, str]:
    """A new client; the plaintext secret is returned this once and never again."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidRequest("Name is required (at most 200 characters).", "invalid_name")
    secret = new_token(32)
    client = ApiClient(
        client_id=secrets.token_hex(16),
        name=name,
        secret_hash=hash_token(secret),
        created_utc=ctx.clock.now(),
    )
    with ctx.db.write() as tx:
        tx.api_clients.add(client)
    return client, secret


def list_clients(ctx: ServiceContext) -> list[ApiClient]:
    with ctx.db.read() as tx:
        return tx.api_clients.list()


def revoke_client(ctx: ServiceContext, client_id: str) -> None:
    with ctx.db.write() as tx:
        if not tx.api_clients.revoke(client_id, ctx.clock.now()):
            raise NotFound(f"No active API client with id '{client_id}'.", "apiclient_not_found")


def _lifetime(ctx: ServiceContext, tx_lifetime: int | None) -> timedelta:
    return timedelta(seconds=tx_lifetime or ctx.api_token_lifetime_seconds)


def _check_client(ctx: ServiceContext, client_id: str, secret: str | None) -> ApiClient:
    with ctx.db.read() as tx:
        client = tx.api_clients.get(client_id)
    # Hash the presented secret even for an unknown client, so timing says nothing.
    ok = tokens_equal(client.secret_hash if client else "0" * 64, secret or "")
    if client is None or client.revoked_utc is not None or (secret is not None and not ok):
        raise Unauthenticated("The client credentials are invalid.", "invalid_client")
    return client


def _account_scope(scope: str | None) -> str | None:
    if not scope:
        return None
    kind, sep, account_id = scope.strip().partition(":")
    if kind != "account" or not sep or not account_id:
        raise InvalidRequest("scope must be 'account:{AccountApiId}'.", "invalid_scope")
    return account_id


def _issue(
    ctx: ServiceContext,
    client_id: str,
    *,
    account_id: str | None,
    username: str | None = None,
    with_refresh: bool = False,
) -> IssuedToken:
    now = ctx.clock.now()
    with ctx.db.write() as tx:
        lifetime = _lifetime(ctx, tx.partner.get().api_token_lifetime_seconds)
        access, refresh = new_token(32), new_token(32) if with_refresh else None
        tx.api_tokens.add(
            ApiToken(
                token_hash=hash_token(access),
                client_id=client_id,
                issued_utc=now,
                expires_utc=now + lifetime,
                account_id=account_id,
                username=username,
                refresh_token_hash=hash_token(refresh) if refresh else None,
            )
        )
    return IssuedToken(access, client_id, now, now + lifetime, refresh, username)


def issue_client_credentials(
    ctx: ServiceContext, client_id: str, secret: str, scope: str | None
) -> IssuedToken:
    client = _check_client(ctx, client_id, secret)
    account_id = _account_scope(scope)
    if account_id is not None:
        with ctx.db.read() as tx:
            if tx.accounts.get(account_id) is None:
                raise InvalidRequest(f"Account '{account_id}' does not exist.", "invalid_scope")
    return _issue(ctx, client.client_id, account_id=account_id)


def issue_password_grant(
    ctx: ServiceContext, client_id: str, client_secret: str | None, username: str, password: str
) -> IssuedToken:
    """Cyclr's legacy grant: an account user's password; the token is restricted to the account.

    Cyclr's account-user variant passed the account's Id as ``client_secret``; when the secret is
    not the client's, it narrows the user search to that account.
    """
    with ctx.db.read() as tx:
        client = tx.api_clients.get(client_id)
        if client is None or client.revoked_utc is not None:
            raise Unauthenticated("The client credentials are invalid.", "invalid_client")
        candidates = tx.users.find(username)
        narrowed = None
        if client_secret and not tokens_equal(client.secret_hash, client_secret):
            account = tx.accounts.get(client_secret)
            narrowed = account.pk if account else -1
        accounts = {
            u.account_pk: u
            for u in candidates
            if (narrowed is None or u.account_pk == narrowed)
            and u.password_hash
            and verify_password(u.password_hash, password)
        }
        if len(accounts) != 1:
            raise InvalidRequest("The user name or password is incorrect.", "invalid_grant")
        user = next(iter(accounts.values()))
        account_row = tx.accounts.get_by_pk(user.account_pk)
        assert account_row is not None
    return _issue(
        ctx, client.client_id, account_id=account_row.id, username=user.username, with_refresh=True
    )


def issue_refresh_grant(ctx: ServiceContext, refresh_token: str) -> IssuedToken:
    with ctx.db.write() as tx:
        old = tx.api_tokens.take_by_refresh_hash(hash_token(refresh_token))
    if old is None:
        raise InvalidRequest("The refresh token is invalid.", "invalid_grant")
    return _issue(
        ctx, old.client_id, account_id=old.account_id, username=old.username, with_refresh=True
    )


def authenticate_bearer(ctx: ServiceContext, token: str) -> Principal:
    token_hash = hash_token(token)
    with ctx.db.read() as tx:
        stored = tx.api_tokens.get(token_hash)
    if stored is None or not tokens_equal(stored.token_hash, token):
        raise Unauthenticated("Authorization has been denied for this request.", "invalid_token")
    if stored.expires_utc <= ctx.clock.now():
        raise Unauthenticated("Authorization has been denied for this request.", "token_expired")
    return Principal(
        client_id=stored.client_id, account_id=stored.account_id, username=stored.username
    )
