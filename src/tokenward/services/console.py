"""What the partner console shows and does, composed from the services the partner API uses.

The console never goes around them: library entries change through
:mod:`.application_connectors`, settings through :mod:`.partner_settings`, credentials through
:func:`.credentials.refresh_now` and :func:`.account_connector_changes.deauthenticate`, events
through :mod:`.webhooks`. This module only gathers what one page needs and records in the audit
log the console actions whose services do not audit themselves (a forced refresh, a redelivery).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import anyio

from tokenward.catalog.schema import Connector
from tokenward.domain.models import Account, Event
from tokenward.domain.paging import MAX_PAGE_SIZE, Page, PageRequest
from tokenward.errors import ProtocolError, ServiceError
from tokenward.services import credentials, webhooks
from tokenward.services.account_connector_views import (
    AccountConnectorView,
    list_account_connectors,
)
from tokenward.services.accounts import get_account
from tokenward.services.application_connectors import (
    ApplicationConnectorView,
    list_application_connectors,
)
from tokenward.services.catalog import list_connectors
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.partner_settings import (
    PartnerSettingsChanges,
    PartnerSettingsView,
    update_partner_settings,
)
from tokenward.services.ports.system import AuditEntry

__all__ = [
    "AuditPage",
    "LibraryRow",
    "account_overview",
    "auth_types",
    "events_page",
    "library_rows",
    "recent_audit",
    "redeliver_event",
    "refresh_account_connector",
    "set_allowed_origins",
    "set_webhook",
]

_ALL = PageRequest(page=1, page_size=MAX_PAGE_SIZE)
MAX_ORIGINS_TEXT = 20_000


@dataclass(frozen=True)
class LibraryRow:
    """One connector of the catalog with its library entry (None: nothing stored yet)."""

    connector: Connector
    entry: ApplicationConnectorView | None


def auth_types(connector: Connector) -> tuple[str, ...]:
    """The connector's authentication types, e.g. ``("OAuth2",)``."""
    return tuple(dict.fromkeys(auth.AuthType for auth in connector.Authentication))


def _needs_client(connector: Connector) -> bool:
    """A library entry matters where the partner registers an app: OAuth connectors."""
    return any(kind in ("OAuth2", "OAuth1") for kind in auth_types(connector))


def library_rows(ctx: ServiceContext, query: str | None = None) -> list[LibraryRow]:
    """The OAuth connectors of the catalog matching ``query``, with their library entries."""
    entries = {e.connector_id: e for e in list_application_connectors(ctx, _ALL).items}
    found = list_connectors(ctx, _ALL, query=query or None).items
    return [LibraryRow(c, entries.get(c.Id)) for c in found if _needs_client(c)]


def account_overview(
    ctx: ServiceContext, principal: Principal, account_id: str
) -> tuple[Account, list[AccountConnectorView]]:
    """An account and its connectors with their credential state (404 for an unknown id)."""
    account = get_account(ctx, account_id)
    page = list_account_connectors(ctx, principal, account.id, _ALL)
    return account, page.items


def _audit(ctx: ServiceContext, entry: AuditEntry) -> None:
    with ctx.db.write() as tx:
        tx.audit.add([entry])


async def refresh_account_connector(
    ctx: ServiceContext, principal: Principal, account_id: str, ac_id: int
) -> None:
    """Refresh now (forced, single flight), audited with its outcome either way."""
    outcome = "ok"
    try:
        await credentials.refresh_now(ctx, principal, account_id, ac_id)
    except (ServiceError, ProtocolError) as exc:
        outcome = getattr(exc, "code", None) or type(exc).__name__
        raise
    finally:
        entry = AuditEntry(
            ctx.clock.now(), principal.actor, "accountconnector.refresh", account_id, ac_id, outcome
        )
        await anyio.to_thread.run_sync(_audit, ctx, entry)


def redeliver_event(ctx: ServiceContext, principal: Principal, event_id: str) -> Event:
    """Queue an event for delivery again under the same id (audited)."""
    event = webhooks.redeliver(ctx, event_id)
    now = ctx.clock.now()
    _audit(
        ctx,
        AuditEntry(
            now,
            principal.actor,
            "event.redeliver",
            event.account_id,
            event.account_connector_id,
            event.id,
        ),
    )
    return event


def set_allowed_origins(
    ctx: ServiceContext, principal: Principal, text: str
) -> PartnerSettingsView:
    """Replace the stored allowed origins with the lines (or commas) of ``text``."""
    values = tuple(v for v in re.split(r"[\s,]+", text[:MAX_ORIGINS_TEXT]) if v)
    changes = PartnerSettingsChanges(
        given=frozenset({"allowed_target_origins"}), allowed_target_origins=values
    )
    return update_partner_settings(ctx, principal, changes)


def set_webhook(
    ctx: ServiceContext, principal: Principal, url: str, secret: str
) -> PartnerSettingsView:
    """Set the webhook URL; the secret only when one is typed (it is write-only)."""
    given = {"webhook_url"} | ({"webhook_secret"} if secret else set())
    changes = PartnerSettingsChanges(
        given=frozenset(given), webhook_url=url, webhook_secret=secret or None
    )
    return update_partner_settings(ctx, principal, changes)


@dataclass(frozen=True)
class AuditPage:
    """One page of the audit log, newest first."""

    entries: list[AuditEntry]
    page: int
    has_older: bool


def recent_audit(ctx: ServiceContext, page: int = 1, page_size: int = 200) -> AuditPage:
    """Page ``page`` of the audit log, newest first (hot-path entries queued in memory are
    flushed first)."""
    ctx.audit.flush()
    page = max(1, min(page, 100_000))
    with ctx.db.read() as tx:
        found = tx.audit.list(page_size + 1, (page - 1) * page_size)
    return AuditPage(found[:page_size], page, len(found) > page_size)


def events_page(ctx: ServiceContext, page: int) -> Page[Event]:
    """The outbox, newest first, 50 a page."""
    return webhooks.list_events(ctx, PageRequest(page=max(1, page), page_size=50))
