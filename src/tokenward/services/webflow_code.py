"""Step 3 of starting an authorization-code webflow (DESIGN.md §7; SECURITY.md §1.1).

A new auth session keyed by the SHA-256 of a 256-bit ``state`` (F-01, F-03), bound to the
browser by a cookie whose hash it stores (F-02), with the PKCE S256 verifier (F-04, F-05), the
token endpoint, the expected issuer, the redirect URI and the client id sealed in it (C-06).
When the connector declares an ``Issuer`` its RFC 8414 metadata is read first: an ``issuer``
that differs refuses the flow (F-10), its endpoints win over hand-typed ones (F-11), and PAR is
used when it requires it (F-09). Then the browser is sent to the provider.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import anyio.to_thread

from tokenward.catalog.schema import OAuth2Auth
from tokenward.crypto.fields import auth_session_aad
from tokenward.crypto.hashing import hash_token
from tokenward.domain.models import AuthSession
from tokenward.errors import OAuthConfigError, TransportError
from tokenward.oauth.metadata import ServerMetadata, metadata_url, parse_metadata
from tokenward.oauth.par import par_redirect_url, parse_par_response, pushed_authorization_request
from tokenward.oauth.pkce import challenge_s256, new_verifier
from tokenward.oauth.requests import HttpRequest, authorization_url
from tokenward.services.context import ServiceContext
from tokenward.services.provider_setup import ProviderSetup
from tokenward.services.webflow_checks import Checked
from tokenward.services.webflow_completion import FLOW_KIND, FLOW_LIFETIME
from tokenward.services.webflow_exchange import code_optional

__all__ = [
    "FlowStart",
    "discover",
    "new_binding",
    "new_state",
    "save_session",
    "start_code_flow",
    "valid_binding",
]

_BINDING = re.compile(r"[A-Za-z0-9_-]{43}")
_STATE_BYTES = 32  # 256 bits (F-01 asks for at least 128)


@dataclass(frozen=True)
class FlowStart:
    """Where to send the browser (303) and, for a code flow, the binding cookie to set."""

    location: str = field(repr=False)
    binding: str | None = field(default=None, repr=False)


def new_state() -> str:
    """A ``state`` of 256 bits from the CSPRNG, derived from nothing (F-01)."""
    return secrets.token_urlsafe(_STATE_BYTES)


def new_binding() -> str:
    """A browser-binding cookie value of 256 bits (F-02)."""
    return secrets.token_urlsafe(_STATE_BYTES)


def valid_binding(value: str | None) -> bool:
    """Whether a cookie value has the shape :func:`new_binding` gives (else a new one is set)."""
    return value is not None and _BINDING.fullmatch(value) is not None


async def discover(ctx: ServiceContext, issuer: str) -> ServerMetadata | None:
    """The issuer's RFC 8414 metadata; None when it publishes none (404, 410) or cannot be
    reached, so the configured endpoints are used. A document for another issuer, or a
    malformed one, raises ``OAuthError`` and the flow does not start (F-10)."""
    request = HttpRequest(
        "GET", metadata_url(issuer), MappingProxyType({"Accept": "application/json"})
    )
    try:
        response = await ctx.transport.send(request, timeout=ctx.lifecycle.provider_timeout)
    except TransportError:
        return None
    if response.status in (404, 410) or response.status >= 500:
        return None
    return parse_metadata(response.status, response.body, expected_issuer=issuer)


def _with_metadata(auth: OAuth2Auth, metadata: ServerMetadata | None) -> OAuth2Auth:
    """Metadata endpoints win over hand-typed ones (F-11)."""
    if metadata is None:
        return auth
    update = {
        "AuthoriseUrl": metadata.authorization_endpoint or auth.AuthoriseUrl,
        "AccessTokenUrl": metadata.token_endpoint or auth.AccessTokenUrl,
    }
    return auth.model_copy(update=update)


async def start_code_flow(
    ctx: ServiceContext, checked: Checked, binding_cookie: str | None
) -> FlowStart:
    """Save a new flow and send the browser to the provider (with PAR, to its request_uri).
    A well-formed ``binding_cookie`` is kept, so flows in several tabs all stay bound."""
    setup = checked.setup
    assert setup.client_id is not None  # checked in step 1
    configured = setup.oauth2
    metadata = await discover(ctx, configured.Issuer) if configured.Issuer else None
    auth = _with_metadata(configured, metadata)
    state, verifier = new_state(), new_verifier() if auth.Pkce == "S256" else None
    binding = binding_cookie if valid_binding(binding_cookie) else new_binding()
    assert binding is not None
    url = authorization_url(
        auth,
        client_id=setup.client_id,
        redirect_uri=ctx.redirect_uri,
        state=state,
        code_challenge=challenge_s256(verifier) if verifier else None,
        scopes=setup.scopes,
    )
    if metadata is not None and metadata.require_pushed_authorization_requests:
        url = await _push(ctx, auth, metadata, url, setup)
    sealed: dict[str, object] = {
        "kind": FLOW_KIND,
        "verifier": verifier,
        "redirect_uri": ctx.redirect_uri,
        "token_endpoint": auth.AccessTokenUrl,
        "issuer": configured.Issuer,
        "iss_required": bool(metadata and metadata.authorization_response_iss_parameter_supported),
        "client_id": setup.client_id,
        "code_param": auth.CodeParam,
        "code_optional": code_optional(auth),
    }
    await anyio.to_thread.run_sync(save_session, ctx, checked, hash_token(state), binding, sealed)
    return FlowStart(url, binding)


async def _push(
    ctx: ServiceContext, auth: OAuth2Auth, metadata: ServerMetadata, url: str, setup: ProviderSetup
) -> str:
    """F-09: every parameter POSTed to the PAR endpoint; the browser gets only ``client_id``
    and the ``request_uri`` of a 201 answer. Any other answer raises: no redirect."""
    endpoint = metadata.pushed_authorization_request_endpoint
    if endpoint is None or auth.AuthoriseUrl is None or setup.client_id is None:
        raise OAuthConfigError("the provider requires PAR but publishes no PAR endpoint")
    request = pushed_authorization_request(
        auth,
        endpoint,
        authorization_url=url,
        client_id=setup.client_id,
        client_secret=setup.client_secret,
    )
    response = await ctx.transport.send(request, timeout=ctx.lifecycle.provider_timeout)
    request_uri = parse_par_response(response.status, response.body)
    return par_redirect_url(auth.AuthoriseUrl, client_id=setup.client_id, request_uri=request_uri)


def save_session(
    ctx: ServiceContext, checked: Checked, key: str, binding: str, sealed: Mapping[str, object]
) -> None:
    """Store a flow's auth session under ``key`` (the hash its callback will look up: of the
    state for OAuth 2, of the temporary token for OAuth 1.0a), bound to the browser by the
    hash of ``binding``, with ``sealed`` encrypted; it lives FLOW_LIFETIME."""
    now = ctx.clock.now()
    with ctx.db.write() as tx:
        tx.auth_sessions.add(
            AuthSession(
                state_hash=key,
                account_connector_id=checked.item.id,
                account_pk=checked.account.pk,
                username=checked.username,
                binding_hash=hash_token(binding),
                sealed=ctx.sealer.seal(json.dumps(dict(sealed)), auth_session_aad(key)),
                completion=checked.completion.to_json(),
                created_utc=now,
                expires_utc=now + FLOW_LIFETIME,
            )
        )
