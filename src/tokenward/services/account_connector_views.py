"""Reading account connectors: the response view, list and get (``/v1.0/account/connectors``).

Every call resolves the account from ``X-Cyclr-Account`` inside its own transaction and finds
the account connector *within that account*: another account's id is a 404 (SECURITY.md K-03).
A credential is revealed only for partner integrations and only when the partner's
RevealPartnerAuthValue setting allows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenward.catalog.schema import Connector
from tokenward.domain.models import Account, AccountConnector
from tokenward.domain.paging import Page, PageRequest
from tokenward.errors import NotFound
from tokenward.services.account_access import (
    account_header_id,
    account_not_found,
    check_access,
    resolve_account_tx,
)
from tokenward.services.auth_values import CredentialReading, read_credential
from tokenward.services.catalog import connector_for
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.ports import Tx
from tokenward.services.property_rules import PropertyView, property_view

__all__ = [
    "AccountConnectorView",
    "account_connector_not_found",
    "get_account_connector",
    "list_account_connectors",
    "load_account_connector",
    "view_of",
]


@dataclass(frozen=True)
class AccountConnectorView:
    """An account connector as responses show it (secrets masked or, if allowed, revealed)."""

    item: AccountConnector
    connector: Connector | None  # None when the definition has left the catalog
    credential: CredentialReading
    properties: tuple[PropertyView, ...]


def load_account_connector(
    tx: Tx, principal: Principal, header: str | None, ac_id: int
) -> tuple[Account, AccountConnector]:
    """The caller's account and its account connector ``ac_id`` (401/403/404 rules, K-03)."""
    account = resolve_account_tx(tx, principal, header)
    item = tx.account_connectors.get(account.pk, ac_id)
    if item is None:
        raise account_connector_not_found(ac_id)
    return account, item


def account_connector_not_found(ac_id: int) -> NotFound:
    return NotFound(f"Account connector {ac_id} not found.", "account_connector_not_found")


def view_of(
    ctx: ServiceContext,
    tx: Tx,
    principal: Principal,
    account: Account,
    item: AccountConnector,
    *,
    reveal_setting: bool = False,
    strict: bool = False,
    catalog_version: str | None = None,
) -> AccountConnectorView:
    """The response view.

    ``reveal_setting``: the partner's RevealPartnerAuthValue — passed by reads only; responses
    to writes never reveal (the caller has just sent the value). ``strict``: a credential that
    would be revealed but does not open is a 409 instead of an ``AuthError``.
    ``catalog_version``: the custom connectors' version read with ``item`` (catalog.view).
    """
    connector = connector_for(ctx, tx, item.connector_id, catalog_version)
    entry = connector.auth(item.authentication_id) if connector else None
    reveal = item.is_partner_integration and reveal_setting
    reading = read_credential(
        ctx,
        item,
        reveal=reveal,
        strict=strict and reveal,
        actor=principal,
        account_id=account.id,
        no_auth=entry is not None and entry.AuthType == "None",
    )
    props = tuple(property_view(p) for p in item.properties)
    return AccountConnectorView(item, connector, reading, props)


def list_account_connectors(
    ctx: ServiceContext, principal: Principal, header: str | None, page: PageRequest
) -> Page[AccountConnectorView]:
    """The account's connectors, ordered by ``Name`` or ``Id`` (default), then paged."""
    with ctx.db.read() as tx:
        account = resolve_account_tx(tx, principal, header)
        items = tx.account_connectors.list(account.pk)
        if (page.order_by or "").lower() == "name":
            items.sort(key=lambda i: (i.name.lower(), i.id), reverse=not page.ascending)
        else:
            items.sort(key=lambda i: i.id, reverse=not page.ascending)
        window = Page.of(items, page)
        reveal = tx.partner.get().reveal_partner_auth_value
        views = [
            view_of(ctx, tx, principal, account, item, reveal_setting=reveal)
            for item in window.items
        ]
        return Page(views, window.total, window.page_size)


def get_account_connector(
    ctx: ServiceContext, principal: Principal, header: str | None, ac_id: int
) -> AccountConnectorView:
    account_id = account_header_id(header)
    with ctx.db.read() as tx:
        found = tx.account_connectors.read_for_account(account_id, ac_id)  # one round trip
        if found.account is None:
            raise account_not_found(account_id)
        account = check_access(principal, found.account)
        if found.item is None:
            raise account_connector_not_found(ac_id)
        return view_of(
            ctx,
            tx,
            principal,
            account,
            found.item,
            reveal_setting=found.reveal,
            strict=True,
            catalog_version=found.catalog_version,
        )
