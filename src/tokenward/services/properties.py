"""Property CRUD on one account connector (``/v1.0/account/connectors/{id}/properties``).

Decisions (docs/account-connectors.md): ``POST`` adds a property; a name the account connector
already has is a 400 (``property_exists``) — change a value with ``PUT …/properties/{id}``.
``PUT`` changes the value (an absent ``Value`` leaves it; ``null`` clears it); a property is not
renamed (a different ``Name`` is a 400). Writes of sensitive values are audited. Names and
values follow :mod:`tokenward.services.property_rules`.
"""

from __future__ import annotations

from tokenward.catalog.schema import Connector
from tokenward.domain.models import Account, AccountConnector, Property
from tokenward.domain.paging import Page, PageRequest
from tokenward.errors import InvalidRequest
from tokenward.services.account_connector_views import load_account_connector
from tokenward.services.auth_values import authentication_entry
from tokenward.services.catalog import connector_for
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry
from tokenward.services.property_rules import (
    PropertyInput,
    PropertyView,
    ResolvedProperty,
    find_property,
    page_properties,
    property_view,
    put_properties,
    validate_properties,
)

__all__ = [
    "add_property",
    "delete_property",
    "get_property",
    "list_properties",
    "update_property",
]


def _definition(ctx: ServiceContext, tx: Tx, item: AccountConnector) -> Connector:
    connector = connector_for(ctx, tx, item.connector_id)
    authentication_entry(connector, item.authentication_id)  # 409 if the definition is gone
    assert connector is not None
    return connector


def _write(
    ctx: ServiceContext,
    tx: Tx,
    principal: Principal,
    account: Account,
    item: AccountConnector,
    prop: ResolvedProperty,
) -> PropertyView:
    put_properties(ctx, tx, item.id, item.properties, [prop])
    if prop.sensitive:
        entry = AuditEntry(
            ctx.clock.now(), principal.actor, "property.write", account.id, item.id, prop.name
        )
        tx.audit.add([entry])
    reloaded = tx.account_connectors.get(account.pk, item.id)
    assert reloaded is not None
    written = next(p for p in reloaded.properties if p.name.lower() == prop.name.lower())
    return property_view(written)


def list_properties(
    ctx: ServiceContext, principal: Principal, header: str | None, ac_id: int, page: PageRequest
) -> Page[PropertyView]:
    with ctx.db.read() as tx:
        _, item = load_account_connector(tx, principal, header, ac_id)
        return page_properties(item.properties, page)


def get_property(
    ctx: ServiceContext, principal: Principal, header: str | None, ac_id: int, property_id: int
) -> PropertyView:
    with ctx.db.read() as tx:
        _, item = load_account_connector(tx, principal, header, ac_id)
        return property_view(find_property(item.properties, property_id))


def add_property(
    ctx: ServiceContext,
    principal: Principal,
    header: str | None,
    ac_id: int,
    given: PropertyInput,
) -> PropertyView:
    with ctx.db.write() as tx:
        account, item = load_account_connector(tx, principal, header, ac_id)
        (prop,) = validate_properties(_definition(ctx, tx, item), (given,))
        if any(p.name.lower() == prop.name.lower() for p in item.properties):
            raise InvalidRequest(
                f"Property '{prop.name}' already exists on this account connector; change it "
                "with PUT.",
                "property_exists",
            )
        return _write(ctx, tx, principal, account, item, prop)


def _same_name(current: Property, name: str | None) -> None:
    if name is not None and name.strip() and name.strip().lower() != current.name.lower():
        raise InvalidRequest(
            f"Property '{current.name}' cannot be renamed; delete it and add the other name.",
            "property_rename",
        )


def update_property(
    ctx: ServiceContext,
    principal: Principal,
    header: str | None,
    ac_id: int,
    property_id: int,
    given: PropertyInput,
    *,
    value_given: bool,
) -> PropertyView:
    with ctx.db.write() as tx:
        account, item = load_account_connector(tx, principal, header, ac_id)
        current = find_property(item.properties, property_id)
        _same_name(current, given.name)
        if not value_given:
            return property_view(current)
        connector = _definition(ctx, tx, item)
        (prop,) = validate_properties(connector, (PropertyInput(current.name, given.value),))
        return _write(ctx, tx, principal, account, item, prop)


def delete_property(
    ctx: ServiceContext, principal: Principal, header: str | None, ac_id: int, property_id: int
) -> str:
    """Remove one property; returns its name."""
    with ctx.db.write() as tx:
        _, item = load_account_connector(tx, principal, header, ac_id)
        current = find_property(item.properties, property_id)
        tx.properties.delete(current.id)
        return current.name
