"""Accounts, account users, sign-in tokens (partner level: no account header needed)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from tokenward.domain.paging import PageRequest
from tokenward.services import accounts as svc
from tokenward.services.context import Principal
from tokenward.web.api import present
from tokenward.web.api.schemas import (
    AccountIn,
    AccountOut,
    MessageOut,
    SignInTokenIn,
    SignInTokenOut,
    UserIn,
)
from tokenward.web.body import read_model
from tokenward.web.deps import (
    check_account_path,
    context,
    page_headers,
    paging,
    partner_principal,
    principal,
    run,
)
from tokenward.web.responses import body_doc, errors, ok

__all__ = ["router"]

router = APIRouter(prefix="/v1.0", tags=["accounts"], responses=errors())


async def own_account(
    request: Request,
    account_id: str = Path(..., description="the account's API ID", max_length=200),
    caller: Principal = Depends(principal),
) -> str:
    check_account_path(caller, account_id)
    return account_id


AccountId = Depends(own_account)
Partner = Depends(partner_principal)


@router.post(
    "/accounts",
    summary="Create an account",
    openapi_extra=body_doc(AccountIn),
    responses={200: {"model": AccountOut}},
)
async def create_account(request: Request, _caller: Principal = Partner) -> Response:
    body = await read_model(request, AccountIn)
    created = await run(
        svc.create_account, context(request), body.Name, body.Id, body.Description, body.Timezone
    )
    return ok(present.account(created))


@router.get("/accounts", summary="List accounts", responses={200: {"model": list[AccountOut]}})
async def list_accounts(
    request: Request, page: PageRequest = Depends(paging), _caller: Principal = Partner
) -> Response:
    found = await run(svc.list_accounts, context(request), page)
    return ok(
        [present.account(a) for a in found.items], page_headers(found.total, found.total_pages)
    )


@router.get(
    "/accounts/{account_id}", summary="Get an account", responses={200: {"model": AccountOut}}
)
async def get_account(request: Request, account_id: str = AccountId) -> Response:
    return ok(present.account(await run(svc.get_account, context(request), account_id)))


@router.put(
    "/accounts/{account_id}",
    summary="Update an account (partial)",
    openapi_extra=body_doc(AccountIn),
    responses={200: {"model": AccountOut}},
)
async def update_account(request: Request, account_id: str = AccountId) -> Response:
    body = await read_model(request, AccountIn)
    changes = svc.AccountChanges(
        name=body.Name, description=body.Description, timezone=body.Timezone
    )
    return ok(present.account(await run(svc.update_account, context(request), account_id, changes)))


@router.delete(
    "/accounts/{account_id}",
    summary="Delete an account and everything in it",
    responses={200: {"model": MessageOut}},
)
async def delete_account(request: Request, account_id: str = AccountId) -> Response:
    await run(svc.delete_account, context(request), account_id)
    return ok({"Message": f"Account '{account_id}' deleted."})


@router.get(
    "/accounts/{account_id}/users",
    summary="List the account's user names",
    responses={200: {"model": list[str]}},
)
async def list_users(request: Request, account_id: str = AccountId) -> Response:
    return ok(await run(svc.list_users, context(request), account_id))


@router.put(
    "/accounts/{account_id}/users",
    summary="Add a user (or set its password)",
    openapi_extra=body_doc(UserIn, required=True),
    responses={200: {"model": MessageOut}},
)
async def add_user(request: Request, account_id: str = AccountId) -> Response:
    body = await read_model(request, UserIn)
    await run(svc.add_user, context(request), account_id, body.UserName, body.Password)
    return ok({"Message": f"User '{body.UserName}' saved."})


@router.delete(
    "/accounts/{account_id}/users",
    summary="Remove a user",
    openapi_extra=body_doc(UserIn, required=True),
    responses={200: {"model": MessageOut}},
)
async def delete_user(request: Request, account_id: str = AccountId) -> Response:
    body = await read_model(request, UserIn)
    await run(svc.delete_user, context(request), account_id, body.UserName)
    return ok({"Message": f"User '{body.UserName}' removed."})


@router.put(
    "/users",
    summary="Set a user's password",
    openapi_extra=body_doc(UserIn, required=True),
    responses={200: {"model": MessageOut}},
)
async def set_password(request: Request, caller: Principal = Depends(principal)) -> Response:
    body = await read_model(request, UserIn)
    await run(svc.set_password, context(request), caller, body.UserName, body.Password)
    return ok({"Message": f"Password of '{body.UserName}' set."})


@router.post(
    "/accounts/{account_id}/signintoken",
    summary="A single-use, 5-minute sign-in token",
    openapi_extra=body_doc(SignInTokenIn, required=True),
    responses={200: {"model": SignInTokenOut}},
)
async def signin_token(request: Request, account_id: str = AccountId) -> Response:
    body = await read_model(request, SignInTokenIn)
    issued = await run(svc.create_signin_token, context(request), account_id, body.Username)
    return ok({"Token": issued.token, "ExpiresAtUtc": present.utc(issued.expires_utc)})
