"""The rules of account connector properties: which names exist, how values are checked and
stored, how they read back (DESIGN.md §4; Cyclr's ``/account/connectors/{id}/properties``).

A property name must match a connector parameter marked ``IsAccountConnectorProperty``
(case-insensitively, on ``TargetName`` or else ``Name``, as Cyclr); ``ClientId`` and
``ClientSecret`` are always accepted and override the application connector's. Non-empty values
are checked against the parameter's ``Pattern`` (whole value) without ever being echoed.
Sensitive values (``IsSensitive`` parameters and ``ClientSecret``) are sealed, bound to the
account connector and name, and read back as ``********``; writing the mask into one is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tokenward.catalog.schema import Connector, Parameter
from tokenward.crypto.fields import property_aad
from tokenward.domain.authvalue import MASK, contains_mask
from tokenward.domain.models import Property
from tokenward.domain.paging import Page, PageRequest
from tokenward.domain.text import check_text, shown
from tokenward.errors import InvalidRequest, NotFound
from tokenward.services.context import ServiceContext
from tokenward.services.ports import Tx

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "MAX_VALUE",
    "PropertyInput",
    "PropertyView",
    "ResolvedProperty",
    "find_property",
    "page_properties",
    "property_view",
    "put_properties",
    "resolve_property",
    "validate_properties",
    "with_defaults",
]

CLIENT_ID = "ClientId"
CLIENT_SECRET = "ClientSecret"  # noqa: S105 - a property name, not a secret
MAX_VALUE = 16 * 1024
MAX_PROPERTIES = 100


@dataclass(frozen=True)
class PropertyInput:
    """A property as a request names it (``Id`` in Cyclr bodies is ignored)."""

    name: str | None
    value: str | None = None


@dataclass(frozen=True)
class ResolvedProperty:
    """A validated property: its canonical name, value and whether it is sealed."""

    name: str
    value: str | None
    sensitive: bool


@dataclass(frozen=True)
class PropertyView:
    id: int
    name: str
    value: str | None  # "********" for a set sensitive value
    account_connector_id: int


def _matching(params: list[Parameter], name: str) -> Parameter | None:
    lowered = name.lower()
    for attr in ("property_name", "Name"):
        for param in params:
            if str(getattr(param, attr)).lower() == lowered:
                return param
    return None


def resolve_property(connector: Connector, name: str | None) -> tuple[str, bool, str | None]:
    """(canonical name, is sensitive, pattern) of a property name; 400 naming it if unknown."""
    if name is None or not name.strip():
        raise InvalidRequest("Property Name is required.", "property_name_required")
    name = name.strip()
    param = _matching(connector.property_parameters(), name)
    if param is not None:
        return param.property_name, param.IsSensitive, param.Pattern
    if name.lower() in {CLIENT_ID.lower(), CLIENT_SECRET.lower()}:
        is_secret = name.lower() == CLIENT_SECRET.lower()
        return (CLIENT_SECRET, True, None) if is_secret else (CLIENT_ID, False, None)
    quoted = shown(name)
    if _matching(connector.Parameters, name) is not None:
        raise InvalidRequest(
            f"Connector property name '{quoted}' is not an account connector property.",
            "not_account_connector_property",
        )
    raise InvalidRequest(
        f"There is not a connector property that matches name '{quoted}'.", "unknown_property"
    )


def _check_value(name: str, sensitive: bool, pattern: str | None, value: str | None) -> None:
    if value is None:
        return
    check_text(f"The value of property '{name}'", value, multiline=True)
    if len(value) > MAX_VALUE:
        raise InvalidRequest(
            f"The value of property '{name}' is longer than {MAX_VALUE} characters.",
            "invalid_property_value",
        )
    if sensitive and contains_mask(value):
        raise InvalidRequest(
            f"The value of property '{name}' contains the mask '{MASK}'; send the real value.",
            "masked_value",
        )
    if pattern and value and re.fullmatch(pattern, value) is None:
        raise InvalidRequest(
            f"The value of property '{name}' does not match its pattern {pattern}.",
            "invalid_property_value",
        )


def validate_properties(
    connector: Connector, inputs: tuple[PropertyInput, ...]
) -> list[ResolvedProperty]:
    """Every property of a request, validated before anything is written."""
    if len(inputs) > MAX_PROPERTIES:
        raise InvalidRequest(
            f"At most {MAX_PROPERTIES} properties can be set at once.", "too_many_properties"
        )
    resolved: dict[str, ResolvedProperty] = {}
    for item in inputs:
        name, sensitive, pattern = resolve_property(connector, item.name)
        if name.lower() in resolved:
            raise InvalidRequest(
                f"Property '{name}' is given more than once.", "duplicate_property"
            )
        _check_value(name, sensitive, pattern, item.value)
        resolved[name.lower()] = ResolvedProperty(name, item.value, sensitive)
    return list(resolved.values())


def with_defaults(connector: Connector, resolved: list[ResolvedProperty]) -> list[ResolvedProperty]:
    """``resolved`` plus the connector's account connector properties that have a ``Default``
    and were not given (an install starts with them, e.g. a data-centre region)."""
    given = {prop.name.lower() for prop in resolved}
    defaults = []
    for param in connector.property_parameters():
        default = param.Default
        if default is None or param.property_name.lower() in given:
            continue
        _check_value(param.property_name, param.IsSensitive, param.Pattern, str(default))
        defaults.append(ResolvedProperty(param.property_name, str(default), param.IsSensitive))
    return [*resolved, *defaults]


def _stored(
    ctx: ServiceContext, ac_id: int, prop: ResolvedProperty
) -> tuple[str | None, str | None]:
    """(plain value, sealed value) as the row keeps them."""
    if not prop.sensitive:
        return prop.value, None
    if prop.value is None:
        return None, None
    return None, ctx.sealer.seal(prop.value, property_aad(ac_id, prop.name))


def put_properties(
    ctx: ServiceContext,
    tx: Tx,
    ac_id: int,
    existing: tuple[Property, ...],
    resolved: list[ResolvedProperty],
) -> None:
    """Add or replace (by name) each resolved property of one account connector."""
    by_name = {p.name.lower(): p for p in existing}
    for prop in resolved:
        value, sealed = _stored(ctx, ac_id, prop)
        current = by_name.get(prop.name.lower())
        if current is None:
            tx.properties.add(ac_id, prop.name, value, prop.sensitive, sealed)
        else:
            tx.properties.update(
                Property(current.id, ac_id, prop.name, value, prop.sensitive, sealed)
            )


def property_view(prop: Property) -> PropertyView:
    """A property as reads show it: sensitive values masked, never opened."""
    if not prop.is_sensitive:
        return PropertyView(prop.id, prop.name, prop.value, prop.account_connector_id)
    value = MASK if prop.sealed is not None else None
    return PropertyView(prop.id, prop.name, value, prop.account_connector_id)


def find_property(props: tuple[Property, ...], property_id: int) -> Property:
    for prop in props:
        if prop.id == property_id:
            return prop
    raise NotFound(f"Property {property_id} not found.", "property_not_found")


def page_properties(props: tuple[Property, ...], page: PageRequest) -> Page[PropertyView]:
    """Properties ordered by ``Name`` or ``Id`` (the default), then paged."""
    if (page.order_by or "").lower() == "name":
        ordered = sorted(props, key=lambda p: (p.name.lower(), p.id), reverse=not page.ascending)
    else:
        ordered = sorted(props, key=lambda p: p.id, reverse=not page.ascending)
    return Page.of([property_view(p) for p in ordered], page)
