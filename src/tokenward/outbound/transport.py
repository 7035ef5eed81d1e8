"""The one I/O seam of the OAuth engine: send an :class:`HttpRequest`, get an :class:`HttpResponse`.

Everything else in tokenward's protocol code is sans-IO (STYLE.md habit 1); this module owns the
socket and its rules, so they hold for every caller:

* TLS is verified, connect and total timeouts are always set (T-07);
* the destination passes the egress policy of :mod:`~tokenward.outbound.destinations` before any
  connection: https only, and no loopback, private, link-local or unique-local address unless
  ``allow_insecure_http`` (T-07, P-03). A name is resolved here, every address it resolves to is
  checked, and the connection goes to a checked address, so a name cannot be re-pointed between
  check and connect;
* redirects are never followed: a 3xx is handed back as it is (P-02);
* the body is capped (``MAX_BODY_BYTES``) as declared, as it arrives and after decompression;
* no cookie jar: one provider's cookies never ride along on another credential's request;
* failures are :class:`~tokenward.errors.TransportError`, with ``sent=True`` once the request
  went out (R-07: the answer may be lost, not the effect).

The HTTP/1.1 client underneath is :mod:`~tokenward.outbound.http1` (keep-alive pool per event
loop; chosen by ``bench/outbound_clients.py``).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from tokenward.errors import TransportError
from tokenward.oauth.requests import HttpRequest
from tokenward.oauth.responses import MAX_BODY_BYTES
from tokenward.outbound.destinations import check_address, check_url, literal_address
from tokenward.outbound.http1 import Http1Pool
from tokenward.outbound.http1_messages import Answer, Origin, decode_body, request_head

__all__ = ["Headers", "HttpResponse", "Transport"]

_DEFAULT_PORTS = {"https": 443, "http": 80}
_MAX_ORIGINS = 4096  # policy decisions remembered per Transport (pure: scheme, host, port)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A provider's answer as the sans-IO parsers take it. The body may hold tokens: no repr."""

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)


class Headers(Mapping[str, str]):
    """An answer's headers, read-only, looked up in any case; names keep the server's case.
    A repeated header's values are joined with ", " (RFC 9110 §5.3)."""

    __slots__ = ("_items",)

    def __init__(self, pairs: list[tuple[bytes, bytes]]) -> None:
        items: dict[str, tuple[str, str]] = {}
        for raw_name, raw_value in pairs:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            known = items.get(name.lower())
            items[name.lower()] = (name, value if known is None else f"{known[1]}, {value}")
        self._items = items

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"  # names only: values may hold secrets


class Transport:
    """Connection pools, one per event loop; create it once per process (or test) and
    ``await aclose()`` it."""

    def __init__(
        self,
        *,
        allow_insecure_http: bool = False,
        connect_timeout: float = 5.0,
        max_body_bytes: int = MAX_BODY_BYTES,
        ssl_context: ssl.SSLContext | None = None,
        keepalive: float = 15.0,
        max_connections: int = 100,
    ) -> None:
        self._allow_insecure_http = allow_insecure_http
        self._connect_timeout = connect_timeout
        self._max_body_bytes = max_body_bytes
        self._ssl = ssl_context or ssl.create_default_context()
        self._keepalive = keepalive
        self._max_connections = max_connections
        self._origins: dict[tuple[str, str], Origin] = {}
        # A pool belongs to the event loop that opened it: a caller on another loop (a test
        # client's thread, a CLI command) gets its own, and each loop closes its own.
        self._pools: dict[asyncio.AbstractEventLoop, Http1Pool] = {}

    async def send(
        self, request: HttpRequest, *, timeout: float, fresh_connection: bool = False
    ) -> HttpResponse:
        """Send ``request`` and read the whole answer within ``timeout`` seconds, or raise
        :class:`TransportError`. An HTTP error status is an answer, not an exception.

        ``fresh_connection``: never reuse a pooled keep-alive connection. For requests that
        must not be sent twice (token requests rotate refresh tokens): a pooled connection the
        server has just closed would fail after sending and look like a lost answer (R-07).
        """
        parts = urlsplit(request.url)
        origin = self._origins.get((parts.scheme, parts.netloc)) or self._admit(request.url, parts)
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        body = request.body
        data = request_head(
            request.method, target, origin, request.headers, len(body), close=fresh_connection
        )
        answer = await self._pool().request(
            origin,
            request.method,
            data + body if body else data,
            limit=self._max_body_bytes,
            timeout=timeout,
            fresh=fresh_connection,
        )
        return _response(answer, self._max_body_bytes, origin.host)

    async def aclose(self) -> None:
        """Close this event loop's pool; a later ``send`` opens a new one."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.aclose()
        # aborted transports drop their sockets on the loop's next turns
        for _ in range(3):
            await asyncio.sleep(0)

    def _admit(self, url: str, parts: SplitResult) -> Origin:
        """The origin of ``url`` once the policy allows it (T-07, and P-03 for a literal
        address); remembered, since the decision depends on nothing else."""
        host = check_url(url, allow_insecure_http=self._allow_insecure_http)
        literal = literal_address(host)
        if literal is not None:
            check_address(host, [literal], allow_insecure_http=self._allow_insecure_http)
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise TransportError(
                "refused_destination", "the URL has no valid port", sent=False
            ) from None
        name = host.strip("[]") if literal is not None else _ascii(host)
        shown = f"[{name}]" if ":" in name else name
        if parts.port is not None and parts.port != _DEFAULT_PORTS[parts.scheme]:
            shown = f"{shown}:{port}"
        origin = Origin(parts.scheme, name, port, shown)
        if len(self._origins) >= _MAX_ORIGINS:
            self._origins.clear()
        self._origins[(parts.scheme, parts.netloc)] = origin
        return origin

    def _pool(self) -> Http1Pool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            for stale in [known for known in self._pools if known.is_closed()]:
                del self._pools[stale]
            pool = Http1Pool(
                self._resolve,
                ssl_context=self._ssl,
                connect_timeout=self._connect_timeout,
                keepalive=self._keepalive,
                max_connections=self._max_connections,
            )
            self._pools[loop] = pool
        return pool

    async def _resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``, each checked against the policy (P-03):
        one internal address refuses the name, since a connection may use any of them."""
        literal = literal_address(host)
        if literal is not None:
            return [str(literal)]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            infos = []
        found = [str(info[4][0]) for info in infos]
        addresses = [literal_address(address) for address in found]
        check_address(
            host,
            [a for a in addresses if a is not None],
            allow_insecure_http=self._allow_insecure_http,
        )
        return list(dict.fromkeys(found))


def _ascii(host: str) -> str:
    """A host name as it goes on the wire (IDNA for an internationalised name)."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise TransportError(
            "refused_destination", "the host name is invalid", sent=False
        ) from None


def _response(answer: Answer, limit: int, host: str) -> HttpResponse:
    body = decode_body(answer.headers, answer.body, limit, host)
    return HttpResponse(answer.status, Headers(answer.headers), body)
