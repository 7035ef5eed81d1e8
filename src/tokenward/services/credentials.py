"""Credentials over time: a usable credential for every caller, refreshed exactly once.

DESIGN.md §8 and SECURITY.md §3.2. A caller asks for a credential (:func:`fresh_for_caller`);
most of the time the stored one is usable and the answer is one read (:func:`peek`). Otherwise
the credential is *renewed* (:func:`renew`): refreshed with its refresh token, or minted with
the client-credentials or password grant (``"{}"`` AuthValue, expired client-credential tokens).

Exactly one renewal per credential version runs at a time:

1. inside a process, concurrent callers share one flight (:class:`~.single_flight.Flights`);
2. across processes and hosts, the flight first takes the *lease* on the credential row — a
   guarded update that succeeds only while nobody else holds it — and writes an attempt id
   before anything is sent (:mod:`tokenward.services.refresh` does the exchange). The lease
   outlives the whole refresh deadline (:attr:`LifecyclePolicy.lease`). Callers elsewhere poll
   the row until its version changes, and keep using a still-valid token meanwhile.

The outcome is written with a compare-and-swap on the version (R-10, R-11), the new tokens are
committed before anyone uses them (R-07), and each state change emits one event. A credential
with a secondary token set (a hook's, :mod:`~tokenward.services.secondary_tokens`) is due when
either set is; each lease refreshes one set, so every version still comes from one refresh.

This module runs renewals (:func:`fresh_for_caller`, :func:`renew`, :func:`refresh_now`) and
re-exports the public names of its parts: :mod:`~tokenward.services.credential_views` (the read
path), :mod:`~tokenward.services.credential_leases` (the lease decision) and
:mod:`~tokenward.services.credential_writes` (new versions, failures, events).
"""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import replace

import anyio
import anyio.to_thread

from tokenward.errors import (
    ProviderUnavailable,
    StateConflict,
)
from tokenward.services.account_access import account_header_id, account_not_found
from tokenward.services.account_connector_views import (
    load_account_connector,
)
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.credential_leases import (
    Lease,
    Mode,
    _Refused,
    _take_in,
    _watch,
)
from tokenward.services.credential_views import (
    PRIMARY,
    SECONDARY,
    FreshCredential,
    Peeked,
    Renewal,
    _auth_type,
    blocked,
    fresh_view,
    open_secret,
    peek,
    peek_item,
    read_item,
)
from tokenward.services.credential_writes import (
    emit_transition,
    mark_failed,
    new_credential,
    new_secondary_credential,
    send_token_request,
    store_token_set,
)
from tokenward.services.read_ahead import read_step

__all__ = [
    "PRIMARY",
    "SECONDARY",
    "FreshCredential",
    "Lease",
    "Mode",
    "Peeked",
    "Renewal",
    "blocked",
    "emit_transition",
    "fresh_for_caller",
    "fresh_view",
    "mark_failed",
    "new_credential",
    "new_secondary_credential",
    "open_secret",
    "peek",
    "peek_item",
    "read_item",
    "refresh_now",
    "renew",
    "send_token_request",
    "store_token_set",
]


async def fresh_for_caller(
    ctx: ServiceContext,
    principal: Principal,
    header: str | None,
    ac_id: int,
    *,
    force: bool = False,
    stale_version: int | None = None,
    inline_read: bool = False,
    peeked: Peeked | None = None,
    token_set: str = PRIMARY,
) -> FreshCredential:
    """A usable credential of account connector ``ac_id`` for this caller.

    ``force`` with ``stale_version``: the token of that version was refused by the provider
    (401); it is refreshed unless a newer version already exists (P-04). ``inline_read``: run
    the first read on the event loop (the embedded SQLite database, where a read is cheaper
    than the hop to a worker thread; see ``web.deps.run_read``). ``peeked``: the first read was
    already made (:func:`peek_item`, in the caller's own read). ``token_set``: the set whose
    token was refused (``secondary``: the one a hook keeps), refreshed when ``force``.
    """
    if isinstance(peeked, StateConflict):
        raise peeked
    if peeked is not None:
        found = peeked
    else:
        found = await read_step(
            ctx,
            functools.partial(peek, ctx, principal, header, ac_id),
            inline=inline_read,
            account_header=header,
            ac_id=ac_id,
            properties=False,
        )
    if isinstance(found, FreshCredential):
        if not force or (stale_version is not None and found.version != stale_version):
            return found
        if found.auth_type != "OAuth2":
            return found
        found = await anyio.to_thread.run_sync(_renewal_of, ctx, header, ac_id, found.version)
    mode = Mode.FORCE if force else Mode.DEMAND
    return await renew(ctx, found, mode=mode, stale_version=stale_version, token_set=token_set)


def _renewal_of(ctx: ServiceContext, header: str | None, ac_id: int, version: int) -> Renewal:
    account_id = account_header_id(header)
    with ctx.db.read() as tx:
        account = tx.accounts.get(account_id)
    if account is None:
        raise account_not_found(account_id)
    return Renewal(account.id, account.pk, ac_id, version)


async def renew(
    ctx: ServiceContext,
    renewal: Renewal,
    *,
    mode: Mode,
    stale_version: int | None = None,
    token_set: str = PRIMARY,
) -> FreshCredential:
    """Renew one credential (single flight in the process, lease across processes);
    ``token_set``: the set a forced renewal refreshes."""
    from tokenward.services.refresh import exchange

    async def flight() -> FreshCredential:
        owner = uuid.uuid4().hex
        limit = time.monotonic() + ctx.lifecycle.lease.total_seconds() + 5
        pause = 0.02
        while True:
            step = await ctx.writes.run(
                functools.partial(
                    _take_in, ctx, renewal, mode, stale_version, owner, token_set=token_set
                )
            )
            if isinstance(step, FreshCredential):
                return step
            if isinstance(step, _Refused):
                raise step.error
            if isinstance(step, Lease):
                result = await exchange(ctx, step)
                if result is not None and not step.more:
                    return result
                continue  # superseded by a newer version, or the other set is due: look again
            # Someone else holds the lease: watch the row (reads only) until its version
            # changes or the lease ends, then decide again (double-checked, SECURITY.md §3.2).
            seen = step
            while True:
                if time.monotonic() > limit:
                    raise ProviderUnavailable(
                        "The credential is being refreshed elsewhere and did not finish in time.",
                        "refresh_in_progress",
                        retry_after=5,
                    )
                await anyio.sleep(pause)
                pause = min(pause * 2, 0.25)
                now_seen = await anyio.to_thread.run_sync(_watch, ctx, renewal)
                if now_seen != seen:
                    break

    result = await ctx.flights.run(renewal.account_connector_id, flight)
    if mode is Mode.FORCE and stale_version is not None and result.version == stale_version:
        # joined a flight that had no reason to refresh this version: run our own
        result = await ctx.flights.run(renewal.account_connector_id, flight)
    return result


async def refresh_now(
    ctx: ServiceContext, principal: Principal, header: str | None, ac_id: int
) -> None:
    """``POST …/refresh``: refresh now, forced but still single flight. Resets ``exhausted``
    and ``error_config`` when it succeeds (R-14); ``needs_reauth`` stays a 409. A credential
    with a secondary token set gets both refreshed, one lease each (the set its own)."""

    def locate() -> Renewal:
        with ctx.db.read() as tx:
            account, item = load_account_connector(tx, principal, header, ac_id)
            if _auth_type(ctx, tx, item) != "OAuth2":
                raise StateConflict(
                    "Only OAuth 2.0 credentials can be refreshed.", "not_refreshable"
                )
            version = item.credential.version if item.credential else 0
            return Renewal(account.id, account.pk, item.id, version)

    renewal = await anyio.to_thread.run_sync(locate)
    fresh = await renew(ctx, renewal, mode=Mode.FORCE)
    if fresh.secondary_token is not None:
        again = replace(renewal, version=fresh.version)
        await renew(ctx, again, mode=Mode.FORCE, stale_version=fresh.version, token_set=SECONDARY)
