"""Calling an account connector's provider with its credential attached: the rules that method
calls (:mod:`~tokenward.services.methods`) and the proxy (:mod:`~tokenward.services.proxy`) share.

* P-01: a request leaves only for the connector's base URL origin (same scheme, exact host, same
  port), https unless ``allow_insecure_http`` and a loopback host;
* L-02: the credential travels in one header (``AuthScheme``, default ``Authorization``), never
  in the URL; the value comes from ``AuthFormat`` (``{token}``, ``{key}``, ``{basic}``);
  OAuth 1.0a calls are signed instead (RFC 5849 §3.5.1 ``Authorization: OAuth …``, covering the
  method, URL, query and form body; a fresh nonce and timestamp per send: O-05);
* P-02: redirects are never followed (the transport hands a 3xx back as it is);
* P-04: a provider 401 on an OAuth 2 credential → one forced refresh (of the token set the call
  used) and one retry, then the 401 is the answer;
* a method with ``TokenSet: secondary`` carries the access token of the second token set a hook
  keeps beside the credential's own (docs/connector-hooks.md), in the same header and format;
* P-05: 5xx and 429 are retried once, only for idempotent methods or when the partner sent an
  ``Idempotency-Key``, after the provider's ``Retry-After`` (a longer one is not waited for);
* a request that could not be sent (timeout, connection, refused destination) is a 502 naming
  the host at most; each call is audited in the batched trail, never with a URL or a value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import SplitResult, urlsplit

import anyio

from tokenward.catalog.urls import LOOPBACK_HOSTS
from tokenward.errors import OAuthConfigError, StateConflict, TransportError, UpstreamError
from tokenward.oauth.oauth1_requests import Consumer
from tokenward.oauth.requests import HttpRequest
from tokenward.oauth.responses import parse_retry_after
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.credentials import (
    PRIMARY,
    SECONDARY,
    FreshCredential,
    Peeked,
    fresh_for_caller,
    peek_item,
    read_item,
)
from tokenward.services.oauth1_credentials import consumer_of, sign_call
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry
from tokenward.services.provider_setup import ProviderSetup, load_setup, require_base_url

__all__ = [
    "IDEMPOTENT_METHODS",
    "RETRY_AFTER_CAP",
    "Outbound",
    "Target",
    "UpstreamResponse",
    "credential_header",
    "destination_problem",
    "resolve_target",
    "send",
]

#: Retry-After values up to this many seconds are waited for once; longer ones end the call.
RETRY_AFTER_CAP = 5.0
_DEFAULT_DELAY = 0.25  # before the one retry when the provider gave no Retry-After
_TRANSIENT = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_FORMATS = {"OAuth2": "Bearer {token}", "ApiKey": "{key}", "Basic": "Basic {basic}"}
_PLACEHOLDER = re.compile(r"\{(token|key|basic)\}")
_HEADER_VALUE = re.compile(r"^[\x20-\x7e\x80-\xff\t]*$")
_TRANSPORT_CODES = {
    "refused_destination": "destination_refused",
    "timeout": "upstream_timeout",
    "too_large": "upstream_too_large",
}


@dataclass(frozen=True)
class UpstreamResponse:
    """The provider's answer as tokenward passes it on. The body may hold data: no repr."""

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    @property
    def content_type(self) -> str | None:
        return self.header("content-type")


@dataclass(frozen=True)
class Outbound:
    """A request for the provider before the credential is attached."""

    method: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(default=b"", repr=False)


@dataclass(frozen=True)
class Target:
    """Whose credential a call uses, where it may go and how it is attached."""

    principal: Principal
    account_header: str | None
    account_id: str
    account_connector_id: int
    base_url: str
    auth: Any  # the connector's authentication entry (AuthType, AuthScheme, AuthFormat)
    #: the credential as read with the target (None: the connector has no authentication)
    peeked: Peeked | None = field(default=None, repr=False, compare=False)
    #: OAuth 1.0a: the consumer that signs each call (None: not configured, refused at send)
    consumer: Consumer | None = field(default=None, repr=False, compare=False)

    @property
    def auth_type(self) -> str:
        return str(self.auth.AuthType)


def _origin(parts: SplitResult) -> tuple[str, str, int | None] | None:
    try:
        port = parts.port
    except ValueError:
        return None
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port if port is not None else default


def _loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def destination_problem(url: str, base_url: str, *, allow_insecure_http: bool) -> str | None:
    """Why ``url`` may not receive the credential of a connector whose API is ``base_url``
    (P-01), or None: it must have the base URL's origin and no user information, over https
    (http only to a loopback host with ``allow_insecure_http``)."""
    target, base = urlsplit(url), urlsplit(base_url)
    origin = _origin(target)
    if origin is None or not origin[1] or "@" in target.netloc or origin != _origin(base):
        return "the request would leave the connector's API host"
    if origin[0] == "https" or (
        origin[0] == "http" and allow_insecure_http and _loopback(origin[1])
    ):
        return None
    return "the connector's API must be reached over https"


def credential_header(auth: Any, credential: FreshCredential) -> tuple[str, str] | None:
    """The header carrying ``credential`` (L-02): ``AuthScheme`` (default ``Authorization``)
    with the ``AuthFormat`` template filled; None for a connector without authentication."""
    default = _FORMATS.get(credential.auth_type)
    if default is None:
        return None
    template = getattr(auth, "AuthFormat", None) or default
    secret = credential.access_token or ""
    value = _PLACEHOLDER.sub(lambda _match: secret, template)
    if not secret or not _HEADER_VALUE.match(value):
        raise StateConflict(
            "The stored credential cannot be sent in an HTTP header; write a new AuthValue.",
            "credential_unusable",
        )
    return getattr(auth, "AuthScheme", None) or "Authorization", value


async def send(
    ctx: ServiceContext,
    target: Target,
    request: Outbound,
    *,
    retry_transient: bool,
    action: str,
    detail: str,
    token_set: str = PRIMARY,
) -> UpstreamResponse:
    """Send ``request`` with ``target``'s credential (its ``token_set``) under the rules
    above; audit the call."""
    problem = destination_problem(
        request.url, target.base_url, allow_insecure_http=ctx.allow_insecure_http
    )
    if problem is not None:  # a definition whose EndPoint leaves its BaseUrl (P-01)
        raise StateConflict(f"The call is refused: {problem}.", "invalid_destination")
    credential = await _credential(ctx, target)
    if credential is not None:
        credential = _with_set(credential, token_set)
    status = "error"
    try:
        response = await _with_retry(ctx, target, request, credential, retry_transient)
        if response.status == 401 and credential is not None and credential.auth_type == "OAuth2":
            renewed = await fresh_for_caller(
                ctx,
                target.principal,
                target.account_header,
                target.account_connector_id,
                force=True,
                stale_version=credential.version,
                token_set=token_set,
            )
            renewed = _with_set(renewed, token_set)
            if renewed.access_token != credential.access_token:
                response = await _with_retry(ctx, target, request, renewed, retry_transient)
        status = str(response.status)
        return response
    except TransportError as exc:
        code = _TRANSPORT_CODES.get(exc.kind, "upstream_unreachable")
        raise UpstreamError(f"The provider's API could not be reached ({exc}).", code) from None
    finally:
        _audit(ctx, target, action, f"{detail} status={status}")


def _with_set(credential: FreshCredential, token_set: str) -> FreshCredential:
    """The credential as the call sends it: with ``secondary``, the second set's access token
    in place of its own (409 ``no_secondary_token`` when the credential has none)."""
    if token_set != SECONDARY:
        return credential
    if not credential.secondary_token:
        raise StateConflict(
            "The method needs the credential's secondary token, which this credential does not "
            "have; re-authenticate the account connector.",
            "no_secondary_token",
        )
    return replace(credential, access_token=credential.secondary_token)


async def _credential(ctx: ServiceContext, target: Target) -> FreshCredential | None:
    if target.auth_type == "None":
        return None
    return await fresh_for_caller(
        ctx,
        target.principal,
        target.account_header,
        target.account_connector_id,
        peeked=target.peeked,
    )


async def _with_retry(
    ctx: ServiceContext,
    target: Target,
    request: Outbound,
    credential: FreshCredential | None,
    retry_transient: bool,
) -> UpstreamResponse:
    response = await _send_once(ctx, target, request, credential)
    if not retry_transient or response.status not in _TRANSIENT:
        return response
    delay = _retry_delay(ctx, response)
    if delay is None:
        return response
    await anyio.sleep(delay)
    return await _send_once(ctx, target, request, credential)


def _retry_delay(ctx: ServiceContext, response: UpstreamResponse) -> float | None:
    """Seconds to wait before the one retry (P-05), or None when the provider asks for more
    than :data:`RETRY_AFTER_CAP`."""
    header = response.header("retry-after")
    seconds = parse_retry_after(header, now=ctx.clock.now())
    if seconds is None:
        return _DEFAULT_DELAY
    return float(seconds) if seconds <= RETRY_AFTER_CAP else None


async def _send_once(
    ctx: ServiceContext, target: Target, request: Outbound, credential: FreshCredential | None
) -> UpstreamResponse:
    headers = dict(request.headers)
    attached = None if credential is None else credential_header(target.auth, credential)
    if attached is not None:
        name, value = attached
        headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
        headers[name] = value
    outgoing = HttpRequest(request.method, request.url, headers, request.body)
    if credential is not None and credential.auth_type == "OAuth1":
        outgoing = _signed(target, outgoing, credential)
    answer = await ctx.transport.send(outgoing, timeout=ctx.lifecycle.provider_timeout)
    return UpstreamResponse(answer.status, answer.headers, answer.body)


def _signed(target: Target, request: HttpRequest, credential: FreshCredential) -> HttpRequest:
    """An OAuth 1.0a call signed with the consumer and the token credentials (signed again for
    a retry, so each send has its own nonce)."""
    if target.consumer is None:
        raise StateConflict(
            "The OAuth 1.0a consumer key or secret (ClientId, ClientSecret) is not configured.",
            "missing_client_credentials",
        )
    return sign_call(request, target.consumer, credential.access_token, credential.token_secret)


def _audit(ctx: ServiceContext, target: Target, action: str, detail: str) -> None:
    ctx.audit.enqueue(
        AuditEntry(
            ctx.clock.now(),
            target.principal.actor,
            action,
            target.account_id,
            target.account_connector_id,
            detail,
        )
    )


def resolve_target(
    ctx: ServiceContext, tx: Tx, principal: Principal, account_header: str | None, ac_id: int
) -> tuple[Target, ProviderSetup]:
    """The caller's account connector ``ac_id`` (401/403/404 rules) as a call target, with its
    provider setup (409 when a property is missing) and its credential as read in the same
    statement (a refusal is raised only when the call is sent, after the input is checked)."""
    account, item, catalog_version = read_item(tx, principal, account_header, ac_id)
    setup = load_setup(ctx, tx, item, catalog_version, for_calls=True)
    peeked = (
        None if setup.auth_type == "None" else peek_item(ctx, tx, account, item, catalog_version)
    )
    base_url = require_base_url(setup)  # a property the connect sets may still be missing
    consumer = _consumer(setup)
    target = Target(
        principal, account_header, account.id, item.id, base_url, setup.auth, peeked, consumer
    )
    return target, setup


def _consumer(setup: ProviderSetup) -> Consumer | None:
    if setup.auth_type != "OAuth1":
        return None
    try:
        return consumer_of(setup)
    except OAuthConfigError:
        return None  # refused when a call is sent, after the caller's input is checked
