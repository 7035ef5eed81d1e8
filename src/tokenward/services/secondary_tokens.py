"""The secondary token set: a second token set of one grant, kept beside the credential's own.

Some providers answer a code exchange with two token sets — one at the top level, one nested
(an app's token and its user's) — each with its own refresh token and expiry. The connector's
hook (docs/connector-hooks.md, ``rotating_bot_and_user_tokens``) picks the nested set out at
``after_token_response`` (``HookCall.secondary``); it is sealed with the rest of the credential
(``Secondary`` in :mod:`~tokenward.services.credential_documents`). When it is due the lease
owner refreshes it alone (:func:`refresh_secondary`): the hook's ``on_refresh`` sends a refresh
grant with the set's own refresh token through :func:`bound_refresh`, and the answer replaces
the secondary set only — the top-level set is refreshed by its own lease, never by this one.

Both sets are read with the connector's response knobs, except those that locate a set inside
a response (``AccessTokenPath``, ``TokenMetadata``, ``RefreshExpiresInField``): the hook has
already taken the set out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from tokenward.catalog.hook_api import Fetch, Hook, HookCall, HookFailed, RefreshGrant
from tokenward.catalog.hooks import get_hook
from tokenward.catalog.schema import OAuth2Auth
from tokenward.errors import Failure, OAuthError
from tokenward.oauth.requests import HttpRequest, token_request_refresh
from tokenward.oauth.response_rules import rules_for
from tokenward.oauth.responses import TokenSet, token_set_from
from tokenward.services.context import ServiceContext
from tokenward.services.credential_documents import TokenDocument
from tokenward.services.credentials import send_token_request
from tokenward.services.provider_setup import ProviderSetup

__all__ = ["bound_refresh", "hook_fetch", "hook_of", "refresh_secondary", "with_secondary_set"]


def hook_of(auth: OAuth2Auth) -> Hook:
    """The connector's hook (an empty one when it names none)."""
    return get_hook(auth.Hook) if auth.Hook else Hook()


def hook_fetch(ctx: ServiceContext) -> Fetch:
    """``call.fetch`` for hooks: one request through the service's transport."""

    async def fetch(
        method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, bytes]:
        request = HttpRequest(method, url, MappingProxyType(dict(headers)), body)
        response = await ctx.transport.send(request, timeout=ctx.lifecycle.provider_timeout)
        return response.status, response.body

    return fetch


def _set_auth(auth: OAuth2Auth) -> OAuth2Auth:
    """The entry as a lone token set is read: the knobs that locate a set in a response off."""
    return auth.model_copy(
        update={"AccessTokenPath": None, "TokenMetadata": [], "RefreshExpiresInField": None}
    )


def _parsed(
    members: dict[str, Any], auth: OAuth2Auth, now: datetime, previous: str | None
) -> TokenSet:
    return token_set_from(
        members, now=now, rules=rules_for(_set_auth(auth)), previous_refresh_token=previous
    )


def with_secondary_set(
    tokens: TokenSet, members: dict[str, Any] | None, auth: OAuth2Auth, now: datetime
) -> TokenSet:
    """``tokens`` with the secondary set a hook took out of the response (checked as a token
    response is; ``OAuthError`` ``invalid_response`` otherwise), or as they are."""
    if members is None:
        return tokens
    return dataclasses.replace(tokens, secondary=_parsed(members, auth, now, None))


def bound_refresh(ctx: ServiceContext, setup: ProviderSetup) -> RefreshGrant:
    """``call.refresh``: a refresh grant with the given refresh token through the OAuth engine
    (the connector's client authentication, body format, refresh URL and parameters); returns
    the answer once it is known to carry a usable token set, raises as any refresh does."""
    auth = _set_auth(setup.oauth2)

    async def refresh(refresh_token: str) -> dict[str, Any]:
        if not setup.client_id:
            raise OAuthError(
                "invalid_client",
                "no ClientId is configured for this connector",
                failure=Failure.CONFIG,
            )
        request = token_request_refresh(
            auth,
            client_id=setup.client_id,
            client_secret=setup.client_secret,
            refresh_token=refresh_token,
        )
        tokens = await send_token_request(ctx, request, auth, previous_refresh_token=refresh_token)
        return dict(tokens.raw)

    return refresh


async def refresh_secondary(
    ctx: ServiceContext, setup: ProviderSetup, document: TokenDocument
) -> TokenSet:
    """Refresh the secondary set of ``document`` through the hook's ``on_refresh``; the new
    set (its previous refresh token kept when the answer has none, RT-02). Raises
    ``OAuthError`` (a hook giving up is an unusable answer) or ``TransportError``."""
    auth = setup.oauth2
    hook, stored = hook_of(auth), document.secondary
    if hook.on_refresh is None or stored is None:
        raise OAuthError(
            "invalid_request",
            "the connector's hook does not refresh the secondary token set",
            failure=Failure.CONFIG,
        )
    members = {"access_token": stored.access_token, "refresh_token": stored.refresh_token}
    call = HookCall(
        "on_refresh",
        auth.HookSettings,
        auth,
        setup.base_url,
        setup.values,
        hook_fetch(ctx),
        secondary={k: v for k, v in members.items() if v is not None},
        refresh=bound_refresh(ctx, setup),
    )
    try:
        await hook.on_refresh(call)
    except HookFailed as exc:
        raise OAuthError(
            "invalid_response", f"hook: {exc}", failure=Failure.INVALID_RESPONSE
        ) from None
    if not call.secondary:
        raise OAuthError(
            "invalid_response", "hook: no refreshed token set", failure=Failure.INVALID_RESPONSE
        )
    return _parsed(call.secondary, auth, ctx.clock.now(), stored.refresh_token)
