"""The app factory: ``create_app(settings)`` builds a FastAPI app whose lifespan opens the runtime.

Nothing is created at import time; tests and ``tokenward serve`` call the factory.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_client import CollectorRegistry
from starlette.routing import BaseRoute
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tokenward import __version__
from tokenward.clock import Clock
from tokenward.runtime import Runtime, open_runtime
from tokenward.settings import Settings
from tokenward.web.api import routers
from tokenward.web.connect import router as connect_router
from tokenward.web.console import router as console_router
from tokenward.web.deps import PrincipalCache, principal
from tokenward.web.errors import install_error_handlers
from tokenward.web.fast_routes import FastLane, fast_routes
from tokenward.web.middleware import (
    AccessLogMiddleware,
    BodyLimitMiddleware,
    IdempotencyMiddleware,
    SecurityHeadersMiddleware,
    TrailingSlashMiddleware,
)
from tokenward.web.responses import documented_models
from tokenward.web.sdk import router as sdk_router
from tokenward.web.webflow import install_webflow
from tokenward.web.webflow import router as webflow_router
from tokenward.worker.housekeeping import Housekeeper
from tokenward.worker.polling import PollingWorker
from tokenward.worker.refresher import Refresher
from tokenward.worker.revocations import RevocationWorker
from tokenward.worker.webhooks import WebhookDispatcher

__all__ = ["create_app"]

DESCRIPTION = """Connector authentication for embedded integrations.

The partner API follows Cyclr's public REST API v1.0: PascalCase fields bound case-insensitively,
200 on success, errors as `{"Message", "Code"}`. Get a bearer token from `POST /oauth/token`;
account-level calls also need `X-Cyclr-Account: {account Id}`."""


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    clock: Clock | None = None,
    migrate: bool = False,
    housekeeping: bool | None = None,
    dispatch: bool | None = None,
) -> FastAPI:
    """Build the app. Pass ``runtime`` to share one (tests); otherwise the lifespan opens it.

    ``housekeeping`` runs the purge/flush task; by default only when the app owns its runtime,
    so that tests sharing a runtime stay deterministic (``serve`` passes True).
    ``dispatch`` runs the webhook dispatcher and the revocation worker; by default whenever
    housekeeping runs.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        rt = runtime or open_runtime(settings, migrate=migrate, clock=clock)
        _attach(app, rt)
        keeper = None
        if housekeeping or (housekeeping is None and owned):
            keeper = Housekeeper(rt.ctx, audit_retention_days=settings.audit_retention_days)
            keeper.start()
        background = housekeeping or (housekeeping is None and owned)
        dispatchers = _start_dispatchers(rt, background if dispatch is None else dispatch)
        try:
            yield
        finally:
            for dispatcher in dispatchers:
                await dispatcher.stop()
            if keeper is not None:
                await keeper.stop()
            # the outbound pool and the hot reads' connections belong to this event loop
            await app.state.ctx.transport.aclose()
            await app.state.ctx.db.aclose_loop()
            if owned:
                rt.close()

    app = FastAPI(
        title="tokenward",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.principal_cache = PrincipalCache()
    app.state.metrics = CollectorRegistry()
    if runtime is not None:
        _attach(app, runtime)
    install_error_handlers(app)
    app.router.routes.extend(_route_table())
    # innermost: the hot routes answered before the router (web/fast_routes.py)
    app.add_middleware(FastLane, routes=fast_routes(routers()), handlers=app.exception_handlers)
    install_webflow(app)  # the webflow pages match in any path case (docs/webflow.md)
    _install_openapi(app)

    def ctx() -> Any:
        return app.state.ctx

    app.add_middleware(IdempotencyMiddleware, ctx=ctx)
    app.add_middleware(TrailingSlashMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_middleware(AccessLogMiddleware, registry=app.state.metrics)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


@functools.cache
def _route_table() -> tuple[BaseRoute, ...]:
    """Every route of the service, built once per process and shared by every app built in it.

    Preparing ~100 routes (their dependencies and body models) costs a few hundred milliseconds;
    the routes hold no per-app state (handlers reach the runtime through ``request.app``).
    """
    table = APIRouter()
    for router in routers():
        # Authentication comes first on every partner API call, before any input is validated,
        # so that a caller without a token learns nothing but 401.
        protected = any(getattr(r, "path", "").startswith("/v1.0/") for r in router.routes)
        table.include_router(router, dependencies=[Depends(principal)] if protected else None)
    table.include_router(webflow_router)  # browser pages: no bearer token (docs/webflow.md)
    table.include_router(connect_router)  # the connect page: a session cookie (docs/launch.md)
    table.include_router(console_router)  # the partner console: its own session (docs/console.md)
    table.include_router(sdk_router)  # the browser SDK, a public static file (docs/browser-sdk.md)
    return tuple(table.routes)


def _start_dispatchers(runtime: Runtime, enabled: bool) -> list[PollingWorker]:
    """The background refresher, the webhook dispatcher and the revocation worker, started
    (DESIGN.md §2 worker/)."""
    if not enabled:
        return []
    workers: list[PollingWorker] = [WebhookDispatcher(runtime.ctx), RevocationWorker(runtime.ctx)]
    if runtime.settings.refresher_enabled:
        refresher = Refresher(runtime.ctx, concurrency=runtime.settings.refresher_concurrency)
        workers.insert(0, refresher)
    for worker in workers:
        worker.start()
    return workers


def _attach(app: FastAPI, runtime: Runtime) -> None:
    app.state.runtime = runtime
    app.state.ctx = runtime.ctx
    app.state.inline_reads = runtime.db.backend == "sqlite"  # see deps.run_read


def _install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for name, model in documented_models().items():
            doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for def_name, definition in doc.pop("$defs", {}).items():
                schemas.setdefault(def_name, definition)
            schemas[name] = doc
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from POST /oauth/token",
        }
        for path, operations in schema.get("paths", {}).items():
            if path.startswith("/v1.0/"):
                for operation in operations.values():
                    operation["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
