"""The browser webflow (DESIGN.md §7): its routes, pages and rate limit."""

from __future__ import annotations

from fastapi import FastAPI

from tokenward.web.webflow.paths import WebflowPathMiddleware
from tokenward.web.webflow.routes import cookie_name, router

__all__ = ["cookie_name", "install_webflow", "router"]


def install_webflow(app: FastAPI) -> None:
    """Match the webflow's routes (``router``, added by the app factory) in any path case."""
    app.add_middleware(WebflowPathMiddleware)
