"""The webflow's HTML pages and redirects, with the headers every one of them carries.

Every page (SECURITY.md W-06, W-08, C-09, L-05): ``Content-Security-Policy`` with
``default-src 'none'``, a fresh nonce for its one script and style block, ``base-uri`` and
``form-action`` closed, and ``frame-ancestors`` set to the origins that may frame it (the flow's
target origin, the partner's allowlist, or ``'none'`` together with ``X-Frame-Options: DENY``);
``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``. Templates autoescape, and
values used by scripts are JSON-encoded with ``<``, ``>``, ``&`` and ``'`` escaped (``tojson``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from functools import cache

from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from tokenward.services.webflow_completion import CompletionPage

__all__ = ["completion_response", "error_response", "redirect", "security_headers"]

_HEADINGS = {
    400: "This sign-in link cannot be used",
    403: "Access is denied",
    404: "Not found",
    429: "Too many requests",
    500: "Something went wrong",
    503: "The service is unavailable",
}
_TEXT_OK = "The connection was made. You can close this window."
_TEXT_ERROR = {
    "access_denied": "The connection was not made: access was declined.",
    "provider_error": "The connection was not made: the provider refused or could not be reached.",
    "invalid_callback": "The connection was not made: the sign-in response could not be verified.",
    "expired": "The connection was not made: the sign-in took too long. Please start again.",
    "server_error": "The connection was not made because of an error on our side.",
}


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("tokenward.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def security_headers(nonce: str | None, frame_origins: Iterable[str]) -> dict[str, str]:
    """The headers of every webflow response (pages and redirects alike)."""
    origins = sorted(set(frame_origins))
    source = f"'nonce-{nonce}'" if nonce else "'none'"
    ancestors = " ".join(origins) if origins else "'none'"
    csp = (
        f"default-src 'none'; script-src {source}; style-src {source}; base-uri 'none'; "
        f"form-action 'none'; frame-ancestors {ancestors}"
    )
    headers = {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    if not origins:
        headers["X-Frame-Options"] = "DENY"
    return headers


def _render(template: str, status: int, frame_origins: Iterable[str], **values: object) -> Response:
    nonce = secrets.token_urlsafe(16)
    html = _environment().get_template(template).render(nonce=nonce, **values)
    return HTMLResponse(html, status_code=status, headers=security_headers(nonce, frame_origins))


def error_response(status: int, message: str, frame_origins: Iterable[str] = ()) -> Response:
    """A plain page saying what went wrong, in words (never a secret, never request data)."""
    heading = _HEADINGS.get(status, "This sign-in link cannot be used")
    return _render(
        "webflow_error.html", status, frame_origins, title=heading, heading=heading, message=message
    )


def completion_response(page: CompletionPage) -> Response:
    """The completion page: posts the message to the stored origin only, then closes; shows
    the result and the way back when no window is there to receive it (W-04, W-09)."""
    heading = "Connected" if page.success else "Not connected"
    text = (
        _TEXT_OK if page.success else _TEXT_ERROR.get(page.error or "", _TEXT_ERROR["server_error"])
    )
    return _render(
        "webflow_complete.html",
        page.status_code,
        [page.target_origin],
        title=heading,
        heading=heading,
        text=text,
        mode=page.mode,
        message=page.message,
        target_origin=page.target_origin,
        link=page.link,
    )


def redirect(location: str) -> Response:
    """A 303 (a POST becomes a GET) under the webflow's headers."""
    headers = security_headers(None, ())
    headers["Location"] = location
    return Response(status_code=303, headers=headers)
