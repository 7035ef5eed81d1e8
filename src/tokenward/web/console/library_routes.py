"""The Application Connector Library: the partner's OAuth app (ClientId, ClientSecret, scopes)
per connector, and the redirect URI to register at each provider. The secret is write-only:
the form never shows it back; leaving the field empty keeps the stored one."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tokenward.errors import ServiceError, StoreError
from tokenward.services import console
from tokenward.services.application_connectors import (
    UNSET,
    ApplicationConnectorChanges,
    ApplicationConnectorView,
    get_application_connector,
    put_application_connector,
)
from tokenward.services.console_auth import ConsoleIdentity
from tokenward.web.console.common import csrf_refused, failure, status_of, to_login
from tokenward.web.console.pages import redirect, render
from tokenward.web.console.session import signed_in, submitted
from tokenward.web.deps import context, run

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/console/library")
async def library(request: Request) -> Response:
    identity = await signed_in(request)
    if identity is None:
        return to_login()
    query = request.query_params.get("q", "")[:200]
    rows = await run(console.library_rows, context(request), query)
    return render(
        "console_library.html",
        title="Application Connector Library",
        identity=identity,
        active="library",
        rows=rows,
        query=query,
        auth_types=console.auth_types,
        redirect_uri=context(request).redirect_uri,
    )


def _entry_page(
    request: Request,
    identity: ConsoleIdentity,
    entry: ApplicationConnectorView,
    *,
    status: int = 200,
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    name = entry.connector.Name if entry.connector else f"Connector {entry.connector_id}"
    return render(
        "console_library_entry.html",
        title=f"{name}: library entry",
        identity=identity,
        active="library",
        status=status,
        error=error,
        notice=request.query_params.get("notice"),
        entry=entry,
        name=name,
        typed=typed,
        redirect_uri=context(request).redirect_uri,
    )


@router.get("/console/library/{connector_id:int}")
async def entry(request: Request, connector_id: int) -> Response:
    identity = await signed_in(request)
    if identity is None:
        return to_login()
    try:
        found = await run(get_application_connector, context(request), connector_id)
    except (ServiceError, StoreError) as exc:
        return render(
            "console_message.html",
            title="Not found",
            identity=identity,
            status=status_of(exc),
            error=failure(exc),
        )
    return _entry_page(request, identity, found)


def _changes(form: dict[str, str]) -> ApplicationConnectorChanges:
    """The form as a partial update: an empty secret keeps the stored one unless removal is
    ticked; empty scopes mean the connector's defaults."""
    secret = form.get("client_secret", "")
    removing = form.get("remove_secret") == "1"
    return ApplicationConnectorChanges(
        client_id=form.get("client_id", ""),
        client_secret=None if removing else (secret or UNSET),
        scopes=form.get("scopes", "").strip() or None,
        enabled=form.get("enabled") == "1",
    )


@router.post("/console/library/{connector_id:int}")
async def save_entry(request: Request, connector_id: int) -> Response:
    sent = await submitted(request)
    if sent.identity is None:
        return to_login()
    if not sent.csrf_ok:
        return csrf_refused(sent.identity)
    ctx = context(request)
    principal = sent.identity.principal
    try:
        await run(put_application_connector, ctx, principal, connector_id, _changes(sent.form))
    except (ServiceError, StoreError) as exc:
        try:
            stored = await run(get_application_connector, ctx, connector_id)
        except (ServiceError, StoreError):
            return render(
                "console_message.html",
                title="Not saved",
                identity=sent.identity,
                status=status_of(exc),
                error=failure(exc),
            )
        typed = {k: v for k, v in sent.form.items() if k != "client_secret"}
        return _entry_page(
            request, sent.identity, stored, status=status_of(exc), error=failure(exc), typed=typed
        )
    return redirect(f"/console/library/{connector_id}?notice=saved")
