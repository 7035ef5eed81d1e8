"""Method calls: ``GET|POST /v1.0/account/connectors/{id}/methods/{method Id or GUID}``.

The provider's answer comes back with its status, body and ``Content-Type`` and the header
``X-Tokenward-Upstream: 1``; tokenward's own errors (400, 404, 409, 502…) never carry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tokenward.services import methods as svc
from tokenward.services.context import Principal
from tokenward.services.upstream import UpstreamResponse
from tokenward.web.api.ac_schemas import as_id
from tokenward.web.body import read_body
from tokenward.web.deps import account_header, context, fast_inputs, principal
from tokenward.web.fast_routes import fast_path
from tokenward.web.responses import body_doc, errors

__all__ = ["UPSTREAM_HEADER", "router", "upstream_doc", "upstream_response"]

router = APIRouter(prefix="/v1.0/account/connectors", tags=["methods"])

UPSTREAM_HEADER = "X-Tokenward-Upstream"
_PASSED_ON = ("content-type", "retry-after", "location", "www-authenticate")


class MethodCallIn(BaseModel):
    """A method call: values for the method's parameters (by Id or Name) and body fields."""

    Parameters: dict[str, Any] | None = Field(
        None, description="parameter Id or Name → value (MergeField, QueryString, Header, Body)"
    )
    Fields: dict[str, Any] | str | None = Field(
        None, description="members of the request body (a string: the body itself, e.g. XML)"
    )


def upstream_doc() -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses of a call answered by the provider (any status) or by tokenward."""
    return {
        **errors(409, 502),
        "default": {
            "description": "The provider's answer, passed on with its status and body",
            "headers": {
                UPSTREAM_HEADER: {
                    "description": "1: the answer comes from the provider, not from tokenward",
                    "schema": {"type": "string"},
                }
            },
        },
    }


def upstream_response(answer: UpstreamResponse, headers: Mapping[str, str]) -> Response:
    """The provider's answer as the partner receives it, marked ``X-Tokenward-Upstream``."""
    out = {**headers, UPSTREAM_HEADER: "1"}
    return Response(answer.body, status_code=answer.status, headers=out)


MethodRef = Path(..., description="the method's Id or MethodUniqueIdentifier", max_length=100)
AccountConnectorPath = Path(..., description="the account connector Id", max_length=40)


async def _call(
    request: Request, ac_id: str, method_ref: str, caller: Principal, account: str | None
) -> Response:
    query = dict(request.query_params) if request.method == "GET" else None
    answer = await svc.call_method(
        context(request),
        caller,
        account,
        as_id(ac_id),
        method_ref,
        await read_body(request),
        query=query,
        idempotency_key=request.headers.get("idempotency-key"),
        inline_read=request.app.state.inline_reads,
    )
    kept = {k: v for k, v in answer.headers.items() if k.lower() in _PASSED_ON}
    return upstream_response(answer, kept)


async def _fast(request: Request) -> Response | None:
    """Both method routes without FastAPI's parameter solving (web.fast_routes)."""
    inputs = fast_inputs(request, account_connector_id=40, method_ref=100)
    if inputs is None:
        return None
    caller = await principal(request)  # authentication first, as on every /v1.0 route
    account, path = inputs
    return await _call(request, path["account_connector_id"], path["method_ref"], caller, account)


@router.get(
    "/{account_connector_id}/methods/{method_ref}",
    summary="Call a method of the connector (query parameters are the method's Parameters)",
    responses=upstream_doc(),
)
@fast_path(_fast)
async def call_method_get(
    request: Request,
    account_connector_id: str = AccountConnectorPath,
    method_ref: str = MethodRef,
    caller: Principal = Depends(principal),
    account: str | None = Depends(account_header),
) -> Response:
    return await _call(request, account_connector_id, method_ref, caller, account)


@router.post(
    "/{account_connector_id}/methods/{method_ref}",
    summary="Call a method of the connector",
    openapi_extra=body_doc(MethodCallIn),
    responses=upstream_doc(),
)
@fast_path(_fast)
async def call_method_post(
    request: Request,
    account_connector_id: str = AccountConnectorPath,
    method_ref: str = MethodRef,
    caller: Principal = Depends(principal),
    account: str | None = Depends(account_header),
) -> Response:
    return await _call(request, account_connector_id, method_ref, caller, account)
