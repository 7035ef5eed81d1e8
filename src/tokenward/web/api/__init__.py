"""Partner API routers, one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["routers"]


def routers() -> list[APIRouter]:
    from tokenward.web.api import (
        account_connectors,
        accounts,
        application_connectors,
        connectors,
        credential_token,
        events,
        health,
        install,
        launch,
        methods,
        partner,
        properties,
        proxy,
        token,
    )

    # Routes match in order: the hottest calls (the token read, GET
    # /v1.0/account/connectors/{id}) come right after the health checks; install's
    # /v1.0/connectors/{ref}/install stays ahead of the catalog's /v1.0/connectors routes.
    return [
        health.router,
        credential_token.router,
        account_connectors.router,
        methods.router,
        proxy.router,
        token.router,
        accounts.router,
        launch.router,
        install.router,
        properties.router,
        partner.router,
        connectors.router,
        application_connectors.router,
        events.router,
    ]
