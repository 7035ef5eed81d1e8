"""The proxy (``ANY /v1.0/account/connectors/{id}/proxy/{path}``): a raw request forwarded to
the connector's base URL with the account connector's credential attached.

The partner's path is checked before anything else (P-01): after percent-decoding, as often as
it decodes, it may not start with ``/`` or ``\\``, contain ``\\``, a scheme (``https:``), a ``@``
in its first segment, ``.``/``..`` segments or control characters — each of those could move
the request to another host or out of the base URL's path. The final URL must still have the
base URL's exact origin. Hop-by-hop headers are dropped both ways; the partner's
``Authorization``, ``X-Cyclr-Account``, ``Cookie`` and ``Host`` never travel upstream, and the
provider's cookies and caching headers never come back (P-06). A 3xx is returned as it is,
never followed (P-02). The rest — 401 refresh, retries, audit — is
:mod:`~tokenward.services.upstream`'s.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

from tokenward.errors import InvalidRequest
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.method_requests import call_headers
from tokenward.services.read_ahead import read_step
from tokenward.services.upstream import (
    IDEMPOTENT_METHODS,
    Outbound,
    Target,
    UpstreamResponse,
    destination_problem,
    resolve_target,
    send,
)

__all__ = ["ProxyRequest", "check_path", "proxy_call", "response_headers"]

#: RFC 9110 §7.6.1 connection-specific fields, plus the ones HTTP/1.1 treats the same way.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Never forwarded upstream: the partner's own credentials and routing, and what the transport
# sets itself (length, encoding negotiation, host).
_NOT_FORWARDED = HOP_BY_HOP | {
    "authorization",
    "x-cyclr-account",
    "cookie",
    "host",
    "content-length",
    "accept-encoding",
    "expect",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-real-ip",
}
# Never returned: framing the server recomputes, the provider's cookies and browser policies
# meant for the provider's host, and caching (tokenward's API answers are no-store).
_NOT_RETURNED = HOP_BY_HOP | {
    "content-length",
    "content-encoding",
    "set-cookie",
    "strict-transport-security",
    "cache-control",
    "pragma",
    "expires",
    "x-content-type-options",
    "x-tokenward-upstream",
    "date",
    "server",
}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DECODE_ROUNDS = 5


@dataclass(frozen=True)
class ProxyRequest:
    """The partner's request as it arrived; ``path`` still percent-encoded, ``query`` raw."""

    method: str
    path: str
    query: str = ""
    headers: Iterable[tuple[str, str]] = field(default=(), repr=False)
    body: bytes = field(default=b"", repr=False)


def _invalid_path(why: str) -> InvalidRequest:
    return InvalidRequest(f"The proxy path is not allowed: {why}.", "invalid_proxy_path")


def _path_problem(text: str) -> str | None:
    if text.startswith(("/", "\\")):
        return "it may not start with '/' or '\\'"
    if "\\" in text:
        return "it may not contain '\\'"
    if _SCHEME.match(text):
        return "it may not start with a scheme"
    if "@" in text.split("/", 1)[0]:
        return "its first segment may not contain '@'"
    if any(segment in {".", ".."} for segment in text.split("/")):
        return "it may not contain '.' or '..' segments"
    if _CONTROL.search(text):
        return "it may not contain control characters"
    return None


def check_path(path: str) -> None:
    """400 ``invalid_proxy_path`` for a path that could leave the base URL (P-01), checked as
    sent and after each round of percent-decoding (``%2F%2F``, ``%5C``, ``%40``, ``%252F``)."""
    text = path
    for _ in range(_DECODE_ROUNDS):
        problem = _path_problem(text)
        if problem is not None:
            raise _invalid_path(problem)
        try:
            decoded = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise _invalid_path("it is not UTF-8 once decoded") from None
        if decoded == text:
            return
        text = decoded
    raise _invalid_path("it is encoded too many times")


def _url(base_url: str, path: str, query: str) -> str:
    base = urlsplit(base_url)
    joined = base.path.rstrip("/") + "/" + path if path else base.path or "/"
    merged = "&".join(q for q in (base.query, query) if q)
    return urlunsplit((base.scheme, base.netloc, joined, merged, ""))


def _forwarded(headers: Iterable[tuple[str, str]], credential_header: str) -> dict[str, str]:
    pairs = list(headers)
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    }
    dropped = _NOT_FORWARDED | named | {credential_header.lower()}
    out: dict[str, str] = {}
    for name, value in pairs:
        if name.lower() not in dropped:
            key = next((k for k in out if k.lower() == name.lower()), name)
            out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def response_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The provider's answer headers a partner receives (P-06)."""
    named = {
        t.strip().lower()
        for k, v in headers.items()
        if k.lower() == "connection"
        for t in v.split(",")
    }
    dropped = _NOT_RETURNED | named if named else _NOT_RETURNED
    return {k: v for k, v in headers.items() if k.lower() not in dropped}


def _prepare(
    ctx: ServiceContext,
    principal: Principal,
    account_header: str | None,
    ac_id: int,
    request: ProxyRequest,
) -> tuple[Target, Outbound]:
    # one statement (read_item); what may follow (a changed catalog, an OAuth 1.0a consumer)
    # is independent of it, so the read needs no snapshot
    with ctx.db.read(snapshot=False) as tx:
        target, setup = resolve_target(ctx, tx, principal, account_header, ac_id)
    url = _url(target.base_url, request.path, request.query)
    problem = destination_problem(url, target.base_url, allow_insecure_http=ctx.allow_insecure_http)
    if problem is not None:
        raise _invalid_path(problem)
    credential_header = getattr(target.auth, "AuthScheme", None) or "Authorization"
    headers = _forwarded(request.headers, credential_header)
    sent = {name.lower() for name in headers}
    for name, value in call_headers(setup.connector, setup.values).items():
        if name.lower() not in sent:  # the partner's own value wins
            headers[name] = value
    return target, Outbound(request.method.upper(), url, headers, request.body)


async def proxy_call(
    ctx: ServiceContext,
    principal: Principal,
    account_header: str | None,
    ac_id: int,
    request: ProxyRequest,
    *,
    idempotency_key: str | None = None,
    inline_read: bool = False,
) -> UpstreamResponse:
    """Forward ``request`` to account connector ``ac_id``'s API; the provider's answer with
    :func:`response_headers` only. ``inline_read``: as for method calls."""
    check_path(request.path)
    target, outbound = await read_step(
        ctx,
        functools.partial(_prepare, ctx, principal, account_header, ac_id, request),
        inline=inline_read,
        account_header=account_header,
        ac_id=ac_id,
        properties=True,
    )
    answer = await send(
        ctx,
        target,
        outbound,
        retry_transient=outbound.method in IDEMPOTENT_METHODS or bool(idempotency_key),
        action="proxy.call",
        detail=f"method={outbound.method}",
    )
    return UpstreamResponse(answer.status, response_headers(answer.headers), answer.body)
