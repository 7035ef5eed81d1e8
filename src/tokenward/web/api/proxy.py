"""The proxy: ``ANY /v1.0/account/connectors/{id}/proxy/{path}`` → ``{BaseUrl}/{path}``.

The path is taken from the raw request line (still percent-encoded), so that the service can
refuse encoded tricks (``%2F%2Fevil``, ``%5C``, ``%40``) before any outbound call (P-01).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from tokenward.services import proxy as svc
from tokenward.services.context import Principal
from tokenward.web.api.ac_schemas import as_id
from tokenward.web.api.methods import upstream_doc, upstream_response
from tokenward.web.body import body_bytes
from tokenward.web.deps import account_header, context, fast_inputs, principal
from tokenward.web.fast_routes import fast_path

__all__ = ["PROXY_METHODS", "router"]

router = APIRouter(prefix="/v1.0/account/connectors", tags=["proxy"])

PROXY_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
_PREFIX_SEGMENTS = 6  # "", "v1.0", "account", "connectors", "{id}", "proxy"


def _raw_path(request: Request) -> str:
    """The part of the raw path after ``/proxy/``, as the client sent it."""
    raw = request.scope.get("raw_path")
    if not isinstance(raw, bytes):
        raw = request.url.path.encode()
    parts = raw.split(b"/", _PREFIX_SEGMENTS)
    return parts[_PREFIX_SEGMENTS].decode("latin-1") if len(parts) > _PREFIX_SEGMENTS else ""


AccountConnectorPath = Path(..., description="the account connector Id", max_length=40)
Caller = Depends(principal)
Account = Depends(account_header)


async def _fast(request: Request) -> Response | None:
    """The proxy routes without FastAPI's parameter solving (web.fast_routes)."""
    inputs = fast_inputs(request, account_connector_id=40)
    if inputs is None:
        return None
    caller = await principal(request)  # authentication first, as on every /v1.0 route
    account, path = inputs
    return await _forward(request, path["account_connector_id"], caller, account)


@fast_path(_fast)
async def proxy(
    request: Request,
    account_connector_id: str = AccountConnectorPath,
    path: str = Path(..., description="the path below the connector's BaseUrl"),
    caller: Principal = Caller,
    account: str | None = Account,
) -> Response:
    return await _forward(request, account_connector_id, caller, account)


@fast_path(_fast)
async def proxy_base(
    request: Request,
    account_connector_id: str = AccountConnectorPath,
    caller: Principal = Caller,
    account: str | None = Account,
) -> Response:
    return await _forward(request, account_connector_id, caller, account)


async def _forward(
    request: Request, account_connector_id: str, caller: Principal, account: str | None
) -> Response:
    call = svc.ProxyRequest(
        method=request.method,
        path=_raw_path(request),
        query=request.scope.get("query_string", b"").decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
        body=await body_bytes(request),
    )
    answer = await svc.proxy_call(
        context(request),
        caller,
        account,
        as_id(account_connector_id),
        call,
        idempotency_key=request.headers.get("idempotency-key"),
        inline_read=request.app.state.inline_reads,
    )
    return upstream_response(answer, answer.headers)


for _verb in PROXY_METHODS:
    router.add_api_route(
        "/{account_connector_id}/proxy/{path:path}",
        proxy,
        methods=[_verb],
        name=f"proxy_{_verb.lower()}",
        summary=f"{_verb} a path of the connector's API with its credential attached",
        description="Forwards the request to `{BaseUrl}/{path}` (query, body and safe headers); "
        "the provider's answer comes back marked `X-Tokenward-Upstream: 1`. Redirects are "
        "returned, never followed.",
        responses=upstream_doc(),
        include_in_schema=_verb != "HEAD",
    )
    router.add_api_route(
        "/{account_connector_id}/proxy",
        proxy_base,
        methods=[_verb],
        name=f"proxy_base_{_verb.lower()}",
        include_in_schema=False,
    )
