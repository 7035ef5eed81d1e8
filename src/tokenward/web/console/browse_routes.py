"""Read-only console pages: the audit log and the catalog with search."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tokenward.domain.paging import PageRequest
from tokenward.services import console
from tokenward.services.catalog import list_connectors
from tokenward.web.console.common import to_login
from tokenward.web.console.pages import render
from tokenward.web.console.session import signed_in
from tokenward.web.deps import context, run

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
CATALOG_PAGE = 100


@router.get("/console/audit")
async def audit(request: Request) -> Response:
    """The audit log, newest first, 200 entries a page (``?page=N``)."""
    identity = await signed_in(request)
    if identity is None:
        return to_login()
    raw = request.query_params.get("page", "1").strip()
    page = int(raw) if raw.isdigit() and len(raw) <= 6 else 1
    found = await run(console.recent_audit, context(request), page)
    return render(
        "console_audit.html",
        title="Audit log",
        identity=identity,
        active="audit",
        entries=found.entries,
        page=found.page,
        has_older=found.has_older,
    )


@router.get("/console/catalog")
async def catalog(request: Request) -> Response:
    """The connectors, searched by name and description, optionally by category."""
    identity = await signed_in(request)
    if identity is None:
        return to_login()
    query = request.query_params.get("q", "")[:200]
    category = request.query_params.get("category", "")[:100]
    raw = request.query_params.get("page", "1")
    number = int(raw) if raw.isdigit() and 0 < len(raw) < 7 and int(raw) > 0 else 1
    page = await run(
        list_connectors,
        context(request),
        PageRequest(number, CATALOG_PAGE, order_by="name"),
        query or None,
        category or None,
    )
    return render(
        "console_catalog.html",
        title="Catalog",
        identity=identity,
        active="catalog",
        page=page,
        number=number,
        query=query,
        category=category,
        auth_types=console.auth_types,
    )
