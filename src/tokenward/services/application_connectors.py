"""The application connector library: the partner's OAuth app per connector.

Each entry holds the partner-wide ``ClientId`` and ``ClientSecret`` used for a connector (an
account connector's ``ClientId``/``ClientSecret`` properties override them), the ``Scopes`` to
request instead of the connector's defaults (``None``: the defaults), free-form ``Settings`` and
whether the connector is ``Enabled``. A connector without an entry reads as the defaults.

``ClientSecret`` is write-only: it is sealed with the connector's associated data (S-08) and
reads show ``"********"`` when one is set, else ``null``. Because a partner may read an entry,
change a field and write the whole entry back, a ``ClientSecret`` that *is* the mask keeps the
stored secret; ``null`` or ``""`` removes it; any other value containing the mask is refused.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace

from tokenward.catalog.schema import Connector
from tokenward.crypto.fields import client_secret_aad
from tokenward.domain.authvalue import MASK
from tokenward.domain.models import ApplicationConnector
from tokenward.domain.paging import Page, PageRequest
from tokenward.errors import InvalidRequest, NotFound
from tokenward.services.catalog import connector_for
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry

__all__ = [
    "UNSET",
    "ApplicationConnectorChanges",
    "ApplicationConnectorView",
    "get_application_connector",
    "list_application_connectors",
    "put_application_connector",
]

MAX_CLIENT_ID = 1000
MAX_SECRET = 4000
MAX_SCOPES = 100
MAX_SCOPE = 500
MAX_SETTINGS = 50
MAX_SETTING = 4000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Unset(enum.Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET  # a field the request did not mention: keep the stored value


@dataclass(frozen=True)
class ApplicationConnectorChanges:
    """A partial update; ``UNSET`` leaves a field as it is."""

    client_id: str | _Unset | None = UNSET
    client_secret: str | _Unset | None = UNSET
    scopes: list[str] | str | _Unset | None = UNSET
    settings: dict[str, str] | _Unset | None = UNSET
    enabled: bool | _Unset | None = UNSET


@dataclass(frozen=True)
class ApplicationConnectorView:
    """A library entry as reads show it (never the secret itself)."""

    connector_id: int
    connector: Connector | None  # None when the connector has left the catalog
    client_id: str | None
    has_client_secret: bool
    scopes: tuple[str, ...] | None
    settings: dict[str, str]
    enabled: bool


def _view(entry: ApplicationConnector, connector: Connector | None) -> ApplicationConnectorView:
    return ApplicationConnectorView(
        connector_id=entry.connector_id,
        connector=connector,
        client_id=entry.client_id,
        has_client_secret=entry.client_secret_sealed is not None,
        scopes=entry.scopes,
        settings=dict(entry.settings),
        enabled=entry.enabled,
    )


def _require_connector(ctx: ServiceContext, tx: Tx, connector_id: int) -> Connector:
    connector = connector_for(ctx, tx, connector_id)
    if connector is None:
        raise NotFound(f"Connector '{connector_id}' not found.", "connector_not_found")
    return connector


def list_application_connectors(
    ctx: ServiceContext, page: PageRequest
) -> Page[ApplicationConnectorView]:
    """The stored library entries, in connector Id order."""
    with ctx.db.read() as tx:
        entries = [
            _view(entry, connector_for(ctx, tx, entry.connector_id))
            for entry in tx.application_connectors.list()
        ]
    if not page.ascending:
        entries.reverse()
    return Page.of(entries, page)


def get_application_connector(ctx: ServiceContext, connector_id: int) -> ApplicationConnectorView:
    """One connector's entry (the defaults when none is stored); 404 for an unknown connector."""
    with ctx.db.read() as tx:
        connector = _require_connector(ctx, tx, connector_id)
        entry = tx.application_connectors.get(connector_id)
    return _view(entry or ApplicationConnector(connector_id), connector)


def _text(value: str | None, field: str, limit: int) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > limit or _CONTROL.search(value):
        raise InvalidRequest(
            f"{field} must be at most {limit} characters without control characters.",
            f"invalid_{field.lower()}",
        )
    return value.strip()


def _scopes(value: list[str] | str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = re.split(r"[\s,]+", value) if isinstance(value, str) else value
    scopes = tuple(item.strip() for item in items if item.strip())
    if len(scopes) > MAX_SCOPES or any(
        len(s) > MAX_SCOPE or re.search(r"[\s\x00-\x1f]", s) for s in scopes
    ):
        raise InvalidRequest(
            f"Scopes must be at most {MAX_SCOPES} scopes of at most {MAX_SCOPE} characters "
            "without spaces.",
            "invalid_scopes",
        )
    return scopes


def _settings(value: dict[str, str] | None) -> dict[str, str]:
    value = value or {}
    if len(value) > MAX_SETTINGS or any(
        not k.strip() or len(k) > 100 or len(v) > MAX_SETTING for k, v in value.items()
    ):
        raise InvalidRequest(
            f"Settings must hold at most {MAX_SETTINGS} names (1 to 100 characters) with values "
            f"of at most {MAX_SETTING} characters.",
            "invalid_settings",
        )
    return dict(value)


def _secret(ctx: ServiceContext, entry: ApplicationConnector, value: str | None) -> str | None:
    if value == MASK:
        return entry.client_secret_sealed  # a masked read written back: keep the secret
    if value is not None and MASK in value:
        raise InvalidRequest(
            "ClientSecret contains the mask '********'; send the real secret, or exactly "
            "'********' to keep the stored one.",
            "masked_value",
        )
    if not value:
        return None
    if len(value) > MAX_SECRET or _CONTROL.search(value):
        raise InvalidRequest(
            f"ClientSecret must be at most {MAX_SECRET} characters without control characters.",
            "invalid_clientsecret",
        )
    return ctx.sealer.seal(value, client_secret_aad(entry.connector_id))  # as given: no strip


def _apply(
    ctx: ServiceContext, entry: ApplicationConnector, changes: ApplicationConnectorChanges
) -> ApplicationConnector:
    c = changes
    return replace(
        entry,
        client_id=entry.client_id
        if c.client_id is UNSET
        else _text(c.client_id, "ClientId", MAX_CLIENT_ID),
        client_secret_sealed=entry.client_secret_sealed
        if c.client_secret is UNSET
        else _secret(ctx, entry, c.client_secret),
        scopes=entry.scopes if c.scopes is UNSET else _scopes(c.scopes),
        settings=entry.settings if c.settings is UNSET else _settings(c.settings),
        enabled=entry.enabled if c.enabled is UNSET or c.enabled is None else c.enabled,
    )


def put_application_connector(
    ctx: ServiceContext,
    principal: Principal,
    connector_id: int,
    changes: ApplicationConnectorChanges,
) -> ApplicationConnectorView:
    """Create or change a library entry (partial: fields not sent keep their values)."""
    with ctx.db.write() as tx:
        connector = _require_connector(ctx, tx, connector_id)
        stored = tx.application_connectors.get(connector_id) or ApplicationConnector(connector_id)
        updated = _apply(ctx, stored, changes)
        now = ctx.clock.now()
        tx.application_connectors.put(updated, now)
        secret_changed = updated.client_secret_sealed != stored.client_secret_sealed
        detail = f"connector {connector_id}" + ("; client secret changed" if secret_changed else "")
        tx.audit.add([AuditEntry(now, principal.actor, "applicationconnector.put", detail=detail)])
    return _view(updated, connector)
