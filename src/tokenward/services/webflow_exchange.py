"""Step 5 of a callback: from the provider's answer to tokens and kept properties.

The connector's knobs and hook decide how (QUIRKS.md, docs/connector-knobs.md):

* the code is read from the query parameter ``CodeParam`` names (``code`` by default) and
  exchanged at the token endpoint stored with the flow (C-06, T-02);
* ``CallbackMetadata`` callback values and ``TokenMetadata`` token-response members become
  account connector properties;
* the connector's hook (docs/connector-hooks.md) runs ``on_callback`` (it may switch the grant
  to client credentials, e.g. for an admin-consent answer that carries no code),
  ``after_token_response`` (it may reshape the response and keep a secondary token set, see
  :mod:`~tokenward.services.secondary_tokens`) and ``after_connect`` (it may call the provider
  and keep values).

Every kept value is validated as a property write is — declared parameter, ``Pattern`` — before
anything is stored, and URLs are refilled from it with their merge fields checked again (P-01).
A value that fails, or a hook that gives up, fails the connect as ``provider_error``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from tokenward.catalog.hook_api import HookCall, HookFailed
from tokenward.catalog.schema import OAuth2Auth
from tokenward.domain.models import AuthSession
from tokenward.errors import Failure, NotFound, OAuthError, ServiceError
from tokenward.oauth.requests import (
    token_request_authorization_code,
    token_request_client_credentials,
)
from tokenward.oauth.responses import TokenSet
from tokenward.services.context import ServiceContext
from tokenward.services.credentials import send_token_request
from tokenward.services.property_rules import PropertyInput, ResolvedProperty, validate_properties
from tokenward.services.provider_setup import ProviderSetup, load_setup, with_values
from tokenward.services.secondary_tokens import hook_fetch, hook_of, with_secondary_set

__all__ = ["Connected", "code_optional", "connect_tokens"]


@dataclass(frozen=True)
class Connected:
    """The tokens of a connect, the setup they were obtained with, the properties to keep."""

    tokens: TokenSet
    setup: ProviderSetup
    properties: list[ResolvedProperty]


def code_optional(auth: OAuth2Auth) -> bool:
    """Whether a callback without a code may still succeed (the hook acts on callbacks)."""
    return hook_of(auth).on_callback is not None


def _refused(description: str) -> OAuthError:
    return OAuthError("invalid_response", description, failure=Failure.INVALID_RESPONSE)


def _load(ctx: ServiceContext, session: AuthSession) -> ProviderSetup:
    with ctx.db.read() as tx:
        item = tx.account_connectors.get(session.account_pk, session.account_connector_id)
        if item is None:
            raise NotFound("The account connector was deleted during the sign-in.")
        return load_setup(ctx, tx, item)


def _kept(setup: ProviderSetup, values: Mapping[str, str]) -> list[ResolvedProperty]:
    """Validate kept values as property writes (declared, matching their Pattern)."""
    inputs = tuple(PropertyInput(name, value) for name, value in values.items())
    try:
        return validate_properties(setup.connector, inputs)
    except ServiceError as exc:
        raise _refused(f"a value kept from the provider was refused: {exc.code}") from None


def _refilled(setup: ProviderSetup, values: Mapping[str, str]) -> ProviderSetup:
    try:
        return with_values(setup, values)
    except ServiceError as exc:
        raise _refused(f"a value kept from the provider was refused: {exc.code}") from None


async def _run(step: Any, call: HookCall) -> None:
    if step is not None:
        try:
            await step(call)
        except HookFailed as exc:
            raise _refused(f"hook: {exc}") from None


async def connect_tokens(
    ctx: ServiceContext, session: AuthSession, sealed: Mapping[str, Any], params: dict[str, str]
) -> Connected:
    """Tokens for this callback, or raise (``OAuthError``/``TransportError``: provider_error)."""
    setup = await anyio.to_thread.run_sync(_load, ctx, session)
    auth = setup.oauth2
    hook = hook_of(auth)
    kept = {name: params[name] for name in auth.CallbackMetadata if params.get(name)}
    call = HookCall(
        "on_callback",
        auth.HookSettings,
        auth,
        setup.base_url,
        setup.values,
        hook_fetch(ctx),
        params,
    )
    await _run(hook.on_callback, call)
    kept.update(call.properties)
    current = _refilled(setup, kept)
    tokens = await _tokens(ctx, current, sealed, params, call.grant)
    kept.update(tokens.metadata)
    call.point, call.token = "after_token_response", dict(tokens.raw)
    call.access_token = tokens.access_token
    await _run(hook.after_token_response, call)
    tokens = dataclasses.replace(tokens, raw=call.token or tokens.raw)
    tokens = with_secondary_set(tokens, call.secondary, auth, ctx.clock.now())
    current = _refilled(setup, kept)
    call.point, call.base_url, call.values = "after_connect", current.base_url, current.values
    await _run(hook.after_connect, call)
    kept.update(call.properties)
    current = _refilled(setup, kept)
    return Connected(tokens, current, _kept(setup, kept))


async def _tokens(
    ctx: ServiceContext,
    setup: ProviderSetup,
    sealed: Mapping[str, Any],
    params: Mapping[str, str],
    grant: str | None,
) -> TokenSet:
    """The code exchange at the stored token endpoint (C-06) with the stored redirect URI,
    client id and verifier (T-02) — or, when the hook chose it, the client credentials grant
    (the credential then remembers it renews that way)."""
    auth = setup.oauth2
    if grant == "client_credentials":
        request = token_request_client_credentials(
            auth,
            client_id=str(sealed["client_id"]),
            client_secret=setup.client_secret,
            scopes=setup.scopes,
        )
        minted = await send_token_request(ctx, request, auth)
        return dataclasses.replace(minted, grant=grant)
    code = params.get(auth.CodeParam)
    if not code:
        raise _refused("the callback carries no code")
    verifier = sealed.get("verifier")
    auth = auth.model_copy(
        update={"AccessTokenUrl": sealed["token_endpoint"], "Pkce": "S256" if verifier else "none"}
    )
    request = token_request_authorization_code(
        auth,
        client_id=str(sealed["client_id"]),
        client_secret=setup.client_secret,
        code=code,
        redirect_uri=str(sealed["redirect_uri"]),
        code_verifier=verifier,
    )
    return await send_token_request(ctx, request, auth)
