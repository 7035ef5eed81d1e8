"""The browser webflow (DESIGN.md §7): ``/connectorauth/updateaccountconnectoroauth`` starts it,
``/connector/callback`` receives the provider's answer (:mod:`.webflow_callback`), and
:mod:`.webflow_completion` tells the partner's page.

Starting a flow, in this order:

1. **Checks that change nothing**: the sign-in token exists, is unexpired and unused (else 403);
   the account connector belongs to the token's account (else 404); ``targetOrigin`` is allowed
   (else 400, W-01, W-02); every required property is set (else 400 naming them). A failed check
   leaves the token unused.
2. **The token is consumed** by one conditional update, in the same transaction as the checks:
   of any number of concurrent uses exactly one succeeds (K-02); the others get the 403 page.
3. **The flow starts** for the connector's grant. Authorization code: a new auth session keyed by
   the SHA-256 of a 256-bit ``state`` (F-01, F-03), bound to the browser by a cookie whose hash
   it stores (F-02), with the PKCE S256 verifier (F-04, F-05), the token endpoint, the expected
   issuer, the redirect URI and the client id sealed in it (C-06); RFC 8414 metadata when the
   connector declares an ``Issuer`` (F-10, F-11) and PAR when the metadata requires it (F-09);
   then a 303 to the provider. OAuth 1.0a: temporary credentials first, then a 303 to the
   provider (:mod:`.webflow_oauth1`). Client credentials and password: the token request is made
   here and the flow completes at once. From step 2 on every outcome reaches the partner's page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import anyio.to_thread

from tokenward.errors import (
    NotFound,
    OAuthConfigError,
    OAuthError,
    ProtocolError,
    ServiceError,
    TransportError,
)
from tokenward.oauth.requests import token_request_client_credentials, token_request_password
from tokenward.services.context import ServiceContext
from tokenward.services.credentials import send_token_request, store_token_set
from tokenward.services.provider_setup import ProviderSetup
from tokenward.services.webflow_callback import CallbackOutcome, handle_code_callback
from tokenward.services.webflow_checks import Checked, allowed_origins, check_and_consume
from tokenward.services.webflow_code import FlowStart, start_code_flow
from tokenward.services.webflow_completion import (
    Code,
    Result,
    completion_location,
    failure_reason,
)
from tokenward.services.webflow_oauth1 import (
    handle_oauth1_callback,
    is_oauth1_callback,
    start_oauth1_flow,
)
from tokenward.services.webflow_params import FlowParams, parse_flow_params

__all__ = [
    "CallbackOutcome",
    "FlowParams",
    "FlowStart",
    "allowed_origins",
    "handle_callback",
    "parse_flow_params",
    "start_flow",
]

log = logging.getLogger("tokenward.webflow")


async def start_flow(
    ctx: ServiceContext,
    params: FlowParams,
    binding_cookie: str | None = None,
    extra_origins: frozenset[str] = frozenset(),
) -> FlowStart:
    """Start a webflow; raises ``Forbidden``/``NotFound``/``InvalidRequest`` for the 403, 404
    and 400 pages (nothing changed). ``binding_cookie`` is the browser's current binding
    cookie: a well-formed one is reused, so flows started in several tabs all stay bound.
    ``extra_origins``: targets allowed besides the partner's (the connect page's own origin)."""
    checked = await anyio.to_thread.run_sync(check_and_consume, ctx, params, extra_origins)
    try:
        if checked.setup.auth_type == "OAuth1":
            return await start_oauth1_flow(ctx, checked, binding_cookie)
        if checked.setup.oauth2.OAuth2Type == "AuthorisationCode":
            return await start_code_flow(ctx, checked, binding_cookie)
        return FlowStart(await _mint(ctx, checked))
    except (ProtocolError, ServiceError) as exc:
        code = _failure_code(exc)
        log.warning(
            "webflow_start_failed",
            extra={"code": code.value, "reason": failure_reason(exc), "ac": checked.item.id},
        )
        result = Result(checked.item.id, code.value)
        location = await anyio.to_thread.run_sync(_finish, ctx, checked, result)
        return FlowStart(location)


async def handle_callback(
    ctx: ServiceContext, query: Iterable[tuple[str, str]], binding_cookie: str | None
) -> CallbackOutcome:
    """The provider's answer at ``/connector/callback``: OAuth 1.0a when it carries
    ``oauth_token`` and no ``state`` (:mod:`.webflow_oauth1`), else an authorization-code
    callback (:mod:`.webflow_callback`). Raises ``InvalidRequest`` for the plain 400 pages."""
    pairs = list(query)
    if is_oauth1_callback(pairs):
        return await handle_oauth1_callback(ctx, pairs, binding_cookie)
    return await handle_code_callback(ctx, pairs, binding_cookie)


def _failure_code(exc: Exception) -> Code:
    if isinstance(exc, OAuthError | TransportError):
        return Code.PROVIDER_ERROR
    return Code.SERVER_ERROR


def _finish(ctx: ServiceContext, checked: Checked, result: Result) -> str:
    with ctx.db.write() as tx:
        return completion_location(
            ctx,
            tx,
            checked.completion,
            result,
            account_pk=checked.account.pk,
            username=checked.username,
            now=ctx.clock.now(),
        )


def _property(setup: ProviderSetup, name: str) -> str:
    lowered = name.lower()
    value = next((v for k, v in setup.values.items() if k.lower() == lowered and v), None)
    if value is None:  # checked in step 1; the property was removed meanwhile
        raise OAuthConfigError(f"the account connector property {name} is not set")
    return value


async def _mint(ctx: ServiceContext, checked: Checked) -> str:
    """Client credentials or password: the token request is made server-side, then completion."""
    setup = checked.setup
    auth = setup.oauth2
    assert setup.client_id is not None
    if auth.OAuth2Type == "ClientCredentials":
        request = token_request_client_credentials(
            auth, client_id=setup.client_id, client_secret=setup.client_secret, scopes=setup.scopes
        )
    else:
        request = token_request_password(
            auth,
            client_id=setup.client_id,
            client_secret=setup.client_secret,
            username=_property(setup, "Username"),
            password=_property(setup, "Password"),
            scopes=setup.scopes,
        )
    tokens = await send_token_request(ctx, request, auth)

    def store() -> str:
        with ctx.db.write() as tx:
            item = tx.account_connectors.get(checked.account.pk, checked.item.id)
            if item is None:
                raise NotFound("The account connector was deleted during the sign-in.")
            store_token_set(
                ctx, tx, item, checked.account.id, tokens, actor=f"user:{checked.username}"
            )
            return completion_location(
                ctx,
                tx,
                checked.completion,
                Result(item.id),
                account_pk=checked.account.pk,
                username=checked.username,
                now=ctx.clock.now(),
            )

    return await anyio.to_thread.run_sync(store)
