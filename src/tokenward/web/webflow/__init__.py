"""The browser webflow (DESIGN.md §7): its routes, pages and rate limit."""

from __future__ import annotations

from fastapi import FastAPI

from tokenward.web.webflow.paths import WebflowPathMiddleware
from tokenward.web.webflow.routes import cookie_name, router

__all__ = ["cookie_name", "install_webflow", "router"]


def install_webflow(app: FastAPI) -> None:
    """Add the webflow's routes to ``app`` (no bearer authentication on them), matched in any
    path case."""
    app.include_router(router)
    app.add_middleware(WebflowPathMiddleware)
