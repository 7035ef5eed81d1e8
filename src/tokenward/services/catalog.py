"""The catalog as use cases see it: the YAML catalog merged with the partner's custom connectors.

``ctx.catalog`` holds the connectors loaded from YAML at start-up; custom connectors live in the
database (``POST /v1.0/connectors``) so that every process sees them. The merged view is cached
per process and rebuilt when ``tx.custom_connectors.version()`` changes, so a custom connector
written by another process is seen by the next lookup here. Catalog connectors have Ids below
100000 and custom ones 100000 and up, so a lookup by a catalog Id never touches the database.

:func:`connector_for` and :func:`resolve_connector` are the contract other services rely on.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from weakref import WeakKeyDictionary

from pydantic import ValidationError

from tokenward.catalog.checks import CUSTOM_CONNECTOR_FIRST_ID
from tokenward.catalog.registry import Catalog
from tokenward.catalog.schema import Connector, Method
from tokenward.domain.binding import describe_errors
from tokenward.domain.paging import Page, PageRequest
from tokenward.errors import NotFound
from tokenward.services.context import ServiceContext
from tokenward.services.ports import Tx

__all__ = [
    "connector_for",
    "find_connectors",
    "forget_view",
    "get_connector",
    "get_method",
    "is_custom",
    "list_connectors",
    "list_methods",
    "parse_connector_id",
    "resolve_connector",
    "view",
]

log = logging.getLogger("tokenward.catalog")
_MAX_ID_DIGITS = 18
# Per database (one per runtime): the YAML catalog the view was built from, the custom
# connectors' version, and the merged view.
_views: WeakKeyDictionary[object, tuple[Catalog, str, Catalog]] = WeakKeyDictionary()
_lock = threading.Lock()


def is_custom(connector: Connector) -> bool:
    """Whether a connector is one of the partner's custom connectors (not from the YAML)."""
    return connector.Id >= CUSTOM_CONNECTOR_FIRST_ID


def _as_id(ref: str) -> int | None:
    """A path segment of ASCII digits as an Id (``"²"`` is a digit to ``str.isdigit``)."""
    ref = ref.strip()
    if ref.isascii() and ref.isdigit() and len(ref) <= _MAX_ID_DIGITS:
        return int(ref)
    return None


def _custom_connectors(tx: Tx) -> list[Connector]:
    found = []
    for connector_id, definition in tx.custom_connectors.list():
        try:
            connector = Connector.model_validate({**definition, "Id": connector_id})
        except ValidationError as exc:
            # Stored definitions were valid when written; a later, stricter schema must not
            # take the whole catalog down. The connector is left out and the reason logged.
            log.warning(
                "custom connector %s no longer validates: %s",
                connector_id,
                describe_errors(exc),  # field names and reasons only, never values
            )
            continue
        found.append(connector)
    return found


def view(ctx: ServiceContext, tx: Tx, version: str | None = None) -> Catalog:
    """The YAML catalog plus the custom connectors, as of this transaction. ``version``: the
    custom connectors' version already read in this transaction (saves a statement)."""
    if version is None:
        version = tx.custom_connectors.version()
    with _lock:
        cached = _views.get(ctx.db)
    if cached is not None and cached[0] is ctx.catalog and cached[1] == version:
        return cached[2]
    merged = ctx.catalog.merged(_custom_connectors(tx))
    with _lock:
        _views[ctx.db] = (ctx.catalog, version, merged)
    return merged


def forget_view(ctx: ServiceContext) -> None:
    """Drop this process's cached view (after writing a custom connector: two writes within one
    tick of a fake clock may leave the version unchanged)."""
    with _lock:
        _views.pop(ctx.db, None)


def _version_key(connector: Connector) -> tuple[tuple[int, str], ...]:
    """Natural order of versions: ``v10`` after ``v9``, ``2.0`` after ``1.10``."""
    parts = re.findall(r"\d+|[^\d.]+", connector.Version.lower())
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in parts)


def _not_found(ref: str | int) -> NotFound:
    return NotFound(f"Connector '{ref}' not found.", "connector_not_found")


def parse_connector_id(ref: str) -> int:
    """A connector Id from a path segment; anything but ASCII digits names no connector (404)."""
    connector_id = _as_id(ref)
    if connector_id is None:
        raise _not_found(ref.strip())
    return connector_id


def connector_for(
    ctx: ServiceContext, tx: Tx, connector_id: int, version: str | None = None
) -> Connector | None:
    """The definition of an installed connector; None if it left the catalog. ``version``: as
    :func:`view`'s."""
    if connector_id < CUSTOM_CONNECTOR_FIRST_ID:
        return ctx.catalog.get(connector_id)
    return view(ctx, tx, version).get(connector_id)


def resolve_connector(ctx: ServiceContext, tx: Tx, ref: str) -> Connector:
    """A path segment: digits are an Id, anything else a Name (the highest version wins)."""
    connector_id = _as_id(ref)
    if connector_id is not None:
        found = connector_for(ctx, tx, connector_id)
        if found is None:
            raise _not_found(ref.strip())
        return found
    named = view(ctx, tx).find(ref)
    if not named:
        raise _not_found(ref.strip())
    return max(named, key=_version_key)


def get_connector(ctx: ServiceContext, connector_id: int) -> Connector:
    """``GET /v1.0/connectors/{id}``."""
    with ctx.db.read() as tx:
        found = connector_for(ctx, tx, connector_id)
    if found is None:
        raise _not_found(connector_id)
    return found


def find_connectors(ctx: ServiceContext, name: str, version: str | None = None) -> list[Connector]:
    """``GET /v1.0/connectors/{name}[/{version}]``: every match, 404 when there is none."""
    with ctx.db.read() as tx:
        found = view(ctx, tx).find(name, version)
    if not found:
        raise _not_found(f"{name}/{version}" if version is not None else name)
    return found


_ORDER: dict[str, Callable[[Connector], tuple[object, ...]]] = {
    "id": lambda c: (c.Id,),
    "name": lambda c: (c.Name.lower(), _version_key(c), c.Id),
    "version": lambda c: (_version_key(c), c.Id),
}


def list_connectors(
    ctx: ServiceContext,
    page: PageRequest,
    query: str | None = None,
    category: str | None = None,
    include_custom: bool = True,
) -> Page[Connector]:
    """``GET /v1.0/connectors``: filtered by Name/Description text and category, ordered, paged."""
    with ctx.db.read() as tx:
        catalog = view(ctx, tx) if include_custom else ctx.catalog
    found = catalog.search(query, category)
    order = _ORDER.get((page.order_by or "").strip().lower(), _ORDER["id"])
    found.sort(key=order, reverse=not page.ascending)
    return Page.of(found, page)


def _method_matches(method: Method, query: str, category: str) -> bool:
    text = f"{method.Name}\n{method.Description or ''}".lower()
    return (not query or query in text) and (
        not category or (method.Category or "").lower() == category
    )


def list_methods(
    ctx: ServiceContext,
    ref: str,
    page: PageRequest,
    version: str | None = None,
    query: str | None = None,
    category: str | None = None,
) -> Page[tuple[Connector, Method]]:
    """Methods of the connector ``ref`` (an Id, or a Name with every version unless one is
    given), filtered by Name/Description text and exact Category, in connector then Id order."""
    with ctx.db.read() as tx:
        catalog = view(ctx, tx)
    connector_id = _as_id(ref) if version is None else None
    if connector_id is not None:
        single = catalog.get(connector_id)
        connectors = [single] if single else []
    else:
        connectors = catalog.find(ref, version)
    if not connectors:
        raise _not_found(f"{ref}/{version}" if version is not None else ref.strip())
    needle, wanted = (query or "").strip().lower(), (category or "").strip().lower()
    found = [
        (connector, method)
        for connector in connectors
        for method in sorted(connector.Methods, key=lambda m: m.Id)
        if _method_matches(method, needle, wanted)
    ]
    return Page.of(found, page)


def get_method(ctx: ServiceContext, ref: str) -> tuple[Connector, Method]:
    """``GET /v1.0/methods/{id}``: a method by Id or MethodUniqueIdentifier, with its connector."""
    with ctx.db.read() as tx:
        found = view(ctx, tx).method(ref.strip())
    if found is None:
        raise NotFound(f"Method '{ref.strip()}' not found.", "method_not_found")
    return found
