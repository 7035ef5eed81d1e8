"""Accounts and their account connectors: credential state, expiry, last refresh, last error,
and the actions refresh now and de-authenticate (the partner API's own services)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tokenward.domain.paging import PageRequest
from tokenward.errors import ProtocolError, ServiceError, StoreError
from tokenward.services import console
from tokenward.services.account_connector_changes import deauthenticate
from tokenward.services.accounts import list_accounts
from tokenward.services.console_auth import ConsoleIdentity
from tokenward.web.console.common import csrf_refused, failure, status_of, to_login
from tokenward.web.console.pages import redirect, render
from tokenward.web.console.session import Submitted, signed_in, submitted
from tokenward.web.deps import context, run

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 and int(raw) > 0 else 1


@router.get("/console/accounts")
async def accounts(request: Request) -> Response:
    identity = await signed_in(request)
    if identity is None:
        return to_login()
    number = _page_number(request)
    page = await run(list_accounts, context(request), PageRequest(number, PAGE_SIZE))
    return render(
        "console_accounts.html",
        title="Accounts",
        identity=identity,
        active="accounts",
        page=page,
        number=number,
    )


async def _account_page(
    request: Request,
    identity: ConsoleIdentity,
    account_id: str,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    ctx = context(request)
    try:
        account, items = await run(console.account_overview, ctx, identity.principal, account_id)
    except (ServiceError, StoreError) as exc:
        return render(
            "console_message.html",
            title="Account not found",
            identity=identity,
            active="accounts",
            status=status_of(exc),
            error=failure(exc),
        )
    return render(
        "console_account.html",
        title=f"Account {account.name}",
        identity=identity,
        active="accounts",
        status=status,
        error=error,
        notice=notice,
        account=account,
        items=items,
    )


@router.get("/console/account")
async def account(request: Request) -> Response:
    identity = await signed_in(request)
    if identity is None:
        return to_login()
    account_id = request.query_params.get("id", "")[:200]
    notice = request.query_params.get("notice")
    return await _account_page(request, identity, account_id, notice=notice)


def _target(sent: Submitted) -> tuple[str, int | None]:
    raw = sent.form.get("ac", "")
    return sent.form.get("account", "")[:200], int(raw) if raw.isdigit() and len(raw) < 12 else None


async def _act(request: Request, action: str) -> Response:
    """Run ``action`` on the account connector named by the form, then show the account."""
    sent = await submitted(request)
    if sent.identity is None:
        return to_login()
    if not sent.csrf_ok:
        return csrf_refused(sent.identity)
    ctx = context(request)
    principal = sent.identity.principal
    account_id, ac_id = _target(sent)
    try:
        if ac_id is None:
            return await _account_page(
                request, sent.identity, account_id, status=400, error="No account connector given."
            )
        if action == "refresh":
            await console.refresh_account_connector(ctx, principal, account_id, ac_id)
        else:
            await run(deauthenticate, ctx, principal, account_id, ac_id)
    except (ServiceError, StoreError, ProtocolError) as exc:
        return await _account_page(
            request, sent.identity, account_id, status=status_of(exc), error=failure(exc)
        )
    notice = "refreshed" if action == "refresh" else "deauthenticated"
    return redirect("/console/account?" + urlencode({"id": account_id, "notice": notice}))


@router.post("/console/account/refresh")
async def refresh(request: Request) -> Response:
    """Refresh now (forced, still single flight)."""
    return await _act(request, "refresh")


@router.post("/console/account/deauthenticate")
async def deauthenticate_connector(request: Request) -> Response:
    """Drop the credential, revoking it at the provider where supported."""
    return await _act(request, "deauthenticate")
