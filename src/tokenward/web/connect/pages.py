"""The connect page's HTML (server-rendered Jinja2, ``templates/connect_*.html``) and its headers.

The headers are the webflow pages' (SECURITY.md W-06, W-08, L-05): a nonce CSP with
``default-src 'none'``, ``frame-ancestors`` the partner's allowed origins (or ``'none'`` with
``X-Frame-Options: DENY``), ``Referrer-Policy: no-referrer``, ``Cache-Control: no-store`` —
except ``form-action 'self'``, because the page posts its properties form to itself. Nothing
comes from another origin: no fonts, images, scripts or styles but the page's own.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from tokenward.services.connect_page import Card
from tokenward.web.webflow.pages import security_headers

__all__ = [
    "Banner",
    "PageState",
    "banner_for",
    "connect_headers",
    "done_response",
    "page_response",
]

_FAILED = {
    "access_denied": "was not connected: access was declined at the service.",
    "provider_error": (
        "was not connected: the service refused the sign-in or could not be reached. "
        "Please try again in a few minutes."
    ),
    "invalid_callback": "was not connected: the sign-in could not be verified. Please try again.",
    "expired": "was not connected: the sign-in took too long and expired. Please try again.",
    "missing_properties": "cannot be connected yet: fill in its required settings first.",
    "signin_token_invalid": "was not connected: the sign-in link expired. Please try again.",
    "server_error": "was not connected because of an error on our side. Please try again later.",
}
_FAILED_OTHER = "could not be connected. Please try again later."


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("tokenward.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class Banner:
    kind: str  # "success" | "error"
    text: str
    account_connector_id: int | None = None


def banner_for(query: Mapping[str, str], cards: list[Card]) -> Banner | None:
    """The message of a finished flow or a save, from the page's query (never secret)."""
    raw_id = query.get("AccountConnectorId") or query.get("saved") or ""
    ac_id = int(raw_id) if raw_id.isdigit() and len(raw_id) < 12 else None
    name = next((c.name for c in cards if c.id == ac_id), "The service")
    if "saved" in query:
        return Banner("success", f"The settings of {name} were saved.", ac_id)
    status = query.get("status")
    if status == "success":
        return Banner("success", f"{name} is now connected.", ac_id)
    if status == "error":
        reason = _FAILED.get(query.get("error") or "", _FAILED_OTHER)
        return Banner("error", f"{name} {reason}", ac_id)
    return None


def connect_headers(nonce: str | None, frame_origins: Iterable[str]) -> dict[str, str]:
    headers = security_headers(nonce, frame_origins)
    csp = headers["Content-Security-Policy"].replace("form-action 'none'", "form-action 'self'")
    headers["Content-Security-Policy"] = csp
    return headers


@dataclass(frozen=True)
class PageState:
    """Everything the connect page template shows."""

    cards: list[Card]
    csrf: str
    popup: bool
    banner: Banner | None = None
    errors: dict[int, dict[str, str]] = field(default_factory=dict)
    entered: dict[int, dict[str, str]] = field(default_factory=dict)


def page_response(state: PageState, frame_origins: Iterable[str], status: int = 200) -> Response:
    nonce = secrets.token_urlsafe(16)
    html = (
        _environment()
        .get_template("connect_page.html")
        .render(nonce=nonce, state=state, title="Connect your services")
    )
    return HTMLResponse(html, status_code=status, headers=connect_headers(nonce, frame_origins))


def done_response(result: dict[str, object], back: str, text: str) -> Response:
    """The popup's last page: tells the connect page that opened it and closes, or — with no
    opener (blocked, severed by COOP) — goes to the connect page itself (``back``)."""
    nonce = secrets.token_urlsafe(16)
    html = (
        _environment()
        .get_template("connect_done.html")
        .render(nonce=nonce, result=result, back=back, text=text, title="Connection finished")
    )
    return HTMLResponse(html, headers=connect_headers(nonce, ()))
