"""Changing account connectors: partial update, deauthenticate and delete.

``PUT`` is partial — absent (or null) fields stay as they are. Changing ``AuthenticationId`` to
another method drops the credential (it belonged to the old method) unless the same ``PUT``
brings an ``AuthValue``, which is then validated for the new method. ``Properties`` in a ``PUT``
are set by name; properties not named stay. Every change is validated before the first write,
so a 400 stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tokenward.domain.authvalue import ParsedAuthValue, parse_auth_value
from tokenward.domain.models import Account, AccountConnector
from tokenward.domain.text import check_text
from tokenward.errors import InvalidRequest
from tokenward.services.account_connector_views import (
    AccountConnectorView,
    load_account_connector,
    view_of,
)
from tokenward.services.auth_values import (
    authentication_entry,
    deauthenticated_event,
    store_auth_value,
)
from tokenward.services.catalog import connector_for
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry
from tokenward.services.property_rules import (
    PropertyInput,
    ResolvedProperty,
    put_properties,
    validate_properties,
)
from tokenward.services.revocation import end_credential, queue_revocation

__all__ = [
    "AccountConnectorChanges",
    "UpdatePlan",
    "apply_update",
    "deauthenticate",
    "delete_account_connector",
    "parse_optional_auth_value",
    "plan_update",
    "update_account_connector",
    "valid_description",
    "valid_name",
]

MAX_NAME = 500
MAX_DESCRIPTION = 10_000


@dataclass(frozen=True)
class AccountConnectorChanges:
    """A partial update: ``None`` leaves a field as it is."""

    name: str | None = None
    description: str | None = None
    authentication_id: str | None = None
    auth_value: str | None = None
    properties: tuple[PropertyInput, ...] | None = None
    is_partner_integration: bool | None = None


def valid_name(name: str) -> str:
    name = check_text("Name", name).strip()
    if not name:
        raise InvalidRequest("Name must not be empty.", "invalid_name")
    if len(name) > MAX_NAME:
        raise InvalidRequest(f"Name must be at most {MAX_NAME} characters.", "invalid_name")
    return name


def valid_description(description: str | None) -> str | None:
    if description is not None:
        check_text("Description", description, multiline=True)
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidRequest(
            f"Description must be at most {MAX_DESCRIPTION} characters.", "invalid_description"
        )
    return description


def parse_optional_auth_value(auth_type: str, raw: str | None) -> ParsedAuthValue | None:
    """An AuthValue if one is given; null and blank strings mean "none given" (Cyclr clients
    send ``""`` for connectors they authenticate later)."""
    if raw is None or not raw.strip():
        return None
    return parse_auth_value(auth_type, raw)


def _new_name(tx: Tx, account: Account, item: AccountConnector, name: str | None) -> str:
    if name is None:
        return item.name
    name = valid_name(name)
    if tx.account_connectors.name_taken(account.pk, name, except_id=item.id):
        raise InvalidRequest(f"Account connector name '{name}' is in use.", "name_in_use")
    return name


@dataclass(frozen=True)
class UpdatePlan:
    """Everything a partial update will write, validated before the first write."""

    updated: AccountConnector
    auth_value: ParsedAuthValue | None
    properties: list[ResolvedProperty]
    switching: bool  # the authentication method changes


def update_account_connector(
    ctx: ServiceContext,
    principal: Principal,
    header: str | None,
    ac_id: int,
    changes: AccountConnectorChanges,
) -> AccountConnectorView:
    """Partial ``PUT``: validate every change first; one transaction, so a 400 stores nothing."""
    with ctx.db.write() as tx:
        account, item = load_account_connector(tx, principal, header, ac_id)
        plan = plan_update(ctx, tx, account, item, changes)
        reloaded = apply_update(ctx, tx, principal, account, item, plan)
        return view_of(ctx, tx, principal, account, reloaded)


def apply_update(
    ctx: ServiceContext,
    tx: Tx,
    principal: Principal,
    account: Account,
    item: AccountConnector,
    plan: UpdatePlan,
) -> AccountConnector:
    """Write a planned update inside the caller's transaction; the account connector after it."""
    tx.account_connectors.update(plan.updated, ctx.clock.now())
    put_properties(ctx, tx, item.id, item.properties, plan.properties)
    if plan.auth_value is not None:
        store_auth_value(ctx, tx, item, plan.auth_value, principal, account.id)
    elif plan.switching and item.credential is not None:
        end_credential(ctx, tx, item, principal, account.id, reason="authentication_changed")
    reloaded = tx.account_connectors.get(account.pk, item.id)
    assert reloaded is not None
    return reloaded


def plan_update(
    ctx: ServiceContext,
    tx: Tx,
    account: Account,
    item: AccountConnector,
    changes: AccountConnectorChanges,
) -> UpdatePlan:
    """Every change validated (400 on the first problem); nothing written."""
    auth_value = changes.auth_value if changes.auth_value and changes.auth_value.strip() else None
    auth_id = item.authentication_id
    parsed = None
    resolved: list[ResolvedProperty] = []
    if changes.authentication_id is not None or auth_value is not None or changes.properties:
        connector = connector_for(ctx, tx, item.connector_id)
        entry = authentication_entry(connector, changes.authentication_id or auth_id)
        assert connector is not None  # authentication_entry raised otherwise
        auth_id = str(entry.Id)
        parsed = parse_optional_auth_value(entry.AuthType, auth_value)
        resolved = validate_properties(connector, changes.properties or ())
    updated = replace(
        item,
        name=_new_name(tx, account, item, changes.name),
        description=item.description
        if changes.description is None
        else valid_description(changes.description),
        authentication_id=auth_id,
        is_partner_integration=item.is_partner_integration
        if changes.is_partner_integration is None
        else changes.is_partner_integration,
    )
    switching = (auth_id or "").lower() != (item.authentication_id or "").lower()
    return UpdatePlan(updated, parsed, resolved, switching)


def deauthenticate(
    ctx: ServiceContext, principal: Principal, header: str | None, ac_id: int
) -> str:
    """Drop the credential (``PUT …/deauthenticate``), queueing its revocation at the provider
    (V-01); returns the account connector's name."""
    with ctx.db.write() as tx:
        account, item = load_account_connector(tx, principal, header, ac_id)
        end_credential(ctx, tx, item, principal, account.id)
        return item.name


def delete_account_connector(
    ctx: ServiceContext, principal: Principal, header: str | None, ac_id: int
) -> str:
    """Delete the account connector, its properties and credential; returns its name.

    The credential's tokens are queued for revocation at the provider first (V-01), and an
    authenticated connector emits ``accountconnector.deauthenticated`` (reason ``deleted``).
    """
    with ctx.db.write() as tx:
        account, item = load_account_connector(tx, principal, header, ac_id)
        now = ctx.clock.now()
        queue_revocation(ctx, tx, item, now)
        deauthenticated_event(tx, now, item, account.id, "deleted")
        tx.account_connectors.delete(item.id)
        tx.audit.add(
            [AuditEntry(now, principal.actor, "accountconnector.delete", account.id, item.id)]
        )
        return item.name
