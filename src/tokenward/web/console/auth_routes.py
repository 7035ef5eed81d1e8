"""Signing in and out of the console."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tokenward.crypto.hashing import new_token
from tokenward.errors import Unauthenticated
from tokenward.services import console_auth
from tokenward.web.console.common import csrf_refused, to_login
from tokenward.web.console.pages import redirect, render
from tokenward.web.console.session import (
    clear_session_cookie,
    form_of,
    login_token_matches,
    session_cookie,
    set_login_cookie,
    set_session_cookie,
    signed_in,
    submitted,
    throttle,
)
from tokenward.web.deps import context, run

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _login_page(
    request: Request,
    *,
    status: int = 200,
    error: str | None = None,
    username: str = "",
    notice: str | None = None,
) -> Response:
    """The sign-in form with a fresh double-submit token (cookie and hidden field)."""
    token = new_token()
    response = render(
        "console_login.html",
        title="Sign in",
        identity=None,
        status=status,
        error=error,
        notice=notice,
        login_token=token,
        username=username,
    )
    set_login_cookie(request, response, token)
    return response


@router.get("/console")
async def home(request: Request) -> Response:
    """The console's start: the library when signed in, else the sign-in page."""
    return redirect("/console/library" if await signed_in(request) else "/console/login")


@router.get("/console/login")
async def login_form(request: Request) -> Response:
    if await signed_in(request):
        return redirect("/console/library")
    return _login_page(request, notice=request.query_params.get("notice"))


@router.post("/console/login")
async def login(request: Request) -> Response:
    """Check the form's token, the rate limits, then the password."""
    form = await form_of(request)
    username = form.get("username", "")[:200]
    if not login_token_matches(request, form.get("csrf")):
        message = "The sign-in form expired or did not come from this console. Try again."
        return _login_page(request, status=403, error=message, username=username)
    address = request.client.host if request.client else "unknown"
    limited = throttle(request).check(address, username)
    if limited is not None:
        response = _login_page(request, status=429, error=limited[0], username=username)
        response.headers["Retry-After"] = str(limited[1])
        return response
    try:
        signed = await run(
            console_auth.sign_in, context(request), username, form.get("password", "")
        )
    except Unauthenticated as exc:
        return _login_page(request, status=401, error=exc.message, username=username)
    response = redirect("/console/library")
    set_session_cookie(request, response, signed.token, signed.max_age)
    return response


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    sent = await submitted(request)
    if sent.identity is None:
        return to_login()
    if not sent.csrf_ok:
        return csrf_refused(sent.identity)
    await run(console_auth.sign_out, context(request), request.cookies[session_cookie(request)])
    response = redirect("/console/login?notice=signed_out")
    clear_session_cookie(request, response)
    return response
