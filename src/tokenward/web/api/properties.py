"""Properties of an account connector (``/v1.0/account/connectors/{id}/properties``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from tokenward.domain.paging import PageRequest
from tokenward.services import properties as svc
from tokenward.services.context import Principal
from tokenward.web.api import ac_present as present
from tokenward.web.api.ac_schemas import PropertyIn, PropertyOut, as_id
from tokenward.web.api.account_connectors import AccountConnectorId
from tokenward.web.api.schemas import MessageOut
from tokenward.web.body import read_model
from tokenward.web.deps import account_header, context, page_headers, paging, principal, run
from tokenward.web.responses import body_doc, errors, ok

__all__ = ["router"]

router = APIRouter(
    prefix="/v1.0/account/connectors/{account_connector_id}/properties",
    tags=["account connectors"],
)


async def _property_id(
    property_id: str = Path(..., description="the property Id", max_length=40),
) -> int:
    return as_id(property_id)


PropertyId = Depends(_property_id)
Caller = Depends(principal)
Account = Depends(account_header)


@router.get(
    "", summary="List properties", responses={**errors(), 200: {"model": list[PropertyOut]}}
)
async def list_properties(
    request: Request,
    ac_id: int = AccountConnectorId,
    page: PageRequest = Depends(paging),
    caller: Principal = Caller,
    account: str | None = Account,
) -> Response:
    found = await run(svc.list_properties, context(request), caller, account, ac_id, page)
    items = [present.property_item(p) for p in found.items]
    return ok(items, page_headers(found.total, found.total_pages))


@router.post(
    "",
    summary="Add a property",
    openapi_extra=body_doc(PropertyIn, required=True),
    responses={**errors(409), 200: {"model": PropertyOut}},
)
async def add_property(
    request: Request,
    ac_id: int = AccountConnectorId,
    caller: Principal = Caller,
    account: str | None = Account,
) -> Response:
    given = (await read_model(request, PropertyIn)).to_input()
    view = await run(svc.add_property, context(request), caller, account, ac_id, given)
    return ok(present.property_item(view))


@router.get(
    "/{property_id}",
    summary="Get a property",
    responses={**errors(), 200: {"model": PropertyOut}},
)
async def get_property(
    request: Request,
    ac_id: int = AccountConnectorId,
    prop_id: int = PropertyId,
    caller: Principal = Caller,
    account: str | None = Account,
) -> Response:
    view = await run(svc.get_property, context(request), caller, account, ac_id, prop_id)
    return ok(present.property_item(view))


@router.put(
    "/{property_id}",
    summary="Change a property's value",
    openapi_extra=body_doc(PropertyIn, required=True),
    responses={**errors(409), 200: {"model": PropertyOut}},
)
async def update_property(
    request: Request,
    ac_id: int = AccountConnectorId,
    prop_id: int = PropertyId,
    caller: Principal = Caller,
    account: str | None = Account,
) -> Response:
    body = await read_model(request, PropertyIn)
    view = await run(
        svc.update_property,
        context(request),
        caller,
        account,
        ac_id,
        prop_id,
        body.to_input(),
        value_given="Value" in body.model_fields_set,
    )
    return ok(present.property_item(view))


@router.delete(
    "/{property_id}",
    summary="Remove a property",
    responses={**errors(), 200: {"model": MessageOut}},
)
async def delete_property(
    request: Request,
    ac_id: int = AccountConnectorId,
    prop_id: int = PropertyId,
    caller: Principal = Caller,
    account: str | None = Account,
) -> Response:
    name = await run(svc.delete_property, context(request), caller, account, ac_id, prop_id)
    return ok({"Message": f"Property '{name}' deleted."})
