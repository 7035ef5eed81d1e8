"""The provider's answer at ``/connector/callback`` (DESIGN.md §7; SECURITY.md §1.2).

In this order, and nothing is sent to any provider before the first three hold (C-10):

1. ``state`` present, once, and issued by us: its auth session is consumed by one conditional
   update (C-03). Otherwise a plain 400 page: nothing changed, no token request, nobody told
   (C-01, C-02).
2. The binding cookie is the one the flow set (F-02): otherwise 400 and the flow is failed.
3. The flow is younger than ten minutes (F-12): otherwise 400 and the partner's page is told
   ``expired``.
4. ``iss``: when the metadata advertised it, it must be present; when present and the connector
   declares an ``Issuer``, it must equal it exactly (C-04). The provider's ``error`` →
   ``access_denied`` or ``provider_error`` (C-07). Other parameters are ignored (C-08).
5. The code is exchanged at the token endpoint stored with the flow (C-06), with the identical
   redirect URI and the PKCE verifier (T-02); an unusable answer (T-03) or ``invalid_grant``
   (T-06) fails the flow, never retried. Tokens are stored as the credential's next version.

The answer is a 303 to the completion (C-09): the partner's URL in redirect mode, else
``/connector/complete?flow=…`` — neither carries ``code`` or ``state``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from tokenward.crypto.fields import auth_session_aad
from tokenward.crypto.hashing import hash_token, tokens_equal
from tokenward.domain.models import AuthSession
from tokenward.errors import (
    CredentialCorrupted,
    InvalidRequest,
    NotFound,
    OAuthError,
    ProtocolError,
    ServiceError,
    TransportError,
)
from tokenward.services.context import ServiceContext
from tokenward.services.credentials import store_token_set
from tokenward.services.property_rules import put_properties
from tokenward.services.webflow_completion import (
    FLOW_KIND,
    Code,
    Completion,
    CompletionPage,
    Result,
    completion_location,
    failure_reason,
    page_for,
)
from tokenward.services.webflow_exchange import Connected, connect_tokens

__all__ = ["CallbackOutcome", "handle_code_callback"]

log = logging.getLogger("tokenward.webflow")

_SINGLE = ("state", "code", "iss", "error")
_MAX_STATE = 512


@dataclass(frozen=True)
class CallbackOutcome:
    """A 303 to ``location``, or (an expired flow) the completion ``page`` itself with 400."""

    location: str | None = field(default=None, repr=False)
    page: CompletionPage | None = None


@dataclass(frozen=True)
class _Flow:
    session: AuthSession
    sealed: dict[str, Any] = field(repr=False)
    completion: Completion
    refused: Code | None = None  # failed the binding or the age check (already finished)

    @property
    def ac_id(self) -> int:
        return self.session.account_connector_id


def _unknown_state() -> InvalidRequest:
    return InvalidRequest(
        "This sign-in response is not valid here: it is unknown, was already used, or its "
        "link is incomplete.",
        "invalid_state",
    )


def _binding_refused() -> InvalidRequest:
    return InvalidRequest(
        "This sign-in response did not come back to the browser that started it. Start the "
        "connection again from the same browser.",
        "invalid_binding",
    )


def _params(query: Iterable[tuple[str, str]]) -> dict[str, str]:
    """First value of each parameter; a protocol parameter sent twice is refused (RFC 6749
    §3.1) before anything is looked up."""
    params: dict[str, str] = {}
    for name, value in query:
        if name in params and name in _SINGLE:
            raise _unknown_state()
        params.setdefault(name, value)
    return params


def _opened(ctx: ServiceContext, session: AuthSession) -> dict[str, Any] | None:
    try:
        doc = json.loads(ctx.sealer.open(session.sealed, auth_session_aad(session.state_hash)))
    except (CredentialCorrupted, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("kind") == FLOW_KIND else None


def _take(ctx: ServiceContext, state: str, binding: str | None) -> _Flow:
    """Consume the flow of ``state`` (raises for an unknown one, changing nothing); a flow that
    fails the binding or the age check is finished here, with its code in ``refused``."""
    state_hash = hash_token(state)
    now = ctx.clock.now()
    with ctx.db.write() as tx:
        session = tx.auth_sessions.consume(state_hash, now)
        if session is None:
            raise _unknown_state()
        sealed = _opened(ctx, session)
        if sealed is None:
            raise _unknown_state()  # rolls the consumption back: not a flow of ours
        refused = None
        if binding is None or not tokens_equal(session.binding_hash, binding):
            refused = Code.INVALID_CALLBACK
        elif session.expires_utc <= now:
            refused = Code.EXPIRED
        if refused is not None:
            tx.auth_sessions.finish(state_hash, refused.value)
    completion, _ = Completion.from_json(session.completion)
    return _Flow(session, sealed, completion, refused)


async def handle_code_callback(
    ctx: ServiceContext, query: Iterable[tuple[str, str]], binding_cookie: str | None
) -> CallbackOutcome:
    """Handle one authorization-code callback; raises ``InvalidRequest`` for the plain 400
    pages."""
    params = _params(query)
    state = params.get("state")
    if not state or len(state) > _MAX_STATE:
        raise _unknown_state()
    taken = await anyio.to_thread.run_sync(_take, ctx, state, binding_cookie)
    if taken.refused is Code.INVALID_CALLBACK:
        raise _binding_refused()
    if taken.refused is Code.EXPIRED:  # F-12: 400, and the partner's page is told
        return CallbackOutcome(page=page_for(taken.completion, Result(taken.ac_id, "expired"), 400))
    refused = _check_response(taken, params)
    if refused is not None:
        return await _finish(ctx, taken, refused)
    try:
        connected = await connect_tokens(ctx, taken.session, taken.sealed, params)
    except (ProtocolError, ServiceError) as exc:
        code = Code.PROVIDER_ERROR if isinstance(exc, OAuthError | TransportError) else None
        log.warning(
            "webflow_exchange_failed",
            extra={"reason": failure_reason(exc), "ac": taken.ac_id},
        )
        return await _finish(ctx, taken, code or Code.SERVER_ERROR)
    try:
        location = await anyio.to_thread.run_sync(_store, ctx, taken, connected)
    except ServiceError as exc:
        log.warning(
            "webflow_store_failed", extra={"reason": failure_reason(exc), "ac": taken.ac_id}
        )
        return await _finish(ctx, taken, Code.SERVER_ERROR)
    return CallbackOutcome(location=location)


def _check_response(flow: _Flow, params: dict[str, str]) -> Code | None:
    """C-04 (issuer), C-07 (provider error) and a missing code; None when the code may be
    exchanged."""
    issuer = flow.sealed.get("issuer")
    iss = params.get("iss")
    if iss is None and flow.sealed.get("iss_required"):
        return Code.INVALID_CALLBACK
    if iss is not None and issuer and iss != issuer:
        return Code.INVALID_CALLBACK
    error = params.get("error")
    if error is not None:
        return Code.ACCESS_DENIED if error == "access_denied" else Code.PROVIDER_ERROR
    # CodeParam: the provider's name for the code; a hook acting on callbacks may need none
    if not params.get(str(flow.sealed.get("code_param") or "code")) and not flow.sealed.get(
        "code_optional"
    ):
        return Code.INVALID_CALLBACK
    return None


def _store(ctx: ServiceContext, flow: _Flow, connected: Connected) -> str:
    session = flow.session
    with ctx.db.write() as tx:
        item = tx.account_connectors.get(session.account_pk, session.account_connector_id)
        account = tx.accounts.get_by_pk(session.account_pk)
        if item is None or account is None:
            raise NotFound("The account connector was deleted during the sign-in.")
        # kept metadata first: the credential is only usable with the properties it came with
        put_properties(ctx, tx, item.id, item.properties, connected.properties)
        store_token_set(
            ctx,
            tx,
            item,
            account.id,
            connected.tokens,
            actor=f"user:{session.username}",
            auth=connected.setup.auth,
        )
        tx.auth_sessions.finish(session.state_hash, "success")
        return completion_location(
            ctx,
            tx,
            flow.completion,
            Result(item.id),
            account_pk=session.account_pk,
            username=session.username,
            now=ctx.clock.now(),
        )


async def _finish(ctx: ServiceContext, flow: _Flow, code: Code) -> CallbackOutcome:
    session = flow.session

    def write() -> str:
        with ctx.db.write() as tx:
            tx.auth_sessions.finish(session.state_hash, code.value)
            return completion_location(
                ctx,
                tx,
                flow.completion,
                Result(flow.ac_id, code.value),
                account_pk=session.account_pk,
                username=session.username,
                now=ctx.clock.now(),
            )

    return CallbackOutcome(location=await anyio.to_thread.run_sync(write))
