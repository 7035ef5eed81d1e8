"""Partner API routers, one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["routers"]


def routers() -> list[APIRouter]:
    from tokenward.web.api import accounts, health, token

    return [health.router, token.router, accounts.router]
