"""The interface between tokenward and a named hook (see :mod:`tokenward.catalog.hooks`).

A hook is an async function taking one :class:`HookCall`. It sees the connect through it —
settings, the authentication entry, the callback, the raw token response, a ``fetch`` bound to
the service's transport — and answers by setting ``properties`` or ``grant``, or by raising
:class:`HookFailed`. This module imports nothing of the OAuth engine or the transport: the
catalog sits below both (import-linter layers), and hooks need only this much.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Fetch", "Hook", "HookCall", "HookFailed", "RefreshGrant", "jwt_claims"]

#: ``await fetch(method, url, headers, body)`` → ``(status, body)``: one request through the
#: service's transport (https only, timeouts, body cap). Errors below HTTP raise.
Fetch = Callable[[str, str, Mapping[str, str], bytes], Awaitable[tuple[int, bytes]]]

#: ``await refresh(refresh_token)`` → the provider's answer (a JSON object): one refresh grant
#: through tokenward's OAuth engine (client authentication, body format, ``RefreshTokenUrl``,
#: ``RefreshParams``, ``ErrorInBody``). A refusal raises tokenward's own error, classified as
#: for any refresh (``invalid_grant`` → needs_reauth, 5xx → retried); never catch it.
RefreshGrant = Callable[[str], Awaitable[dict[str, Any]]]


class HookFailed(Exception):
    """The hook could not finish the connect; the message is shown in logs (never secrets)."""


@dataclass
class HookCall:
    """What a hook sees and may change. Inputs: ``point``, ``settings`` (the entry's
    ``HookSettings``), ``auth`` (the authentication entry, merge fields filled), ``base_url``,
    ``values`` (current property values), ``callback`` (the callback's query), ``token`` (the
    raw token response, at and after ``after_token_response``), ``access_token`` and
    ``fetch``; at ``on_refresh``, ``refresh``. Outputs: ``properties`` to keep, ``grant``
    (``"client_credentials"``: the credential is minted and re-minted with the client
    credentials grant) and ``secondary``: a second token set of the grant (``access_token``,
    ``refresh_token``, ``expires_in``, ``token_type``, ``scope`` members, as a token response
    has them), kept sealed beside the first and refreshed on its own through ``on_refresh``,
    which gets the stored set in it and answers with the refreshed one."""

    point: str
    settings: Mapping[str, str]
    auth: Any
    base_url: str
    values: Mapping[str, str] = field(repr=False)
    fetch: Fetch = field(repr=False)
    callback: Mapping[str, str] = field(default_factory=dict, repr=False)
    token: dict[str, Any] | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    properties: dict[str, str] = field(default_factory=dict)
    grant: str | None = None
    secondary: dict[str, Any] | None = field(default=None, repr=False)
    refresh: RefreshGrant | None = field(default=None, repr=False)

    def setting(self, name: str, default: str) -> str:
        """A ``HookSettings`` value by case-insensitive name, else ``default``."""
        lowered = name.lower()
        return next((str(v) for k, v in self.settings.items() if k.lower() == lowered), default)

    async def get_json(self, url: str, *, auth_prefix: str = "Bearer") -> Any:
        """GET ``url`` with the access token (``Authorization: {auth_prefix} {token}``) and
        return the JSON answer; raises :class:`HookFailed` for a non-2xx or non-JSON answer."""
        if not self.access_token:
            raise HookFailed("no access token to call the provider with")
        headers = {
            "Authorization": f"{auth_prefix} {self.access_token}",
            "Accept": "application/json",
        }
        status, body = await self.fetch("GET", url, MappingProxyType(headers), b"")
        if not 200 <= status < 300:
            raise HookFailed(f"the provider answered HTTP {status}")
        try:
            return json.loads(body)
        except ValueError:
            raise HookFailed("the provider's answer is not JSON") from None


@dataclass(frozen=True)
class Hook:
    """One named hook: an async function per point it acts at (None: not involved)."""

    on_callback: Callable[[HookCall], Awaitable[None]] | None = None
    after_token_response: Callable[[HookCall], Awaitable[None]] | None = None
    after_connect: Callable[[HookCall], Awaitable[None]] | None = None
    #: the secondary token set (``HookCall.secondary``) is due: refresh it with ``call.refresh``
    on_refresh: Callable[[HookCall], Awaitable[None]] | None = None


def jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT access token, unverified (it came straight from the token endpoint
    over TLS; hooks use claims only to match, never to trust); {} when not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}
