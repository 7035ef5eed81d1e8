"""Rendering the console's pages, with the headers every console response carries.

Every response (pages and redirects): ``Content-Security-Policy`` with ``default-src 'none'``
(no script at all: the console works without JavaScript), a fresh nonce for its one style block,
``form-action 'self'``, ``base-uri 'none'``, ``frame-ancestors 'none'`` with
``X-Frame-Options: DENY`` (SECURITY.md W-08), ``Referrer-Policy: no-referrer`` and
``Cache-Control: no-store`` (pages show account and credential state). No third-party asset is
referenced. Templates autoescape everything.
"""

from __future__ import annotations

import secrets
from functools import cache
from typing import Any

from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from tokenward.services.console_auth import ConsoleIdentity

__all__ = ["NOTICES", "console_headers", "redirect", "render"]

#: Messages shown after a successful action (``?notice=…``): fixed texts, nothing reflected.
NOTICES = {
    "saved": "Saved.",
    "refreshed": "The credential was refreshed.",
    "deauthenticated": "The account connector was de-authenticated.",
    "redelivered": "The event will be delivered again within a few seconds.",
    "signed_out": "You are signed out.",
}


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("tokenward.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def console_headers(nonce: str | None) -> dict[str, str]:
    style = f"'nonce-{nonce}'" if nonce else "'none'"
    csp = (
        f"default-src 'none'; style-src {style}; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


def render(
    template: str,
    *,
    title: str,
    identity: ConsoleIdentity | None,
    status: int = 200,
    active: str = "",
    notice: str | None = None,
    error: str | None = None,
    **values: Any,
) -> Response:
    """A console page: ``error`` is shown as an alert, ``notice`` (a key of :data:`NOTICES`)
    as a status message."""
    nonce = secrets.token_urlsafe(16)
    html = (
        _environment()
        .get_template(template)
        .render(
            nonce=nonce,
            title=title,
            identity=identity,
            active=active,
            notice=NOTICES.get(notice or ""),
            error=error,
            **values,
        )
    )
    return HTMLResponse(html, status_code=status, headers=console_headers(nonce))


def redirect(location: str) -> Response:
    """A 303 (the POST becomes a GET) under the console's headers; ``location`` is always one
    of the console's own paths."""
    headers = console_headers(None)
    headers["Location"] = location
    return Response(status_code=303, headers=headers)
