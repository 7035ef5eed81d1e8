"""Request-scoped inputs of routes: the service context, the caller, paging."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar
from urllib.parse import unquote

from fastapi import Header, Query, Request
from starlette.concurrency import run_in_threadpool

from tokenward.domain.paging import MAX_PAGE_SIZE, PageRequest
from tokenward.domain.text import unstorable
from tokenward.errors import Forbidden, InvalidRequest, Unauthenticated
from tokenward.services.api_clients import authenticate_bearer
from tokenward.services.context import Principal, ServiceContext

__all__ = [
    "PrincipalCache",
    "account_header",
    "check_account_path",
    "check_url_text",
    "context",
    "fast_inputs",
    "lax_bool",
    "page_headers",
    "paging",
    "partner_principal",
    "principal",
    "run",
    "run_read",
]

P = ParamSpec("P")
R = TypeVar("R")


async def run(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a (blocking) service function off the event loop."""
    return await run_in_threadpool(func, *args, **kwargs)


async def run_read(request: Request, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a short read-only service function.

    On the embedded SQLite database a read is a ~20 µs call into a local file that never waits
    for writers (WAL), while handing it to a worker thread and back costs several times that;
    such reads run inline. On PostgreSQL a read is a network round trip and goes to a thread.
    """
    if request.app.state.inline_reads:
        return func(*args, **kwargs)
    return await run_in_threadpool(func, *args, **kwargs)


def context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


class PrincipalCache:
    """Verified bearer tokens for a few seconds, so that hot reads skip one database round trip.

    A revoked client's tokens stop working within ``ttl`` seconds in every process.
    """

    def __init__(self, ttl: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, token: str) -> Principal | None:
        hit = self._entries.get(token)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, token: str, principal: Principal) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[token] = (time.monotonic() + self.ttl, principal)

    def clear(self) -> None:
        self._entries.clear()


async def principal(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer`` only (never the query string, L-03)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Authorization has been denied for this request.", "missing_token")
    cache: PrincipalCache = request.app.state.principal_cache
    found = cache.get(token)
    if found is None:
        found = await run(authenticate_bearer, context(request), token)
        cache.put(token, found)
    check_url_text(request)  # after authentication: a caller without a token only learns 401
    return found


def fast_inputs(request: Request, **limits: int) -> tuple[str | None, dict[str, str]] | None:
    """For a fast handler (web.fast_routes): ``X-Cyclr-Account`` and the path parameters named
    in ``limits`` (name → max length), or None when any is over its declared length (the normal
    route then answers, with FastAPI's validation error)."""
    account = request.headers.get("x-cyclr-account")
    if account is not None and len(account) > 200:
        return None
    found = {name: request.path_params.get(name, "") for name in limits}
    if any(len(found[name]) > limit for name, limit in limits.items()):
        return None
    return account, found


async def account_header(
    x_cyclr_account: str | None = Header(
        None,
        alias="X-Cyclr-Account",
        max_length=200,
        description="the account's Id; required on account-level calls (missing → 401)",
    ),
) -> str | None:
    """``X-Cyclr-Account``; services resolve it (missing → 401, unknown → 404, other → 403)."""
    return x_cyclr_account


def _lax_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise InvalidRequest(f"'{value}' is not a boolean.", "invalid_query")


def _lax_int(name: str, value: str | None, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be a whole number.", "invalid_query") from None
    if not low <= number <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}.", "invalid_query")
    return number


def paging(
    page: str | None = Query(None, description="page number, from 1"),
    page_size: str | None = Query(None, alias="pageSize", description="items per page"),
    per_page: str | None = Query(None, description="alias of pageSize"),
    order_by: str | None = Query(None, alias="orderBy", max_length=100),
    sort_order_asc: str | None = Query(None, alias="sortOrderAsc"),
) -> PageRequest:
    return PageRequest(
        page=_lax_int("page", page, 1, 1, 1_000_000),
        page_size=_lax_int(
            "pageSize", page_size if page_size is not None else per_page, 50, 1, MAX_PAGE_SIZE
        ),
        order_by=order_by,
        ascending=_lax_bool(sort_order_asc, True),
    )


def lax_bool(value: str | None, default: bool) -> bool:
    return _lax_bool(value, default)


def page_headers(total: int, total_pages: int) -> dict[str, str]:
    return {"Total-Pages": str(total_pages), "Total-Records": str(total)}


def check_url_text(request: Request) -> None:
    """NUL or invalid Unicode in the path or query string is a 400: no column can store them."""
    query = request.scope.get("query_string", b"")
    if b"%" in query or b"\x00" in query:
        text = unquote(query.decode("latin-1"), errors="surrogateescape")
        if unstorable(text):
            raise _bad_url()
    if unstorable(request.scope["path"]):
        raise _bad_url()


def _bad_url() -> InvalidRequest:
    return InvalidRequest(
        "The URL contains characters that are not allowed (NUL or invalid Unicode).",
        "invalid_text",
    )


async def partner_principal(request: Request) -> Principal:
    """Partner-wide calls: a token restricted to one account may not make them (403)."""
    found = await principal(request)
    if found.account_id is not None:
        raise Forbidden(
            "This token is restricted to one account and cannot make partner-level calls.",
            "account_forbidden",
        )
    return found


def check_account_path(caller: Principal, account_id: str) -> None:
    """A restricted token reaches only its own account's ``/accounts/{id}`` resources."""
    if caller.account_id is not None and caller.account_id != account_id:
        raise Forbidden("This token is restricted to another account.", "account_forbidden")
