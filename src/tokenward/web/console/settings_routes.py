"""Partner settings in the console: allowed target origins, and the webhook with its delivery
log and redelivery."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tokenward.errors import ServiceError, StoreError
from tokenward.services import console
from tokenward.services.console_auth import ConsoleIdentity
from tokenward.services.partner_settings import get_partner_settings
from tokenward.services.webhooks import delivery_status
from tokenward.web.console.common import csrf_refused, failure, status_of, to_login
from tokenward.web.console.pages import redirect, render
from tokenward.web.console.session import signed_in, submitted
from tokenward.web.deps import context, run

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


async def _origins_page(
    request: Request,
    identity: ConsoleIdentity,
    *,
    status: int = 200,
    error: str | None = None,
    typed: str | None = None,
) -> Response:
    settings = await run(get_partner_settings, context(request))
    return render(
        "console_origins.html",
        title="Allowed origins",
        identity=identity,
        active="origins",
        status=status,
        error=error,
        notice=request.query_params.get("notice"),
        settings=settings,
        typed=typed,
    )


@router.get("/console/origins")
async def origins(request: Request) -> Response:
    identity = await signed_in(request)
    if identity is None:
        return to_login()
    return await _origins_page(request, identity)


@router.post("/console/origins")
async def save_origins(request: Request) -> Response:
    sent = await submitted(request)
    if sent.identity is None:
        return to_login()
    if not sent.csrf_ok:
        return csrf_refused(sent.identity)
    text = sent.form.get("origins", "")
    try:
        await run(console.set_allowed_origins, context(request), sent.identity.principal, text)
    except (ServiceError, StoreError) as exc:
        return await _origins_page(
            request, sent.identity, status=status_of(exc), error=failure(exc), typed=text
        )
    return redirect("/console/origins?notice=saved")


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 and int(raw) > 0 else 1


async def _webhooks_page(
    request: Request,
    identity: ConsoleIdentity,
    *,
    status: int = 200,
    error: str | None = None,
    typed_url: str | None = None,
) -> Response:
    ctx = context(request)
    number = _page_number(request)
    settings = await run(get_partner_settings, ctx)
    events = await run(console.events_page, ctx, number)
    return render(
        "console_webhooks.html",
        title="Webhooks",
        identity=identity,
        active="webhooks",
        status=status,
        error=error,
        notice=request.query_params.get("notice"),
        settings=settings,
        events=events,
        number=number,
        status_of=delivery_status,
        typed_url=typed_url,
    )


@router.get("/console/webhooks")
async def webhooks(request: Request) -> Response:
    identity = await signed_in(request)
    if identity is None:
        return to_login()
    return await _webhooks_page(request, identity)


@router.post("/console/webhooks")
async def save_webhook(request: Request) -> Response:
    """Set the webhook URL and, when typed, its secret (write-only)."""
    sent = await submitted(request)
    if sent.identity is None:
        return to_login()
    if not sent.csrf_ok:
        return csrf_refused(sent.identity)
    url, secret = sent.form.get("url", ""), sent.form.get("secret", "")
    try:
        await run(console.set_webhook, context(request), sent.identity.principal, url, secret)
    except (ServiceError, StoreError) as exc:
        return await _webhooks_page(
            request, sent.identity, status=status_of(exc), error=failure(exc), typed_url=url
        )
    return redirect("/console/webhooks?notice=saved")


@router.post("/console/webhooks/redeliver")
async def redeliver(request: Request) -> Response:
    """Send an event again under the same id."""
    sent = await submitted(request)
    if sent.identity is None:
        return to_login()
    if not sent.csrf_ok:
        return csrf_refused(sent.identity)
    event_id = sent.form.get("event", "")
    try:
        await run(console.redeliver_event, context(request), sent.identity.principal, event_id)
    except (ServiceError, StoreError) as exc:
        return await _webhooks_page(
            request, sent.identity, status=status_of(exc), error=failure(exc)
        )
    return redirect("/console/webhooks?notice=redelivered")
