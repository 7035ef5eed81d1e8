"""Installing a connector into an account (``POST /v1.0/connectors/{id or name}/install``).

Decisions (docs/account-connectors.md):

- ``{ref}`` of digits is a connector Id, anything else a Name; a name with several versions
  installs the highest version (``catalog.resolve_connector``).
- A ``Draft`` connector is refused with Cyclr's text.
- ``Name`` defaults to the connector's name; when that is taken in the account the first free
  ``"Name (2)"``, ``"Name (3)"``… is used. An explicit ``Name`` that is taken is Cyclr's 400.
- ``AuthenticationId`` picks the authentication method (default: the connector's first); the
  account connector records the method it got.
- Everything — account connector, properties, credential, audit — is written in one
  transaction after every input has been validated, so a refused install stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenward.catalog.schema import Connector
from tokenward.domain.authvalue import ParsedAuthValue
from tokenward.domain.models import Account, AccountConnector
from tokenward.errors import InvalidRequest
from tokenward.services.account_access import resolve_account_tx
from tokenward.services.account_connector_changes import (
    parse_optional_auth_value,
    valid_description,
    valid_name,
)
from tokenward.services.account_connector_views import AccountConnectorView, view_of
from tokenward.services.auth_values import authentication_entry, store_auth_value
from tokenward.services.catalog import resolve_connector
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry
from tokenward.services.property_rules import (
    PropertyInput,
    ResolvedProperty,
    put_properties,
    validate_properties,
    with_defaults,
)

__all__ = ["InstallPlan", "InstallRequest", "apply_install", "install", "plan_install"]

MAX_NAME_SUFFIX = 1000


@dataclass(frozen=True)
class InstallRequest:
    name: str | None = None
    description: str | None = None
    authentication_id: str | None = None
    auth_value: str | None = None
    properties: tuple[PropertyInput, ...] = ()
    is_partner_integration: bool | None = None


def _check_installable(connector: Connector) -> None:
    if connector.Status.strip().lower() == "draft":
        raise InvalidRequest(
            f"Connector {connector.Id} is a draft and cannot be installed.", "connector_draft"
        )


def _install_name(tx: Tx, account: Account, connector: Connector, name: str | None) -> str:
    if name is not None and name.strip():
        name = valid_name(name)
        if tx.account_connectors.name_taken(account.pk, name):
            raise InvalidRequest(f"Account connector name '{name}' is in use.", "name_in_use")
        return name
    base = valid_name(connector.Name)
    for n in range(1, MAX_NAME_SUFFIX):
        candidate = base if n == 1 else f"{base} ({n})"
        if not tx.account_connectors.name_taken(account.pk, candidate):
            return candidate
    raise InvalidRequest(
        f"Too many account connectors are named '{base}'; give a Name.", "name_in_use"
    )


@dataclass(frozen=True)
class InstallPlan:
    """An install validated before the first write (:func:`plan_install`)."""

    connector: Connector
    authentication_id: str
    name: str
    description: str | None
    auth_value: ParsedAuthValue | None
    properties: list[ResolvedProperty]
    is_partner_integration: bool


def plan_install(
    tx: Tx, account: Account, connector: Connector, request: InstallRequest
) -> InstallPlan:
    """Every input of an install validated (400 on the first problem); nothing written."""
    _check_installable(connector)
    entry = authentication_entry(connector, request.authentication_id)
    parsed = parse_optional_auth_value(entry.AuthType, request.auth_value)
    resolved = with_defaults(connector, validate_properties(connector, request.properties))
    description = valid_description(request.description)
    name = _install_name(tx, account, connector, request.name)
    partner = bool(request.is_partner_integration)
    return InstallPlan(connector, str(entry.Id), name, description, parsed, resolved, partner)


def apply_install(
    ctx: ServiceContext, tx: Tx, principal: Principal, account: Account, plan: InstallPlan
) -> AccountConnector:
    """Write a planned install inside the caller's transaction; the new account connector."""
    now = ctx.clock.now()
    ac_id = tx.account_connectors.add(
        account.pk,
        plan.connector.Id,
        plan.authentication_id,
        plan.name,
        plan.description,
        plan.is_partner_integration,
        now,
    )
    put_properties(ctx, tx, ac_id, (), plan.properties)
    tx.audit.add([AuditEntry(now, principal.actor, "accountconnector.install", account.id, ac_id)])
    item = tx.account_connectors.get(account.pk, ac_id)
    assert item is not None
    if plan.auth_value is not None:
        store_auth_value(ctx, tx, item, plan.auth_value, principal, account.id)
        item = tx.account_connectors.get(account.pk, ac_id)
        assert item is not None
    return item


def install(
    ctx: ServiceContext,
    principal: Principal,
    header: str | None,
    ref: str,
    request: InstallRequest,
) -> AccountConnectorView:
    with ctx.db.write() as tx:
        account = resolve_account_tx(tx, principal, header)
        connector = resolve_connector(ctx, tx, ref)
        plan = plan_install(tx, account, connector, request)
        item = apply_install(ctx, tx, principal, account, plan)
        return view_of(ctx, tx, principal, account, item)
