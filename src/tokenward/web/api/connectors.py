"""The connector catalog (``/v1.0/connectors``, ``/v1.0/methods``) and custom connectors.

Partner-level: ``X-Cyclr-Account`` is ignored. Any bearer may read the catalog (Cyclr clients
read it with an account-restricted token); writing custom connectors needs a partner token.
A path segment of digits is an Id, anything else a Name. Routes are declared so that
``/connectors/X/methods`` is the methods of X, never X's version "methods".
``POST /v1.0/connectors/{ref}/install`` lives in ``install.py``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from tokenward.catalog.schema import Connector
from tokenward.domain.paging import PageRequest
from tokenward.services import catalog as svc
from tokenward.services import custom_connectors as custom
from tokenward.services.context import Principal
from tokenward.web.api import catalog_present as present
from tokenward.web.api.catalog_present import ConnectorOut, MethodOut
from tokenward.web.api.schemas import MessageOut
from tokenward.web.body import read_body
from tokenward.web.deps import (
    context,
    lax_bool,
    page_headers,
    paging,
    partner_principal,
    principal,
    run,
)
from tokenward.web.responses import body_doc, errors, ok

__all__ = ["router"]

router = APIRouter(prefix="/v1.0", tags=["connectors"], responses=errors())
Reader = Depends(principal)
Partner = Depends(partner_principal)
QueryText = Query(None, description="text in Name or Description", max_length=200)
CategoryText = Query(None, description="a category", max_length=200)


@router.get(
    "/connectors", summary="List the catalog", responses={200: {"model": list[ConnectorOut]}}
)
async def list_connectors(
    request: Request,
    page: PageRequest = Depends(paging),
    query: str | None = QueryText,
    category: str | None = CategoryText,
    include_custom: str | None = Query(None, alias="includeCustomConnectors"),
    _caller: Principal = Reader,
) -> Response:
    found = await run(
        svc.list_connectors, context(request), page, query, category, lax_bool(include_custom, True)
    )
    items = [present.connector(c) for c in found.items]
    return ok(items, page_headers(found.total, found.total_pages))


@router.post(
    "/connectors",
    summary="Create a custom connector (Id assigned from 100000)",
    openapi_extra=body_doc(Connector, required=True),
    responses={200: {"description": "the stored definition, with assigned Ids"}},
)
async def create_connector(request: Request, caller: Principal = Partner) -> Response:
    data = await read_body(request)
    created = await run(custom.create_custom_connector, context(request), caller, data)
    return ok(present.definition(created))


async def _methods(
    request: Request,
    ref: str,
    version: str | None,
    page: PageRequest,
    query: str | None,
    category: str | None,
) -> Response:
    found = await run(svc.list_methods, context(request), ref, page, version, query, category)
    items = [present.method(owner, item) for owner, item in found.items]
    return ok(items, page_headers(found.total, found.total_pages))


@router.get(
    "/connectors/{ref}/methods",
    summary="Methods of a connector (by Id, or by Name: every version)",
    responses={200: {"model": list[MethodOut]}},
)
async def list_methods(
    request: Request,
    ref: str,
    page: PageRequest = Depends(paging),
    query: str | None = QueryText,
    category: str | None = CategoryText,
    _caller: Principal = Reader,
) -> Response:
    return await _methods(request, ref, None, page, query, category)


@router.get(
    "/connectors/{name}/{version}/methods",
    summary="Methods of one version of a connector",
    responses={200: {"model": list[MethodOut]}},
)
async def list_version_methods(
    request: Request,
    name: str,
    version: str,
    page: PageRequest = Depends(paging),
    query: str | None = QueryText,
    category: str | None = CategoryText,
    _caller: Principal = Reader,
) -> Response:
    return await _methods(request, name, version, page, query, category)


@router.get(
    "/connectors/{ref}",
    summary="A connector by Id (an object) or by Name (an array of its versions)",
    responses={200: {"model": ConnectorOut | list[ConnectorOut]}},
)
async def get_connector(request: Request, ref: str, _caller: Principal = Reader) -> Response:
    if ref.strip().isascii() and ref.strip().isdigit():
        found = await run(svc.get_connector, context(request), svc.parse_connector_id(ref))
        return ok(present.connector(found))
    named = await run(svc.find_connectors, context(request), ref)
    return ok([present.connector(c) for c in named])


@router.get(
    "/connectors/{name}/{version}",
    summary="A connector by Name and Version (an array)",
    responses={200: {"model": list[ConnectorOut]}},
)
async def get_connector_version(
    request: Request, name: str, version: str, _caller: Principal = Reader
) -> Response:
    found = await run(svc.find_connectors, context(request), name, version)
    return ok([present.connector(c) for c in found])


@router.put(
    "/connectors/{ref}",
    summary="Replace a custom connector's definition",
    openapi_extra=body_doc(Connector, required=True),
    responses={200: {"description": "the stored definition"}},
)
async def update_connector(request: Request, ref: str, caller: Principal = Partner) -> Response:
    connector_id = svc.parse_connector_id(ref)
    data = await read_body(request)
    updated = await run(
        custom.update_custom_connector, context(request), caller, connector_id, data
    )
    return ok(present.definition(updated))


@router.delete(
    "/connectors/{ref}",
    summary="Delete a custom connector (refused while installed)",
    responses={200: {"model": MessageOut}},
)
async def delete_connector(request: Request, ref: str, caller: Principal = Partner) -> Response:
    connector_id = svc.parse_connector_id(ref)
    name = await run(custom.delete_custom_connector, context(request), caller, connector_id)
    return ok({"Message": f"Connector '{name}' deleted."})


@router.get(
    "/methods/{ref}",
    summary="A method by Id or MethodUniqueIdentifier",
    responses={200: {"model": MethodOut}},
)
async def get_method(request: Request, ref: str, _caller: Principal = Reader) -> Response:
    owner, item = await run(svc.get_method, context(request), ref)
    return ok(present.method(owner, item))
