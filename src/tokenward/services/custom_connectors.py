"""The partner's custom connectors: definitions posted as JSON (``POST /v1.0/connectors``).

A custom connector uses the YAML format (DESIGN.md §6) and passes the same checks as the
catalog, against the catalog and the other custom connectors, with every problem listed in one
400 ``Message``. tokenward assigns what a partner cannot know in advance:

- the connector ``Id``, from 100000 up (any ``Id`` in the body is ignored; PUT uses the path's);
- a missing method ``Id`` (connector Id * 100 + n), method parameter ``Id`` (method Id * 100 +
  n), connector parameter ``Id`` (connector Id * 10000 + n), ``MethodUniqueIdentifier`` or
  authentication ``Id`` (random GUIDs). Given ones are kept, so a definition read back and
  written again keeps its Ids; custom method Ids are 10000000 and up, parameter Ids
  1000000000 and up, so they never meet the catalog's.

Writes are refused (and nothing is stored) on any problem. A connector installed in any account
cannot be deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from tokenward.catalog.checks import CUSTOM_CONNECTOR_FIRST_ID
from tokenward.catalog.loader import validate_definitions
from tokenward.catalog.schema import Connector
from tokenward.errors import CatalogInvalid, InvalidRequest, NotFound
from tokenward.services.catalog import forget_view, is_custom, view
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry

__all__ = ["create_custom_connector", "delete_custom_connector", "update_custom_connector"]

_BLOCK = 99  # Ids assigned per block (…01 to …99)


def _key(data: dict[str, Any], name: str) -> str | None:
    """The key of ``data`` that binds to ``name`` (keys bind case-insensitively)."""
    return next((k for k in data if str(k).lower() == name.lower()), None)


def _items(data: dict[str, Any], name: str) -> Iterator[dict[str, Any]]:
    key = _key(data, name)
    value = data.get(key) if key is not None else None
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def _id_of(item: dict[str, Any]) -> int | None:
    value = item.get(_key(item, "Id") or "Id")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _fill_ids(items: list[dict[str, Any]], base: int) -> None:
    """Give each item without an ``Id`` the next free ``base + n`` (n ≤ 99)."""
    used = {_id_of(item) for item in items}
    free = (base + n for n in range(1, _BLOCK + 1) if base + n not in used)
    for item in items:
        if _key(item, "Id") is None:
            next_id = next(free, None)
            if next_id is None:
                return  # the schema then reports the missing Ids
            item["Id"] = next_id


def _fill_guid(item: dict[str, Any], name: str) -> None:
    if _key(item, name) is None:
        item[name] = str(uuid.uuid4())


def _with_assigned_ids(data: dict[str, Any], connector_id: int) -> dict[str, Any]:
    data = _deep_copy({k: v for k, v in data.items() if str(k).lower() != "id"})
    data["Id"] = connector_id
    _fill_ids(list(_items(data, "Parameters")), connector_id * 10_000)
    methods = list(_items(data, "Methods"))
    _fill_ids(methods, connector_id * 100)
    for method in methods:
        _fill_guid(method, "MethodUniqueIdentifier")
        method_id = _id_of(method)
        if method_id is not None:
            _fill_ids(list(_items(method, "Parameters")), method_id * 100)
    for entry in _items(data, "Authentication"):
        _fill_guid(entry, "Id")
    return data


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _validated(ctx: ServiceContext, tx: Tx, data: Any, connector_id: int) -> Connector:
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", "invalid_body")
    others = [
        (f"connector {c.Id} ({c.Name})", c) for c in view(ctx, tx).all() if c.Id != connector_id
    ]
    try:
        [connector] = validate_definitions(
            [("", _with_assigned_ids(data, connector_id))],
            existing=others,
            custom=True,
            allow_insecure_http=ctx.allow_insecure_http,
        )
    except CatalogInvalid as exc:
        raise InvalidRequest(
            "The connector definition is invalid: " + "; ".join(exc.problems), "invalid_connector"
        ) from None
    return connector


def _stored(connector: Connector) -> dict[str, Any]:
    return connector.model_dump(mode="json", exclude_none=True)


def _audit(ctx: ServiceContext, tx: Tx, principal: Principal, action: str, cid: int) -> None:
    tx.audit.add([AuditEntry(ctx.clock.now(), principal.actor, action, detail=f"connector {cid}")])


def _save(
    ctx: ServiceContext, tx: Tx, principal: Principal, connector_id: int, data: Any, action: str
) -> Connector:
    """Validate ``data`` as connector ``connector_id``, store it and audit ``action``."""
    connector = _validated(ctx, tx, data, connector_id)
    tx.custom_connectors.put(connector_id, _stored(connector), ctx.clock.now())
    _audit(ctx, tx, principal, action, connector_id)
    return connector


def create_custom_connector(ctx: ServiceContext, principal: Principal, data: Any) -> Connector:
    """Validate and store a new custom connector under the next free Id (100000 and up)."""
    with ctx.db.write() as tx:
        connector_id = tx.custom_connectors.next_id()
        connector = _save(ctx, tx, principal, connector_id, data, "connector.create")
    forget_view(ctx)
    return connector


def _require_custom(ctx: ServiceContext, tx: Tx, connector_id: int) -> None:
    if ctx.catalog.get(connector_id) is not None:
        raise InvalidRequest(
            f"Connector {connector_id} is a catalog connector; only custom connectors "
            "(Ids from 100000) can be changed or deleted through the API.",
            "connector_not_custom",
        )
    if connector_id < CUSTOM_CONNECTOR_FIRST_ID or tx.custom_connectors.get(connector_id) is None:
        raise NotFound(f"Connector '{connector_id}' not found.", "connector_not_found")


def update_custom_connector(
    ctx: ServiceContext, principal: Principal, connector_id: int, data: Any
) -> Connector:
    """Replace a custom connector's definition (the whole definition; Id from the path)."""
    with ctx.db.write() as tx:
        _require_custom(ctx, tx, connector_id)
        connector = _save(ctx, tx, principal, connector_id, data, "connector.update")
    forget_view(ctx)
    return connector


def delete_custom_connector(ctx: ServiceContext, principal: Principal, connector_id: int) -> str:
    """Delete a custom connector and its library entry; refused while any account uses it.
    Returns the deleted connector's name."""
    with ctx.db.write() as tx:
        _require_custom(ctx, tx, connector_id)
        connector = view(ctx, tx).get(connector_id)
        in_use = tx.account_connectors.count_using_connector(connector_id)
        if in_use:
            raise InvalidRequest(
                f"Connector {connector_id} is installed in {in_use} account connector(s); "
                "delete those first.",
                "connector_in_use",
            )
        tx.custom_connectors.delete(connector_id)
        tx.application_connectors.delete(connector_id)
        _audit(ctx, tx, principal, "connector.delete", connector_id)
    forget_view(ctx)
    return connector.Name if connector is not None and is_custom(connector) else str(connector_id)
