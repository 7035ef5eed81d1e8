"""The read path of credentials: what a caller may use right now, in one read.

Part of :mod:`tokenward.services.credentials` (which re-exports the public names): the
value types (:class:`FreshCredential`, :class:`Renewal`), why a credential cannot be served
(``blocked``, ``not_authenticated``), opening the sealed document, and :func:`peek` — the
one-statement read behind every token read, method call and proxy call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tokenward.crypto.fields import credential_aad
from tokenward.domain.models import Account, AccountConnector, AuthState, Credential
from tokenward.errors import (
    CredentialCorrupted,
    StateConflict,
)
from tokenward.services.account_access import account_header_id, account_not_found, check_access
from tokenward.services.account_connector_views import (
    account_connector_not_found,
)
from tokenward.services.auth_values import authentication_entry
from tokenward.services.catalog import connector_for
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.credential_documents import (
    TokenDocument,
    read_document,
    secondary_due,
)
from tokenward.services.ports import Tx

__all__ = [
    "PRIMARY",
    "SECONDARY",
    "FreshCredential",
    "Peeked",
    "Renewal",
    "blocked",
    "fresh_view",
    "not_authenticated",
    "open_secret",
    "peek",
    "peek_item",
    "read_item",
]


_USABLE = {AuthState.ACTIVE, AuthState.REFRESHING}


_BLOCKED_MESSAGES = {
    AuthState.NEEDS_REAUTH: (
        "needs_reauth",
        "The account connector must be re-authenticated: the provider no longer accepts its "
        "credential.",
    ),
    AuthState.ERROR_CONFIG: (
        "error_config",
        "The provider refused the connector's client configuration (ClientId, ClientSecret or "
        "scopes); fix it in the application connector, then refresh.",
    ),
    AuthState.EXHAUSTED: (
        "exhausted",
        "Refreshing the credential failed for too long; refresh it manually or re-authenticate.",
    ),
}


#: The token sets of a credential: its own, and the second one a hook may keep beside it.
PRIMARY = "primary"


SECONDARY = "secondary"


@dataclass(frozen=True)
class FreshCredential:
    """A usable credential for one call. Secrets stay out of repr."""

    account_connector_id: int
    auth_type: str
    version: int
    access_token: str | None = field(default=None, repr=False)
    token_type: str | None = None
    token_secret: str | None = field(default=None, repr=False)
    expires_utc: datetime | None = None
    scopes: tuple[str, ...] = ()
    #: the access token of the secondary set a hook keeps (methods with ``TokenSet: secondary``)
    secondary_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Renewal:
    """The stored credential cannot be used as it is: renew it (see :func:`renew`)."""

    account_id: str
    account_pk: int
    account_connector_id: int
    version: int


#: What a first read found: a usable credential, what to renew, or why none can be served.
Peeked = FreshCredential | Renewal | StateConflict


def not_authenticated() -> StateConflict:
    return StateConflict("The account connector is not authenticated.", "not_authenticated")


def blocked(cred: Credential) -> StateConflict:
    code, message = _BLOCKED_MESSAGES[cred.state]
    if cred.error_code:
        message = f"{message} Last error: {cred.error_code}."
    return StateConflict(message, code)


def open_secret(ctx: ServiceContext, cred: Credential) -> str:
    assert cred.secret_sealed is not None
    try:
        return ctx.sealer.open(cred.secret_sealed, credential_aad(cred.account_connector_id))
    except CredentialCorrupted:
        raise StateConflict(
            "The stored credential could not be decrypted (credential corrupted); it is not "
            "served. Write a new AuthValue or re-authenticate the connector.",
            "credential_corrupted",
        ) from None


def _scopes(cred: Credential, doc: TokenDocument) -> tuple[str, ...]:
    granted = doc.scope or cred.scope
    return tuple(granted.split()) if granted else ()


def fresh_view(auth_type: str, cred: Credential, doc: TokenDocument) -> FreshCredential:
    if auth_type == "OAuth2":
        return FreshCredential(
            account_connector_id=cred.account_connector_id,
            auth_type=auth_type,
            version=cred.version,
            access_token=doc.access_token,
            token_type=doc.token_type or "Bearer",
            expires_utc=doc.expires_utc,
            scopes=_scopes(cred, doc),
            secondary_token=doc.secondary.access_token if doc.secondary else None,
        )
    return FreshCredential(
        account_connector_id=cred.account_connector_id,
        auth_type=auth_type,
        version=cred.version,
        access_token=doc.access_token if auth_type == "OAuth1" else doc.secret,
        token_secret=doc.token_secret,
    )


def _usable(doc: TokenDocument, now: datetime, margin: timedelta) -> bool:
    """An access token that can be sent now (unknown expiry counts: refreshed on 401, T-04),
    and a secondary set, when there is one to renew, that is not due either."""
    return _primary_usable(doc, now, margin) and not secondary_due(doc, now, margin)


def _primary_usable(doc: TokenDocument, now: datetime, margin: timedelta) -> bool:
    if doc.access_token is None:
        return False
    return doc.expires_utc is None or doc.expires_utc - margin > now


def _auth_type(
    ctx: ServiceContext, tx: Tx, item: AccountConnector, catalog_version: str | None = None
) -> str:
    return str(_entry(ctx, tx, item, catalog_version).AuthType)


def _entry(
    ctx: ServiceContext, tx: Tx, item: AccountConnector, catalog_version: str | None = None
) -> Any:
    """The account connector's authentication entry (its knobs: RefreshMargin, …)."""
    connector = connector_for(ctx, tx, item.connector_id, catalog_version)
    return authentication_entry(connector, item.authentication_id)


def _peek_item(
    ctx: ServiceContext,
    tx: Tx,
    account: Account,
    item: AccountConnector,
    catalog_version: str | None = None,
) -> FreshCredential | Renewal:
    auth_type = _auth_type(ctx, tx, item, catalog_version)
    if auth_type == "None":
        return FreshCredential(
            item.id, auth_type, item.credential.version if item.credential else 0
        )
    cred = item.credential
    if cred is None or cred.secret_sealed is None:
        if cred is not None and cred.state in _BLOCKED_MESSAGES:
            raise blocked(cred)
        raise not_authenticated()
    if cred.state in _BLOCKED_MESSAGES:
        raise blocked(cred)
    doc = read_document(auth_type, open_secret(ctx, cred))
    if auth_type != "OAuth2":
        if cred.state not in _USABLE:
            raise not_authenticated()
        return fresh_view(auth_type, cred, doc)
    if cred.state in _USABLE and _usable(doc, ctx.clock.now(), ctx.lifecycle.hard_margin):
        return fresh_view(auth_type, cred, doc)
    return Renewal(account.id, account.pk, item.id, cred.version)


def read_item(
    tx: Tx, principal: Principal, header: str | None, ac_id: int, *, properties: bool = True
) -> tuple[Account, AccountConnector, str | None]:
    """The caller's account connector ``ac_id`` in one statement, with the custom connectors'
    version (catalog.view). Authorizes like every account-level call (401 without the account
    header, 403 for a token restricted to another account, 404 for another account's
    connector: K-03). ``properties=False``: the item comes without its properties."""
    account_id = account_header_id(header)
    found = tx.account_connectors.read_for_account(account_id, ac_id, properties=properties)
    if found.account is None:
        raise account_not_found(account_id)
    account = check_access(principal, found.account)
    if found.item is None:
        raise account_connector_not_found(ac_id)
    return account, found.item, found.catalog_version


def peek_item(
    ctx: ServiceContext,
    tx: Tx,
    account: Account,
    item: AccountConnector,
    catalog_version: str | None = None,
) -> Peeked:
    """:func:`peek` of an account connector already read: a refusal is returned, not raised, so
    that the caller can validate its own input first."""
    try:
        return _peek_item(ctx, tx, account, item, catalog_version)
    except StateConflict as refusal:
        return refusal


def peek(
    ctx: ServiceContext, principal: Principal, header: str | None, ac_id: int
) -> FreshCredential | Renewal:
    """One read: the stored credential if it is usable now, else what to renew (401/403/404 as
    :func:`read_item`)."""
    # one statement (read_item); the catalog lookup that may follow is independent of it
    with ctx.db.read(snapshot=False) as tx:
        account, item, catalog_version = read_item(tx, principal, header, ac_id, properties=False)
        return _peek_item(ctx, tx, account, item, catalog_version)
