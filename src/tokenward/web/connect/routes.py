"""The connect page's routes (DESIGN.md §7; docs/launch.md). No bearer token: the sign-in token,
then the connect-session cookie (and its CSRF token on every action) are the credentials.

* ``GET /account/signinwithtoken?token=…&returnUrl=…`` (Cyclr's shape) consumes the sign-in
  token, sets the session cookie, and 303s to ``returnUrl`` (a path here) or ``/connect``;
* ``GET /connect`` (also ``/launch`` and ``/marketplace``, where LAUNCH URLs lead) is the page;
* ``GET /connect/start?ac=…&mode=popup|redirect&csrf=…`` starts the webflow of one connector;
* ``GET /connect/done`` ends a popup's flow; ``POST /connect/properties`` saves properties.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tokenward.errors import ServiceError, StoreError
from tokenward.services import connect_page, connect_sessions
from tokenward.services.connect_sessions import ConnectSession
from tokenward.services.webflow import allowed_origins
from tokenward.settings import Settings
from tokenward.web.connect.pages import PageState, banner_for, done_response, page_response
from tokenward.web.deps import context, run
from tokenward.web.webflow.pages import error_response, redirect
from tokenward.web.webflow.routes import cookie_name, set_binding_cookie

__all__ = ["router", "session_cookie_name"]

router = APIRouter(include_in_schema=False)

_ENDED = (
    "Your session has ended or this link was already used. Go back to the app and open the "
    "connection page from there again."
)
_DONE_TEXT = {
    "success": "The connection was made. You can close this window.",
    "error": "The connection was not made. You can close this window and try again.",
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def session_cookie_name(settings: Settings) -> str:
    """``__Host-tw_connect`` over https, ``tw_connect`` over http (as the binding cookie)."""
    return "__Host-tw_connect" if settings.service_is_https else "tw_connect"


async def _frame_origins(request: Request) -> frozenset[str]:
    return await run(allowed_origins, context(request))


async def _session(request: Request) -> ConnectSession | None:
    sealed = request.cookies.get(session_cookie_name(_settings(request)))
    return await run(connect_sessions.open_session, context(request), sealed)


def _csrf_ok(session: ConnectSession, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf.encode(), str(given).encode())


async def _ended(request: Request) -> Response:
    return error_response(403, _ENDED, await _frame_origins(request))


@router.get("/account/signinwithtoken")
async def sign_in(request: Request) -> Response:
    """Consume the sign-in token (once), open a 30-minute session, go on without the token."""
    query = request.scope.get("query_string", b"").decode("utf-8", "replace")
    token, return_url = connect_sessions.parse_signin_query(query)
    try:
        signed = await run(connect_sessions.sign_in, context(request), token, return_url)
    except ServiceError as exc:
        return error_response(403, exc.message, await _frame_origins(request))
    settings = _settings(request)
    https = settings.service_is_https
    response = redirect(signed.location)
    response.set_cookie(
        session_cookie_name(settings),
        signed.cookie,
        max_age=int(connect_sessions.SESSION_LIFETIME.total_seconds()),
        path="/",
        secure=https,
        httponly=True,
        samesite="none" if https else "lax",
    )
    return response


async def _page(
    request: Request,
    session: ConnectSession,
    errors: dict[int, dict[str, str]] | None = None,
    entered: dict[int, dict[str, str]] | None = None,
) -> Response:
    cards = await run(connect_page.cards, context(request), session)
    banner = None if errors else banner_for(dict(request.query_params), cards)
    state = PageState(cards, session.csrf, session.popup, banner, errors or {}, entered or {})
    return page_response(state, await _frame_origins(request), 400 if errors else 200)


@router.get("/connect")
@router.get("/launch")
@router.get("/marketplace")
async def page(request: Request) -> Response:
    """The account's connectors, their state, Connect buttons and settings."""
    session = await _session(request)
    if session is None:
        return await _ended(request)
    try:
        return await _page(request, session)
    except (ServiceError, StoreError):
        return await _ended(request)


def _result_location(popup: bool, ac_id: int, code: str) -> str:
    query = urlencode({"status": "error", "AccountConnectorId": str(ac_id), "error": code})
    return f"{connect_page.DONE_PATH if popup else '/connect'}?{query}"


@router.get("/connect/start")
async def start(request: Request) -> Response:
    """Start the webflow of one of the session's account connectors (in this window)."""
    session = await _session(request)
    params = request.query_params
    if session is None or not _csrf_ok(session, params.get("csrf")):
        return await _ended(request)
    popup = params.get("mode") == "popup"
    raw = params.get("ac", "")
    ac_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else 0
    binding_name = cookie_name(_settings(request))
    try:
        started = await connect_page.start_connect(
            context(request),
            session,
            ac_id,
            popup=popup,
            binding_cookie=request.cookies.get(binding_name),
        )
    except ServiceError as exc:
        return redirect(_result_location(popup, ac_id, exc.code or "server_error"))
    except StoreError:
        return redirect(_result_location(popup, ac_id, "server_error"))
    response = redirect(started.location)
    if started.binding is not None:
        set_binding_cookie(response, _settings(request), started.binding)
    return response


@router.get("/connect/done")
async def done(request: Request) -> Response:
    """The popup's last stop: tell the opener (the connect page), or go back to it."""
    params = request.query_params
    status = "success" if params.get("status") == "success" else "error"
    raw = params.get("AccountConnectorId", "")
    ac_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else 0
    error = params.get("error") if status == "error" else None
    result: dict[str, object] = {
        "type": "tokenward.connect",
        "status": status,
        "AccountConnectorId": ac_id,
        "error": (error or "server_error")[:40] if status == "error" else None,
    }
    back = {"status": status, "AccountConnectorId": str(ac_id)}
    if status == "error":
        back["error"] = str(result["error"])
    return done_response(result, f"/connect?{urlencode(back)}", _DONE_TEXT[status])


@router.post("/connect/properties")
async def save_properties(request: Request) -> Response:
    """Save one account connector's properties; the page again with plain-word errors (400)."""
    session = await _session(request)
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if session is None or not _csrf_ok(session, values.get("csrf")):
        return await _ended(request)
    raw = values.get("ac", "")
    ac_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 12 else 0
    submitted = {k[len("property:") :]: v for k, v in values.items() if k.startswith("property:")}
    try:
        errors = await run(
            connect_page.save_properties, context(request), session, ac_id, submitted
        )
    except ServiceError:
        return redirect("/connect?" + urlencode({"status": "error", "error": "not_found"}))
    if errors:
        return await _page(request, session, {ac_id: errors}, {ac_id: submitted})
    return redirect("/connect?" + urlencode({"saved": str(ac_id)}))
