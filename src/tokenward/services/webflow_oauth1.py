"""OAuth 1.0a (RFC 5849, three-legged) through the browser webflow (DESIGN.md §7; SECURITY.md
O-03, O-04, O-06).

Start (after the checks and the sign-in token, as for OAuth 2): the temporary credentials are
requested server-side with ``oauth_callback`` = ``{SERVICE_URL}/connector/callback`` (the one
redirect URI); an answer without ``oauth_callback_confirmed=true`` aborts the flow (O-03). A new
auth session is keyed by a domain-separated SHA-256 of the temporary token (an ``oauth_token`` can
never be taken for a ``state``, nor the reverse), bound to the browser by the same cookie as an
OAuth 2 flow (its hash stored), with the temporary token, its secret, the token endpoint and the
consumer key sealed in it. Then a 303 to ``AuthorizeUrl?oauth_token=…``.

Callback (``oauth_token`` and no ``state``): the session of that token is consumed by one
conditional update — so the token must be the one issued for a flow of ours, and only once —
and the binding cookie must be this browser's (O-04); otherwise a plain 400 page and nothing
changes. A flow older than ten minutes, or a callback without ``oauth_verifier``, is failed
(400, the partner's page told). Then the token request, signed with the temporary credentials
and the verifier; the token credentials are sealed as the credential's next version (O-06) and
the flow completes as any other.
"""

from __future__ import annotations

import hashlib
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
    Failure,
    InvalidRequest,
    NotFound,
    OAuthConfigError,
    OAuthError,
    ProtocolError,
    ServiceError,
    TransportError,
)
from tokenward.oauth.oauth1_requests import (
    Credentials,
    authorize_url,
    parse_credentials,
    temporary_credentials_request,
    token_request,
)
from tokenward.oauth.requests import HttpRequest
from tokenward.services.context import ServiceContext
from tokenward.services.oauth1_credentials import consumer_of, store_oauth1_credentials
from tokenward.services.ports import Tx
from tokenward.services.provider_setup import ProviderSetup, load_setup
from tokenward.services.webflow_callback import CallbackOutcome
from tokenward.services.webflow_checks import Checked
from tokenward.services.webflow_code import FlowStart, new_binding, save_session, valid_binding
from tokenward.services.webflow_completion import (
    Code,
    Completion,
    Result,
    completion_location,
    failure_reason,
    page_for,
)

__all__ = [
    "OAUTH1_KIND",
    "handle_oauth1_callback",
    "is_oauth1_callback",
    "session_key",
    "start_oauth1_flow",
]

log = logging.getLogger("tokenward.webflow")

OAUTH1_KIND = "oauth1"
_MAX_TOKEN = 512
_SINGLE = ("oauth_token", "oauth_verifier")


def session_key(token: str) -> str:
    """The auth session key of a temporary token: domain-separated from ``state`` hashes."""
    return hashlib.sha256(f"{OAUTH1_KIND}:{token}".encode()).hexdigest()


async def _send(ctx: ServiceContext, request: HttpRequest, *, temporary: bool) -> Credentials:
    response = await ctx.transport.send(
        request, timeout=ctx.lifecycle.provider_timeout, fresh_connection=True
    )
    return parse_credentials(response.status, response.body, temporary=temporary)


async def start_oauth1_flow(
    ctx: ServiceContext, checked: Checked, binding_cookie: str | None
) -> FlowStart:
    """Temporary credentials (O-03), a new bound session, and the browser to ``AuthorizeUrl``.
    Raises ``ProtocolError`` when the provider's answer is unusable (the caller completes the
    flow with ``provider_error``)."""
    setup = checked.setup
    auth = setup.oauth1
    consumer = consumer_of(setup)
    request = temporary_credentials_request(
        auth.RequestTokenUrl, consumer, callback=ctx.redirect_uri
    )
    temporary = await _send(ctx, request, temporary=True)
    if len(temporary.token) > _MAX_TOKEN:
        raise OAuthError(
            "invalid_response", "the temporary token is too long", failure=Failure.INVALID_RESPONSE
        )
    binding = binding_cookie if valid_binding(binding_cookie) else new_binding()
    assert binding is not None
    sealed = {
        "kind": OAUTH1_KIND,
        "token": temporary.token,
        "token_secret": temporary.secret,
        "token_endpoint": auth.AccessTokenUrl,
        "consumer_key": consumer.key,
    }
    key = session_key(temporary.token)
    await anyio.to_thread.run_sync(save_session, ctx, checked, key, binding, sealed)
    return FlowStart(authorize_url(auth.AuthorizeUrl, temporary.token), binding)


# -- the callback --------------------------------------------------------------------------------


def is_oauth1_callback(query: Iterable[tuple[str, str]]) -> bool:
    """An OAuth 1.0a callback carries ``oauth_token`` and no ``state``."""
    names = {name for name, _ in query}
    return "oauth_token" in names and "state" not in names


def _unknown_token() -> InvalidRequest:
    return InvalidRequest(
        "This sign-in response is not valid here: its oauth_token is unknown, was already "
        "used, or its link is incomplete.",
        "invalid_oauth_token",
    )


def _binding_refused() -> InvalidRequest:
    return InvalidRequest(
        "This sign-in response did not come back to the browser that started it. Start the "
        "connection again from the same browser.",
        "invalid_binding",
    )


@dataclass(frozen=True)
class _Flow:
    session: AuthSession
    sealed: dict[str, Any] = field(repr=False)
    completion: Completion
    refused: Code | None = None  # failed a check (already finished with this code)
    unbound: bool = False  # the failed check was the binding cookie: a plain 400 page

    @property
    def ac_id(self) -> int:
        return self.session.account_connector_id


def _params(query: Iterable[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in query:
        if name in params and name in _SINGLE:
            raise _unknown_token()  # a protocol parameter sent twice: refused, nothing looked up
        params.setdefault(name, value)
    return params


def _opened(ctx: ServiceContext, session: AuthSession, token: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(ctx.sealer.open(session.sealed, auth_session_aad(session.state_hash)))
    except (CredentialCorrupted, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("kind") != OAUTH1_KIND:
        return None
    stored = doc.get("token")
    # the key already matched; comparing the sealed token too costs nothing (O-04)
    if not isinstance(stored, str) or not tokens_equal(hash_token(stored), token):
        return None
    return doc


def _take(ctx: ServiceContext, token: str, binding: str | None, has_verifier: bool) -> _Flow:
    """Consume the session of ``token`` (raises for an unknown one, changing nothing); a flow
    that fails the binding, the age or the verifier check is finished here (``refused``)."""
    key = session_key(token)
    now = ctx.clock.now()
    with ctx.db.write() as tx:
        session = tx.auth_sessions.consume(key, now)
        if session is None:
            raise _unknown_token()
        sealed = _opened(ctx, session, token)
        if sealed is None:
            raise _unknown_token()  # rolls the consumption back: not a flow of ours
        unbound = binding is None or not tokens_equal(session.binding_hash, binding)
        refused = None
        if unbound or not has_verifier:
            refused = Code.INVALID_CALLBACK
        elif session.expires_utc <= now:
            refused = Code.EXPIRED
        if refused is not None:
            tx.auth_sessions.finish(key, refused.value)
    completion, _ = Completion.from_json(session.completion)
    return _Flow(session, sealed, completion, refused, unbound)


async def handle_oauth1_callback(
    ctx: ServiceContext, query: Iterable[tuple[str, str]], binding_cookie: str | None
) -> CallbackOutcome:
    """Handle one OAuth 1.0a callback; raises ``InvalidRequest`` for the plain 400 pages."""
    params = _params(query)
    token = params.get("oauth_token")
    if not token or len(token) > _MAX_TOKEN:
        raise _unknown_token()
    verifier = params.get("oauth_verifier")
    has_verifier = bool(verifier) and len(verifier or "") <= _MAX_TOKEN
    flow = await anyio.to_thread.run_sync(_take, ctx, token, binding_cookie, has_verifier)
    if flow.unbound:
        raise _binding_refused()
    if flow.refused is not None:  # no verifier, or expired: 400 and the partner's page is told
        result = Result(flow.ac_id, flow.refused.value)
        return CallbackOutcome(page=page_for(flow.completion, result, 400))
    assert verifier is not None
    try:
        credentials = await _exchange(ctx, flow, verifier)
    except (ProtocolError, ServiceError) as exc:
        code = Code.PROVIDER_ERROR if isinstance(exc, OAuthError | TransportError) else None
        log.warning(
            "webflow_exchange_failed", extra={"reason": failure_reason(exc), "ac": flow.ac_id}
        )
        return await _end(ctx, flow, code or Code.SERVER_ERROR)
    try:
        location = await anyio.to_thread.run_sync(_store, ctx, flow, credentials)
    except ServiceError as exc:
        log.warning("webflow_store_failed", extra={"reason": failure_reason(exc), "ac": flow.ac_id})
        return await _end(ctx, flow, Code.SERVER_ERROR)
    return CallbackOutcome(location=location)


async def _exchange(ctx: ServiceContext, flow: _Flow, verifier: str) -> Credentials:
    """The token request at the endpoint stored with the flow, signed with the consumer (its
    secret read now: it is never in a flow), the temporary credentials and the verifier."""
    session, sealed = flow.session, flow.sealed

    def setup() -> ProviderSetup:
        with ctx.db.read() as tx:
            item = tx.account_connectors.get(session.account_pk, session.account_connector_id)
            if item is None:
                raise NotFound("The account connector was deleted during the sign-in.")
            return load_setup(ctx, tx, item)

    consumer = consumer_of(await anyio.to_thread.run_sync(setup))
    if consumer.key != sealed["consumer_key"]:
        raise OAuthConfigError("the consumer key changed during the sign-in")
    temporary = Credentials(str(sealed["token"]), str(sealed["token_secret"]))
    request = token_request(str(sealed["token_endpoint"]), consumer, temporary, verifier=verifier)
    return await _send(ctx, request, temporary=False)


def _store(ctx: ServiceContext, flow: _Flow, credentials: Credentials) -> str:
    session = flow.session
    with ctx.db.write() as tx:
        item = tx.account_connectors.get(session.account_pk, session.account_connector_id)
        account = tx.accounts.get_by_pk(session.account_pk)
        if item is None or account is None:
            raise NotFound("The account connector was deleted during the sign-in.")
        actor = f"user:{session.username}"
        store_oauth1_credentials(ctx, tx, item, account.id, credentials, actor=actor)
        tx.auth_sessions.finish(session.state_hash, "success")
        return _location(ctx, tx, flow, Result(item.id))


def _location(ctx: ServiceContext, tx: Tx, flow: _Flow, result: Result) -> str:
    session = flow.session
    return completion_location(
        ctx,
        tx,
        flow.completion,
        result,
        account_pk=session.account_pk,
        username=session.username,
        now=ctx.clock.now(),
    )


async def _end(ctx: ServiceContext, flow: _Flow, code: Code) -> CallbackOutcome:
    def write() -> str:
        with ctx.db.write() as tx:
            tx.auth_sessions.finish(flow.session.state_hash, code.value)
            return _location(ctx, tx, flow, Result(flow.ac_id, code.value))

    return CallbackOutcome(location=await anyio.to_thread.run_sync(write))
