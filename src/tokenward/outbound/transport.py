"""The one I/O seam of the OAuth engine: send an :class:`HttpRequest`, get an :class:`HttpResponse`.

Everything else in tokenward's protocol code is sans-IO (STYLE.md habit 1); this module owns the
socket and its rules, so they hold for every caller:

* TLS is verified, connect and total timeouts are always set (T-07);
* the destination passes the egress policy of :mod:`~tokenward.outbound.destinations` before any
  connection: https only, and no loopback, private, link-local or unique-local address unless
  ``allow_insecure_http`` (T-07, P-03). Names are resolved by our resolver, which checks every
  address aiohttp may connect to, so a name cannot be re-pointed between check and connect;
* redirects are never followed: a 3xx is handed back as it is (P-02);
* the body is capped (``MAX_BODY_BYTES``) after decompression;
* no cookie jar: one provider's cookies never ride along on another credential's request;
* aiohttp's exceptions become :class:`~tokenward.errors.TransportError` here, with
  ``sent=True`` once the request headers went out (R-07: the answer may be lost, not the effect).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, SimpleNamespace

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from tokenward.errors import TransportError
from tokenward.oauth.requests import HttpRequest
from tokenward.oauth.responses import MAX_BODY_BYTES
from tokenward.outbound.destinations import check_address, check_url, literal_address

__all__ = ["HttpResponse", "Transport"]

_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A provider's answer as the sans-IO parsers take it. The body may hold tokens: no repr."""

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)


class Transport:
    """One connection pool; create it once per process (or test) and ``await aclose()`` it."""

    def __init__(
        self,
        *,
        allow_insecure_http: bool = False,
        connect_timeout: float = 5.0,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._allow_insecure_http = allow_insecure_http
        self._connect_timeout = connect_timeout
        self._max_body_bytes = max_body_bytes
        # A pool belongs to the event loop that opened it: a caller on another loop (a test
        # client's thread, a CLI command) gets its own, and each loop closes its own.
        self._sessions: dict[tuple[asyncio.AbstractEventLoop, bool], aiohttp.ClientSession] = {}

    async def send(
        self, request: HttpRequest, *, timeout: float, fresh_connection: bool = False
    ) -> HttpResponse:
        """Send ``request`` and read the whole answer within ``timeout`` seconds, or raise
        :class:`TransportError`. An HTTP error status is an answer, not an exception.

        ``fresh_connection``: never reuse a pooled keep-alive connection. For requests that
        must not be sent twice (token requests rotate refresh tokens): a pooled connection the
        server has just closed would fail after sending and look like a lost answer (R-07).
        """
        host = check_url(request.url, allow_insecure_http=self._allow_insecure_http)
        literal = literal_address(host)
        if literal is not None:
            check_address(host, [literal], allow_insecure_http=self._allow_insecure_http)
        progress = SimpleNamespace(sent=False)
        try:
            return await self._exchange(request, timeout, progress, fresh_connection)
        except (aiohttp.ClientError, OSError) as exc:
            raise _translate(exc, host, sent=progress.sent) from exc

    async def aclose(self) -> None:
        """Close this event loop's pools; a later ``send`` opens new ones."""
        loop = asyncio.get_running_loop()
        for fresh in (False, True):
            session = self._sessions.pop((loop, fresh), None)
            if session is not None:
                await session.close()
        # closed transports drop their sockets on the loop's next turns (aiohttp #1925)
        for _ in range(3):
            await asyncio.sleep(0)

    async def _exchange(
        self, request: HttpRequest, timeout: float, progress: SimpleNamespace, fresh: bool
    ) -> HttpResponse:
        limits = aiohttp.ClientTimeout(
            total=timeout, sock_connect=min(self._connect_timeout, timeout), sock_read=timeout
        )
        async with self._pool(fresh=fresh).request(
            request.method,
            request.url,
            headers=dict(request.headers),
            data=request.body or None,
            allow_redirects=False,
            timeout=limits,
            trace_request_ctx=progress,
        ) as response:
            body = await self._read(response)
            return HttpResponse(response.status, MappingProxyType(dict(response.headers)), body)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        declared = response.content_length
        if declared is not None and declared > self._max_body_bytes:
            raise _too_large(self._max_body_bytes)
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > self._max_body_bytes:
                raise _too_large(self._max_body_bytes)
        return bytes(body)

    def _pool(self, *, fresh: bool = False) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get((loop, fresh))
        if session is None:
            for stale in [key for key in self._sessions if key[0].is_closed()]:
                del self._sessions[stale]
            tracing = aiohttp.TraceConfig()
            tracing.on_request_headers_sent.append(_mark_sent)
            connector = aiohttp.TCPConnector(
                ssl=ssl.create_default_context(),
                resolver=_GuardedResolver(allow_insecure_http=self._allow_insecure_http),
                use_dns_cache=False,
                force_close=fresh,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trace_configs=[tracing],
                trust_env=False,  # no proxy from the environment: the policy sees the real host
            )
            self._sessions[(loop, fresh)] = session
        return session


class _Refusal(OSError):
    """Carries a policy refusal through aiohttp, which wraps resolver errors."""

    def __init__(self, error: TransportError) -> None:
        super().__init__(str(error))
        self.error = error


class _GuardedResolver(AbstractResolver):
    """Resolves with the event loop's ``getaddrinfo`` and refuses internal addresses (P-03)."""

    def __init__(self, *, allow_insecure_http: bool) -> None:
        self._allow_insecure_http = allow_insecure_http

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
        except socket.gaierror:
            infos = []
        found = [(info[0], str(info[4][0])) for info in infos]
        addresses = [literal_address(address) for _, address in found]
        allow = self._allow_insecure_http
        try:
            check_address(host, [a for a in addresses if a is not None], allow_insecure_http=allow)
        except TransportError as refused:
            raise _Refusal(refused) from None
        return [_result(host, address, port, fam) for fam, address in found]

    async def close(self) -> None:
        """Nothing to release: the loop's resolver is shared."""


def _result(host: str, address: str, port: int, family: int) -> ResolveResult:
    return ResolveResult(
        hostname=host, host=address, port=port, family=family, proto=0, flags=socket.AI_NUMERICHOST
    )


async def _mark_sent(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    """From here on the provider may act on the request even if its answer never arrives."""
    context.trace_request_ctx.sent = True


def _too_large(limit: int) -> TransportError:
    return TransportError("too_large", f"the answer exceeds {limit} bytes", sent=True)


def _translate(exc: BaseException, host: str, *, sent: bool) -> TransportError:
    """An aiohttp or socket failure as a TransportError naming the host only (no secrets)."""
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, _Refusal):
        return exc.os_error.error
    if isinstance(exc, TimeoutError):
        return TransportError("timeout", f"{host} did not answer in time", sent=sent)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransportError("connect", f"could not connect to {host}", sent=False)
    return TransportError("reset", f"the connection to {host} broke", sent=sent)
