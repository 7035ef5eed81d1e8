"""The partner console (docs/console.md): server-rendered pages under ``/console`` for the
partner's operators, signed in with a console user (``tokenward admin create``)."""

from __future__ import annotations

from fastapi import APIRouter

from tokenward.web.console import (
    account_routes,
    auth_routes,
    browse_routes,
    library_routes,
    settings_routes,
)

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
for _module in (auth_routes, library_routes, account_routes, settings_routes, browse_routes):
    router.include_router(_module.router)
