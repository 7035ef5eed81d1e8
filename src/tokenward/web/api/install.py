"""``POST /v1.0/connectors/{id or name}/install``: install a connector into the account named by
``X-Cyclr-Account``. Registered before the catalog's ``/v1.0/connectors`` routes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from tokenward.services import install as svc
from tokenward.services.context import Principal
from tokenward.web.api import ac_present as present
from tokenward.web.api.ac_schemas import AccountConnectorOut, InstallIn
from tokenward.web.body import read_model
from tokenward.web.deps import account_header, context, principal, run
from tokenward.web.responses import body_doc, errors, ok

__all__ = ["router"]

router = APIRouter(prefix="/v1.0", tags=["account connectors"], responses=errors(409))


@router.post(
    "/connectors/{ref}/install",
    summary="Install a connector (by Id or Name) into the account",
    openapi_extra=body_doc(InstallIn),
    responses={200: {"model": AccountConnectorOut}},
)
async def install(
    request: Request,
    ref: str = Path(..., description="connector Id, or Name (highest version)", max_length=200),
    caller: Principal = Depends(principal),
    account: str | None = Depends(account_header),
) -> Response:
    body = await read_model(request, InstallIn)
    view = await run(svc.install, context(request), caller, account, ref, body.to_request())
    return ok(present.account_connector(view))
