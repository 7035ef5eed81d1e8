"""The console's session cookie, CSRF checks and the sign-in rate limit.

* Session cookie: ``__Host-tw_console`` over https (``Secure``), ``tw_console`` over http;
  ``HttpOnly``, ``SameSite=Strict``, ``Path=/``, expiring with the session (8 hours).
* CSRF: every state-changing form carries the session's synchronizer token (``csrf``); a POST
  whose token is missing or not the session's is refused with 403 and changes nothing. The
  sign-in form, which has no session yet, is protected by a double-submit token: a random value
  in a ``SameSite=Strict`` cookie that the form must repeat.
* Sign-in attempts are limited per client address and per user name (in-process token buckets,
  as the webflow's), with a message saying how long to wait.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from tokenward.services import console_auth
from tokenward.services.console_auth import ConsoleIdentity
from tokenward.settings import Settings
from tokenward.web.deps import context, run_read
from tokenward.web.webflow.ratelimit import RateLimiter

__all__ = [
    "LOGIN_PER_IP",
    "LOGIN_PER_USER",
    "Submitted",
    "Throttle",
    "clear_session_cookie",
    "form_of",
    "login_cookie",
    "login_token_matches",
    "session_cookie",
    "set_login_cookie",
    "set_session_cookie",
    "signed_in",
    "submitted",
    "throttle",
]

LOGIN_PER_IP = 30  # attempts per minute from one address
LOGIN_PER_USER = 5  # attempts per minute for one user name
_LOGIN_COOKIE_AGE = 3600
_MAX_FIELD = 20_000


def _https(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    return settings.service_is_https


def session_cookie(request: Request) -> str:
    return "__Host-tw_console" if _https(request) else "tw_console"


def login_cookie(request: Request) -> str:
    return "__Host-tw_console_login" if _https(request) else "tw_console_login"


def _set(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=_https(request),
        httponly=True,
        samesite="strict",
    )


def set_session_cookie(request: Request, response: Response, token: str, max_age: int) -> None:
    _set(request, response, session_cookie(request), token, max_age)
    response.delete_cookie(login_cookie(request), path="/", secure=_https(request))


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        session_cookie(request), path="/", secure=_https(request), httponly=True, samesite="strict"
    )


def set_login_cookie(request: Request, response: Response, token: str) -> None:
    _set(request, response, login_cookie(request), token, _LOGIN_COOKIE_AGE)


def login_token_matches(request: Request, presented: str | None) -> bool:
    """The sign-in form's token equals its cookie (double submit)."""
    expected = request.cookies.get(login_cookie(request), "")
    return bool(expected) and hmac.compare_digest(expected.encode(), (presented or "").encode())


async def signed_in(request: Request) -> ConsoleIdentity | None:
    """The console user of this request's session cookie, if the session is valid."""
    token = request.cookies.get(session_cookie(request))
    if not token:
        return None
    return await run_read(request, console_auth.session_identity, context(request), token)


async def form_of(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST (text fields only, each cut to a sane length)."""
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    form = await request.form()
    return {k: v[:_MAX_FIELD] for k, v in form.items() if isinstance(v, str)}


@dataclass(frozen=True)
class Submitted:
    """A checked POST: who sent it and its fields. ``identity`` is None when no valid session
    came with it; ``csrf_ok`` says whether its CSRF token is the session's."""

    identity: ConsoleIdentity | None
    form: dict[str, str]
    csrf_ok: bool


async def submitted(request: Request) -> Submitted:
    identity = await signed_in(request)
    form = await form_of(request)
    ok = identity is not None and console_auth.csrf_matches(identity, form.get("csrf"))
    return Submitted(identity, form, ok)


class Throttle:
    """The sign-in budget per address and per user name."""

    def __init__(self, per_ip: int = LOGIN_PER_IP, per_user: int = LOGIN_PER_USER) -> None:
        self.by_ip = RateLimiter(per_ip)
        self.by_user = RateLimiter(per_user)

    def check(self, address: str, username: str) -> tuple[str, int] | None:
        """None when this attempt may go ahead; else the message to show and the seconds to
        wait."""
        wait = self.by_ip.take(address)
        if wait is not None:
            return (
                f"Too many sign-in attempts from this address. Wait {wait} seconds and try again.",
                wait,
            )
        wait = self.by_user.take(username.strip().lower()[:200])
        if wait is not None:
            return (
                f"Too many sign-in attempts for this user name. Wait {wait} seconds and try again.",
                wait,
            )
        return None


def throttle(request: Request) -> Throttle:
    """The app's sign-in throttle (one per app, created on first use)."""
    state = request.app.state
    found: Throttle | None = getattr(state, "console_throttle", None)
    if found is None:
        found = state.console_throttle = Throttle()
    return found
