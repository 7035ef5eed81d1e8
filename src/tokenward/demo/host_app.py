"""The demo's example host page and its small backend: a partner's app on its own origin.

The page loads the browser SDK from the service and calls three endpoints of its own backend,
which talks to the partner API with the Python SDK (the partner's client secret never reaches
the browser):

* ``POST /demo/connect-url?mode=popup|redirect`` — a fresh webflow start URL (a new single-use
  sign-in token in it) completing by postMessage to this origin, or by redirect back here;
* ``GET /demo/status`` — the account connector's ``Authenticated`` and ``AuthState``;
* ``POST /demo/call`` — the connector's method, called through tokenward.

Requests to ``/demo/*`` must carry ``X-Requested-With: tokenward-demo``, a header another site
cannot send without a CORS preflight that this server never grants.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tokenward.client import AsyncClient, TokenwardClientError
from tokenward.demo.sandbox import METHOD_NAME, SANDBOX_PASSWORD, SANDBOX_USER
from tokenward.demo.seed import DemoSetup

__all__ = ["HostConfig", "build_host_app"]

CALLBACK_MESSAGE = "tokenward-demo:connected"
_HEADER = ("x-requested-with", "tokenward-demo")
_STATIC = {"/app.js": "text/javascript", "/app.css": "text/css"}


@dataclass(frozen=True)
class HostConfig:
    """Where the service is, this page's origin, the partner API client, and the demo's Ids."""

    service_url: str
    origin: str
    client_id: str
    client_secret: str
    setup: DemoSetup
    sdk_url: str
    sdk_integrity: str


def _static(name: str) -> bytes:
    return files("tokenward.demo").joinpath("static", name).read_bytes()


def _page(config: HostConfig) -> bytes:
    html = _static("index.html").decode()
    for key, value in {
        "SDK_URL": config.sdk_url,
        "SDK_INTEGRITY": config.sdk_integrity,
        "USER": SANDBOX_USER,
        "PASSWORD": SANDBOX_PASSWORD,
        "METHOD": METHOD_NAME,
    }.items():
        html = html.replace("{{" + key + "}}", value)
    return html.encode()


def _csp(config: HostConfig) -> str:
    return (
        f"default-src 'none'; script-src 'self' {config.service_url}; style-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


Endpoint = Callable[[Request], Awaitable[Response]]


def _guarded(endpoint: Endpoint) -> Endpoint:
    """Refuse a request without the page's header (what a cross-site form cannot send)."""

    async def checked(request: Request) -> Response:
        if request.headers.get(_HEADER[0]) != _HEADER[1]:
            return JSONResponse({"error": "missing X-Requested-With"}, 403)
        return await endpoint(request)

    return checked


class _Backend:
    """The host page's backend: the partner API through the async Python SDK."""

    def __init__(self, config: HostConfig) -> None:
        self.config, self.setup = config, config.setup
        self._tw: AsyncClient | None = None

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        config = self.config
        async with AsyncClient(config.service_url, config.client_id, config.client_secret) as tw:
            self._tw = tw
            yield

    @property
    def tw(self) -> AsyncClient:
        assert self._tw is not None, "used outside the app's lifespan"
        return self._tw

    async def page(self, _request: Request) -> Response:
        headers = {"Content-Security-Policy": _csp(self.config), "Cache-Control": "no-store"}
        return Response(_page(self.config), media_type="text/html; charset=utf-8", headers=headers)

    async def asset(self, request: Request) -> Response:
        path = request.url.path
        return Response(_static(path.lstrip("/")), media_type=_STATIC[path])

    async def connect_url(self, request: Request) -> Response:
        """A new start URL: postMessage to this origin, or (``mode=redirect``) back to ``/``."""
        popup = request.query_params.get("mode", "popup") == "popup"
        url = await self.tw.webflow_url(
            self.setup.account_id,
            self.setup.account_connector_id,
            username="newcomer",
            target_origin=self.config.origin if popup else f"{self.config.origin}/",
            callback_message=CALLBACK_MESSAGE if popup else None,
        )
        return JSONResponse({"url": url}, headers={"Cache-Control": "no-store"})

    async def status(self, _request: Request) -> Response:
        setup = self.setup
        ac = await self.tw.get_account_connector(setup.account_id, setup.account_connector_id)
        body = {"authenticated": ac["Authenticated"], "authState": ac["AuthState"]}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def call(self, _request: Request) -> Response:
        setup = self.setup
        try:
            answer = await self.tw.call_method(
                setup.account_id, setup.account_connector_id, setup.method_id, http_method="GET"
            )
        except TokenwardClientError as exc:  # e.g. 409 before connecting: say why
            return JSONResponse({"error": str(exc)}, 502)
        try:
            body: Any = answer.json()
        except ValueError:
            body = answer.text
        return JSONResponse({"status": answer.status_code, "body": body})


def build_host_app(config: HostConfig) -> Starlette:
    """The host page's ASGI app."""
    backend = _Backend(config)
    routes = [
        Route("/", backend.page),
        Route("/app.js", backend.asset),
        Route("/app.css", backend.asset),
        Route("/demo/connect-url", _guarded(backend.connect_url), methods=["POST"]),
        Route("/demo/status", _guarded(backend.status)),
        Route("/demo/call", _guarded(backend.call), methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=backend.lifespan)
