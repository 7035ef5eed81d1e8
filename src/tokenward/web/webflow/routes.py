"""The browser webflow's routes (DESIGN.md §7). No bearer token: the sign-in token, the state
and the binding cookie are the credentials here. Paths match case-insensitively, as on Cyclr
(:mod:`.paths`).

* ``GET|POST /connectorauth/updateaccountconnectoroauth`` starts a flow;
* ``GET /connector/callback`` is the one redirect URI registered at providers;
* ``GET /connector/complete?flow=…`` is the completion page of postMessage mode.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tokenward.errors import ServiceError, StoreError
from tokenward.services import webflow
from tokenward.services.webflow_completion import take_completion
from tokenward.settings import Settings
from tokenward.web.deps import context, run
from tokenward.web.errors import STATUS
from tokenward.web.webflow.pages import completion_response, error_response, redirect
from tokenward.web.webflow.paths import CALLBACK_PATH, COMPLETE_PATH, START_PATH
from tokenward.web.webflow.ratelimit import RateLimiter

__all__ = ["cookie_name", "router", "set_binding_cookie"]

router = APIRouter(include_in_schema=False)

_BINDING_MAX_AGE = 600  # seconds: the life of a flow (F-12)


def cookie_name(settings: Settings) -> str:
    """``TOKENWARD_FLOW_COOKIE_NAME``, else ``__Host-tw_flow`` over https, ``tw_flow`` over http."""
    if settings.flow_cookie_name:
        return settings.flow_cookie_name
    return "__Host-tw_flow" if settings.service_is_https else "tw_flow"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _limiter(request: Request, name: str) -> RateLimiter:
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, name, None)
    if limiter is None:
        limiter = RateLimiter(_settings(request).webflow_rate_limit_per_minute)
        setattr(state, name, limiter)
    return limiter


def _limited(request: Request) -> Response | None:
    """429 when this client (by address) exceeded its budget (C-10)."""
    wait = _limiter(request, "webflow_limiter").take(
        request.client.host if request.client else "unknown"
    )
    if wait is None:
        return None
    return _too_many("Too many sign-in requests from this address; wait a moment.", wait)


def _tenant_limited(request: Request, account_connector: str | None) -> Response | None:
    """429 when the sign-ins of one account connector, from any address, exceeded the same
    budget (C-10: a flood spread over many addresses still hits one tenant's bucket). Keyed by
    the ``id`` the browser sent, before any lookup."""
    key = (account_connector or "").strip()[:40]
    if not key:
        return None
    wait = _limiter(request, "webflow_tenant_limiter").take(key)
    if wait is None:
        return None
    return _too_many("Too many sign-in requests for this connection; wait a moment.", wait)


def _too_many(message: str, wait: int) -> Response:
    response = error_response(429, message)
    response.headers["Retry-After"] = str(wait)
    return response


def _failure_page(exc: Exception, frame_origins: frozenset[str] = frozenset()) -> Response:
    if isinstance(exc, ServiceError):
        status = next((STATUS[c] for c in type(exc).__mro__ if c in STATUS), 400)
        return error_response(status, exc.message, frame_origins)
    return error_response(503, "The service cannot reach its database; try again shortly.")


async def _form(request: Request) -> dict[str, str]:
    if request.method != "POST":
        return {}
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.api_route(START_PATH, methods=["GET", "POST"])
async def start(request: Request) -> Response:
    """Check the sign-in token and the target, consume the token, send the browser on."""
    limited = _limited(request)
    if limited is not None:
        return limited
    ctx = context(request)
    query = request.scope.get("query_string", b"").decode("utf-8", "replace")
    params = webflow.parse_flow_params(query, await _form(request))
    limited = _tenant_limited(request, params.id)
    if limited is not None:
        return limited
    name = cookie_name(_settings(request))
    try:
        started = await webflow.start_flow(ctx, params, request.cookies.get(name))
    except ServiceError as exc:
        return _failure_page(exc, await run(webflow.allowed_origins, ctx))
    except StoreError as exc:
        return _failure_page(exc)
    response = redirect(started.location)
    if started.binding is not None:
        set_binding_cookie(response, _settings(request), started.binding)
    return response


def set_binding_cookie(response: Response, settings: Settings, binding: str) -> None:
    """The flow's binding cookie (F-02): HttpOnly; ``Secure`` and ``SameSite=None`` over
    https (so a flow started in a cross-site iframe works), ``SameSite=Lax`` over http."""
    https = settings.service_is_https
    response.set_cookie(
        cookie_name(settings),
        binding,
        max_age=_BINDING_MAX_AGE,
        path="/",
        secure=https,
        httponly=True,
        samesite="none" if https else "lax",
    )


@router.get(CALLBACK_PATH)
async def callback(request: Request) -> Response:
    """The provider's answer: a 303 to the completion, or a plain 400 page."""
    limited = _limited(request)
    if limited is not None:
        return limited
    binding = request.cookies.get(cookie_name(_settings(request)))
    try:
        outcome = await webflow.handle_callback(
            context(request), request.query_params.multi_items(), binding
        )
    except (ServiceError, StoreError) as exc:
        return _failure_page(exc)
    if outcome.page is not None:
        return completion_response(outcome.page)
    assert outcome.location is not None
    return redirect(outcome.location)


@router.get(COMPLETE_PATH)
async def complete(request: Request) -> Response:
    """The completion page of postMessage mode, shown once."""
    limited = _limited(request)
    if limited is not None:
        return limited
    try:
        page = await run(take_completion, context(request), request.query_params.get("flow"))
    except StoreError as exc:
        return _failure_page(exc)
    if page is None:
        return error_response(
            400, "This result was already shown or has expired. You can close this window."
        )
    return completion_response(page)
