"""``GET /v1.0/account/connectors/{id}/token``: a fresh access token for the partner's own calls.

A hot path (the bar is half the throughput of ``/healthz``): plain parameters, one read when the
stored token is valid, no write (the audit entry is queued and written in batches). The answer
holds a secret, so it is never cached (L-04).
"""

from __future__ import annotations

import json
from datetime import UTC

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel

from tokenward.services import methods as svc
from tokenward.services.context import Principal
from tokenward.web.api.ac_schemas import as_id
from tokenward.web.api.present import utc
from tokenward.web.deps import context, fast_inputs, principal
from tokenward.web.fast_routes import fast_path
from tokenward.web.responses import errors

__all__ = ["router"]

router = APIRouter(prefix="/v1.0/account/connectors", tags=["account connectors"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenOut(BaseModel):
    AccessToken: str
    TokenType: str | None
    Expires: str | None  # ISO 8601 UTC, or null when the provider gave no expiry
    Scopes: list[str]


async def _fast(request: Request) -> Response | None:
    """The route without FastAPI's parameter solving (web.fast_routes); input over the declared
    lengths goes the normal way, which answers 400."""
    inputs = fast_inputs(request, account_connector_id=40)
    if inputs is None:
        return None
    caller = await principal(request)  # authentication first, as on every /v1.0 route
    account, path = inputs
    return await _answer(request, caller, account, path["account_connector_id"])


@router.get(
    "/{account_connector_id}/token",
    summary="A fresh access token of the account connector (refreshed if needed; audited)",
    responses={**errors(409), 200: {"model": TokenOut}},
)
@fast_path(_fast)
async def get_token(
    request: Request,
    account_connector_id: str = Path(..., description="the account connector Id", max_length=40),
    account: str | None = Header(
        None,
        alias="X-Cyclr-Account",
        max_length=200,
        description="the account's Id; required on account-level calls (missing → 401)",
    ),
    caller: Principal = Depends(principal),
) -> Response:
    return await _answer(request, caller, account, account_connector_id)


async def _answer(
    request: Request, caller: Principal, account: str | None, account_connector_id: str
) -> Response:
    found = await svc.read_token(
        context(request),
        caller,
        account,
        as_id(account_connector_id),
        inline_read=request.app.state.inline_reads,
    )
    expires = found.expires_utc
    body = {
        "AccessToken": found.access_token,
        "TokenType": found.token_type,
        "Expires": utc(expires.astimezone(UTC) if expires and expires.tzinfo else expires),
        "Scopes": list(found.scopes),
    }
    return Response(json.dumps(body), media_type="application/json", headers=_NO_STORE)
