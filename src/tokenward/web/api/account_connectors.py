"""Account connectors (``/v1.0/account/connectors``): list, get, partial update, delete,
de-authenticate. Account-level: ``X-Cyclr-Account`` is required."""

from __future__ import annotations

import functools

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import Response

from tokenward.domain.paging import PageRequest
from tokenward.services import account_connectors as svc
from tokenward.services import credentials
from tokenward.services.context import Principal
from tokenward.services.read_ahead import read_step
from tokenward.web.api import ac_present as present
from tokenward.web.api.ac_schemas import AccountConnectorIn, AccountConnectorOut, as_id
from tokenward.web.api.schemas import MessageOut
from tokenward.web.body import read_model
from tokenward.web.deps import (
    account_header,
    context,
    fast_inputs,
    page_headers,
    paging,
    principal,
    run,
)
from tokenward.web.fast_routes import fast_path
from tokenward.web.responses import body_doc, errors, ok

__all__ = ["AccountConnectorId", "router"]

router = APIRouter(prefix="/v1.0/account/connectors", tags=["account connectors"])


AccountConnectorPath = Path(..., description="the account connector Id", max_length=40)
AccountHeader = Header(
    None,
    alias="X-Cyclr-Account",
    max_length=200,
    description="the account's Id; required on account-level calls (missing → 401)",
)


async def _ac_id(account_connector_id: str = AccountConnectorPath) -> int:
    return as_id(account_connector_id)


AccountConnectorId = Depends(_ac_id)
Caller = Depends(principal)
Account = Depends(account_header)


@router.get(
    "",
    summary="List the account's connectors",
    responses={**errors(), 200: {"model": list[AccountConnectorOut]}},
)
async def list_account_connectors(
    request: Request,
    page: PageRequest = Depends(paging),
    caller: Principal = Caller,
    account: str | None = Account,
) -> Response:
    found = await run(svc.list_account_connectors, context(request), caller, account, page)
    items = [present.account_connector(v) for v in found.items]
    return ok(items, page_headers(found.total, found.total_pages))


async def _fast_get(request: Request) -> Response | None:
    """``GET …/{id}`` without FastAPI's parameter solving (web.fast_routes)."""
    inputs = fast_inputs(request, account_connector_id=40)
    if inputs is None:
        return None
    caller = await principal(request)  # authentication first, as on every /v1.0 route
    account, path = inputs
    return await _get(request, caller, account, path["account_connector_id"])


@router.get(
    "/{account_connector_id}",
    summary="Get an account connector",
    responses={**errors(409), 200: {"model": AccountConnectorOut}},
)
@fast_path(_fast_get)
async def get_account_connector(
    request: Request,
    account_connector_id: str = AccountConnectorPath,
    account: str | None = AccountHeader,
    caller: Principal = Caller,
) -> Response:
    return await _get(request, caller, account, account_connector_id)


async def _get(
    request: Request, caller: Principal, account: str | None, account_connector_id: str
) -> Response:
    # The partner API's hottest call: a fast route (web/fast_routes.py), an inline read on
    # SQLite and a read made ahead on the event loop on PostgreSQL (services/read_ahead.py);
    # docs/benchmarks.md has the numbers.
    ctx, ac_id = context(request), as_id(account_connector_id)
    view = await read_step(
        ctx,
        functools.partial(svc.get_account_connector, ctx, caller, account, ac_id),
        inline=request.app.state.inline_reads,
        account_header=account,
        ac_id=ac_id,
        properties=True,
    )
    return ok(present.account_connector(view))


@router.put(
    "/{account_connector_id}",
    summary="Update an account connector (partial: Name, Description, AuthValue, …)",
    openapi_extra=body_doc(AccountConnectorIn),
    responses={**errors(409), 200: {"model": AccountConnectorOut}},
)
async def update_account_connector(
    request: Request,
    ac_id: int = AccountConnectorId,
    caller: Principal = Caller,
    account: str | None = Account,
) -> Response:
    changes = (await read_model(request, AccountConnectorIn)).to_changes()
    ctx = context(request)
    view = await run(svc.update_account_connector, ctx, caller, account, ac_id, changes)
    return ok(present.account_connector(view))


@router.delete(
    "/{account_connector_id}",
    summary="Delete an account connector",
    responses={**errors(), 200: {"model": MessageOut}},
)
async def delete_account_connector(
    request: Request,
    ac_id: int = AccountConnectorId,
    caller: Principal = Caller,
    account: str | None = Account,
) -> Response:
    name = await run(svc.delete_account_connector, context(request), caller, account, ac_id)
    return ok({"Message": f"Connector '{name}' successfully deleted."})


@router.put(
    "/{account_connector_id}/deauthenticate",
    summary="Drop the account connector's credentials",
    responses={**errors(), 200: {"model": MessageOut}},
)
async def deauthenticate(
    request: Request,
    ac_id: int = AccountConnectorId,
    caller: Principal = Caller,
    account: str | None = Account,
) -> Response:
    name = await run(svc.deauthenticate, context(request), caller, account, ac_id)
    return ok({"Message": f"Connector '{name}' successfully de-authenticated."})


@router.post(
    "/{account_connector_id}/refresh",
    summary="Refresh the credential now (forced, still single flight)",
    responses={**errors(409, 503), 200: {"model": AccountConnectorOut}},
)
async def refresh(
    request: Request,
    ac_id: int = AccountConnectorId,
    caller: Principal = Caller,
    account: str | None = Account,
) -> Response:
    ctx = context(request)
    await credentials.refresh_now(ctx, caller, account, ac_id)
    view = await run(svc.get_account_connector, ctx, caller, account, ac_id)
    return ok(present.account_connector(view))
