"""Method calls (``/v1.0/account/connectors/{id}/methods/{method}``) and token reads
(``…/{id}/token``) for the partner.

A method call resolves the account connector and its method, builds the request from the
definition (:mod:`~tokenward.services.method_requests`) — every input error is a 400 before any
credential is touched — then sends it with a fresh credential under the rules of
:mod:`~tokenward.services.upstream`. The provider's answer is returned as it is; the route marks
it ``X-Tokenward-Upstream: 1`` so that a provider's 401 is never taken for tokenward's own.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tokenward.errors import NotFound, StateConflict
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.credentials import FreshCredential, fresh_for_caller
from tokenward.services.method_requests import build_request, parse_input
from tokenward.services.ports.system import AuditEntry
from tokenward.services.read_ahead import read_step
from tokenward.services.upstream import (
    IDEMPOTENT_METHODS,
    Outbound,
    Target,
    UpstreamResponse,
    resolve_target,
    send,
)

__all__ = ["UpstreamResponse", "call_method", "read_token"]


def _prepare(
    ctx: ServiceContext,
    principal: Principal,
    account_header: str | None,
    ac_id: int,
    method_ref: str,
    body: Any,
    query: Mapping[str, str] | None,
) -> tuple[Target, Outbound, str, int, str]:
    # one statement (read_item); what may follow (a changed catalog, an OAuth 1.0a consumer)
    # is independent of it, so the read needs no snapshot
    with ctx.db.read(snapshot=False) as tx:
        target, setup = resolve_target(ctx, tx, principal, account_header, ac_id)
    method = setup.connector.method(method_ref.strip())
    if method is None:
        raise NotFound(
            f"Method '{method_ref.strip()[:100]}' is not a method of this connector.",
            "method_not_found",
        )
    call = parse_input(body, query)
    outbound = build_request(
        setup.connector, method, base_url=setup.base_url, properties=setup.values, call=call
    )
    return target, outbound, method.HttpMethod, method.Id, method.TokenSet


async def call_method(
    ctx: ServiceContext,
    principal: Principal,
    account_header: str | None,
    ac_id: int,
    method_ref: str,
    body: Any,
    *,
    query: Mapping[str, str] | None = None,
    idempotency_key: str | None = None,
    inline_read: bool = False,
) -> UpstreamResponse:
    """Call method ``method_ref`` (Id or MethodUniqueIdentifier) of account connector ``ac_id``
    with ``body`` (``{"Parameters", "Fields"}``; ``query`` adds Parameters, for GET calls).
    An ``idempotency_key`` allows the one transient retry of a non-idempotent method (P-05) and
    is passed on to the provider. ``inline_read``: prepare the call (one read, no write) on the
    event loop, as :func:`~tokenward.services.credentials.fresh_for_caller` does."""
    prepared = await read_step(
        ctx,
        functools.partial(_prepare, ctx, principal, account_header, ac_id, method_ref, body, query),
        inline=inline_read,
        account_header=account_header,
        ac_id=ac_id,
        properties=True,
    )
    target, outbound, verb, method_id, token_set = prepared
    if idempotency_key:  # the provider may honour it too, which makes the retry safe there
        outbound = replace(
            outbound, headers={**outbound.headers, "Idempotency-Key": idempotency_key}
        )
    return await send(
        ctx,
        target,
        outbound,
        retry_transient=verb in IDEMPOTENT_METHODS or bool(idempotency_key),
        action="method.call",
        detail=f"method={method_id}",
        token_set=token_set,
    )


async def read_token(
    ctx: ServiceContext,
    principal: Principal,
    account_header: str | None,
    ac_id: int,
    *,
    inline_read: bool = False,
) -> FreshCredential:
    """A usable credential for the partner's own calls (refreshed if needed); each read is
    audited in the batched trail. No write on the path of a valid token."""
    credential = await fresh_for_caller(
        ctx, principal, account_header, ac_id, inline_read=inline_read
    )
    if credential.auth_type in {"None", "OAuth1"}:
        raise StateConflict(
            "This connector has no access token to hand out "
            f"(authentication type {credential.auth_type}).",
            "not_supported",
        )
    ctx.audit.enqueue(
        AuditEntry(
            ctx.clock.now(),
            principal.actor,
            "credential.token_read",
            (account_header or "").strip(),
            ac_id,
        )
    )
    return credential
