"""A lean HTTP/1.1 client: asyncio protocols, the llhttp parser (``httptools``) and a keep-alive
pool. :class:`~tokenward.outbound.transport.Transport` puts the egress policy on top of it.

Why not a general-purpose client: an API call through tokenward spends most of its own CPU on
the outbound request, and a general client's per-request machinery (request and response
objects, tracing hooks, cookie and redirect handling, streams) cost more than the rest of the
call (``bench/outbound_clients.py``, docs/benchmarks.md). This module does only what the
transport needs:

* one request at a time per connection; a connection returns to the pool only after a complete
  answer that allows keep-alive, and idle connections are closed after ``keepalive`` seconds;
* the request goes out in one write (head and body); header names must be tokens and values
  may hold no CR, LF or NUL (no header injection);
* the answer's headers are capped (:data:`MAX_HEADER_BYTES`) and its body is capped as declared,
  as it arrives and after decompression (gzip and deflate are asked for and decoded);
* chunked bodies, bodies delimited by the end of the connection, ``HEAD`` and interim (1xx)
  answers are handled by the parser's rules;
* an idempotent request whose *pooled* connection turns out to have been closed by the server
  before any byte of the answer arrived is sent once more on a new connection (RFC 9110
  §9.2.2); any other failure after the write is reported with ``sent=True`` (R-07);
* every failure is a :class:`~tokenward.errors.TransportError` naming the host only.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import re
import ssl
import zlib
from asyncio import staggered
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import quote

import httptools

from tokenward import __version__
from tokenward.errors import TransportError

__all__ = [
    "HAPPY_EYEBALLS_DELAY",
    "MAX_HEADER_BYTES",
    "Answer",
    "Http1Pool",
    "Origin",
    "Resolver",
    "decode_body",
    "interleave",
    "request_head",
]

#: The answer's status line and headers may not exceed this many bytes.
MAX_HEADER_BYTES = 64 * 1024
#: Idle connections kept per origin; more are closed when released.
MAX_IDLE_PER_ORIGIN = 32
#: Seconds before the next address is tried while a connection attempt is pending (RFC 8305).
HAPPY_EYEBALLS_DELAY = 0.25

#: Checked addresses to connect to for (host, port); raises TransportError to refuse.
Resolver = Callable[[str, int], Awaitable[list[str]]]

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_OURS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
# A request target needs quoting only if it holds a space, a control or non-ASCII character, or
# one of the characters RFC 3986 never allows unescaped; existing %XX escapes are kept.
_UNSAFE_TARGET = re.compile(r'[^\x21-\x7e]|["<>\\^`{|}]')
_TARGET_SAFE = "/?#[]@!$&'()*+,;=:%~-._"
_USER_AGENT = f"tokenward/{__version__}"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request goes: ``scheme``, ``host`` (lower case, IDNA) and ``port``, plus the
    ``Host`` header that names them."""

    scheme: str
    host: str
    port: int
    host_header: str

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete answer: status, headers as received (in order) and the body as sent."""

    status: int
    headers: list[tuple[bytes, bytes]] = field(repr=False)
    body: bytes = field(repr=False)


def request_head(
    method: str,
    target: str,
    origin: Origin,
    headers: Mapping[str, str],
    body_length: int,
    *,
    close: bool,
) -> bytes:
    """The request line and headers of one request (``target``: path and query)."""
    if not _TOKEN.fullmatch(method):
        raise TransportError("invalid_request", "the request method is malformed", sent=False)
    if _UNSAFE_TARGET.search(target):
        target = quote(target, safe=_TARGET_SAFE)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host_header}"]
    given = set()
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
            raise TransportError(
                "invalid_request", f"a request header for {origin.host} is malformed", sent=False
            )
        lower = name.lower()
        if lower not in _OURS:
            given.add(lower)
            lines.append(f"{name}: {value}")
    if "accept" not in given:
        lines.append("Accept: */*")
    if "accept-encoding" not in given:
        lines.append("Accept-Encoding: gzip, deflate")
    if "user-agent" not in given:
        lines.append(f"User-Agent: {_USER_AGENT}")
    if body_length or method in _WITH_BODY:
        lines.append(f"Content-Length: {body_length}")
    if close:
        lines.append("Connection: close")
    lines.append("\r\n")
    return "\r\n".join(lines).encode()


def interleave(addresses: list[str]) -> list[str]:
    """``addresses`` with their families alternating, the first address's family first
    (RFC 8305 §4): an unreachable family is never tried twice in a row."""
    first = [a for a in addresses if (":" in a) == (":" in addresses[0])] if addresses else []
    other = [a for a in addresses if a not in first]
    return [a for pair in itertools.zip_longest(first, other) for a in pair if a is not None]


def decode_body(headers: list[tuple[bytes, bytes]], body: bytes, limit: int, host: str) -> bytes:
    """``body`` decoded by its ``Content-Encoding`` (gzip, deflate), at most ``limit`` bytes.
    Other encodings are passed on as they are, with their header."""
    coding = b""
    for name, value in headers:
        if name.lower() == b"content-encoding":
            coding = value.strip().lower()
    if not body or coding not in (b"gzip", b"x-gzip", b"deflate"):
        return body
    wbits = 16 + zlib.MAX_WBITS if coding != b"deflate" else zlib.MAX_WBITS
    try:
        return _inflate(body, wbits, limit, host)
    except zlib.error:
        if coding != b"deflate":
            raise _broken(host) from None
    try:  # servers that send raw deflate without the zlib wrapper
        return _inflate(body, -zlib.MAX_WBITS, limit, host)
    except zlib.error:
        raise _broken(host) from None


def _inflate(body: bytes, wbits: int, limit: int, host: str) -> bytes:
    """Every member of ``body`` (gzip allows several), refusing a truncated stream."""
    out = bytearray()
    while body:
        inflater = zlib.decompressobj(wbits)
        out += inflater.decompress(body, limit + 1 - len(out))
        if len(out) > limit or inflater.unconsumed_tail:
            raise too_large(limit)
        out += inflater.flush()
        if len(out) > limit:
            raise too_large(limit)
        if not inflater.eof:
            raise zlib.error("truncated")
        body = inflater.unused_data
    return bytes(out)


def too_large(limit: int) -> TransportError:
    return TransportError("too_large", f"the answer exceeds {limit} bytes", sent=True)


def _broken(host: str) -> TransportError:
    return TransportError("reset", f"{host} sent an answer that is not valid HTTP", sent=True)


class _Connection(asyncio.Protocol):
    """One socket to one origin, carrying one request at a time (the parser's callbacks are
    the ``on_*`` methods)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin) -> None:
        self.loop = loop
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reused = False
        self.idle_since = 0.0
        self.waiter: asyncio.Future[None] | None = None
        self.limit = 0
        self.head = False
        self.sent = False
        self.reusable = False
        self._begin()

    def _begin(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_bytes = 0
        self.head_bytes = 0
        self.chunks: list[bytes] = []
        self.size = 0
        self.delimited = False  # Content-Length or chunked: the end is known without EOF
        self.headers_done = False
        self.complete = False
        self.interim = False
        self.received = False

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self.close()  # bytes nobody asked for: this connection cannot be trusted again
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._finish(reusable=False)
        except httptools.HttpParserError:
            self.fail(_broken(self.origin.host))
        if not self.headers_done:
            # the parser reports a header only once its line ends: count what is still open
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEADER_BYTES:
                self.fail(too_large(MAX_HEADER_BYTES))

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        if self.headers_done and not self.delimited and not self.interim:
            self._finish(reusable=False)  # a body delimited by the end of the connection
        else:
            self.fail(
                TransportError("reset", f"the connection to {self.origin.host} broke", sent=True)
            )

    # -- the parser's callbacks ----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return  # a second answer nobody asked for (the connection is closed)
        self.header_bytes += len(name) + len(value) + 4
        if self.header_bytes > MAX_HEADER_BYTES:
            self.fail(too_large(MAX_HEADER_BYTES))
            return
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        self.status = self.parser.get_status_code()
        self.headers_done = True
        self.interim = 100 <= self.status < 200 and self.status != 101
        if self.head and not self.interim:
            self._finish(reusable=False)  # the parser would wait for a body HEAD never gets
            return
        for name, value in self.headers:
            lower = name.lower()
            if lower == b"content-length":
                self.delimited = True
                # llhttp has refused a malformed length already
                if self.status not in (204, 304) and int(value) > self.limit:
                    self.fail(too_large(self.limit))
                    return
            elif lower == b"transfer-encoding":
                self.delimited = True
        if self.status in (204, 304):
            self.delimited = True

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self.size += len(body)
        if self.size > self.limit:
            self.fail(too_large(self.limit))
        else:
            self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.complete:
            return
        if self.interim:  # 100 Continue and friends: the real answer follows
            self._begin()
            self.received = True
            return
        self._finish(reusable=self.parser.should_keep_alive())

    # -- the request side ---------------------------------------------------------------------

    def usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    async def exchange(self, data: bytes, *, head: bool, limit: int, deadline: float) -> Answer:
        """Write ``data`` and wait for the whole answer (by ``deadline``, loop time)."""
        assert self.transport is not None
        self._begin()
        self.head, self.limit, self.sent, self.reusable = head, limit, False, False
        waiter = self.waiter = self.loop.create_future()
        timer = self.loop.call_at(deadline, self._timed_out)
        try:
            self.transport.write(data)
            self.sent = True
            await waiter
        except BaseException:
            self.close()  # failed or cancelled half-way: the connection's state is unknown
            raise
        finally:
            timer.cancel()
            self.waiter = None
        return Answer(self.status, self.headers, b"".join(self.chunks))

    def _finish(self, *, reusable: bool) -> None:
        if self.complete:
            return
        self.complete = True
        self.reusable = reusable and not self.closed
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def fail(self, error: TransportError) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        self.close()

    def _timed_out(self) -> None:
        host = self.origin.host
        self.fail(TransportError("timeout", f"{host} did not answer in time", sent=self.sent))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class Http1Pool:
    """Keep-alive connections of one event loop, by origin; ``await aclose()`` when done."""

    def __init__(
        self,
        resolve: Resolver,
        *,
        ssl_context: ssl.SSLContext,
        connect_timeout: float,
        keepalive: float = 15.0,
        max_connections: int = 100,
    ) -> None:
        self._resolve = resolve
        self._ssl = ssl_context
        self._connect_timeout = connect_timeout
        self._keepalive = keepalive
        self._max = max_connections
        self._loop = asyncio.get_running_loop()
        self._idle: dict[Origin, list[_Connection]] = {}
        self._busy = 0
        self._queue: collections.deque[asyncio.Future[None]] = collections.deque()
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def request(
        self,
        origin: Origin,
        method: str,
        data: bytes,
        *,
        limit: int,
        timeout: float,
        fresh: bool = False,
    ) -> Answer:
        """Send one request (``data``, from :func:`request_head` plus the body) to ``origin``
        and return the answer, its body still encoded. ``fresh``: on a connection of its own,
        closed afterwards (the request must then say ``Connection: close``)."""
        deadline = self._loop.time() + timeout
        await self._admit(origin, deadline)
        try:
            return await self._send(origin, method, data, limit, deadline, fresh)
        finally:
            self._leave()

    async def _send(
        self, origin: Origin, method: str, data: bytes, limit: int, deadline: float, fresh: bool
    ) -> Answer:
        head = method == "HEAD"
        conn = None if fresh else self._take(origin)
        if conn is None:
            conn = await self._connect(origin, deadline)
        try:
            answer = await conn.exchange(data, head=head, limit=limit, deadline=deadline)
        except TransportError as exc:
            stale = conn.reused and not conn.received and exc.kind == "reset"
            if not (stale and method in _IDEMPOTENT):
                raise
            # the server had closed the pooled connection as the request went out (RFC 9110
            # §9.2.2 allows sending an idempotent request again)
            conn = await self._connect(origin, deadline)
            answer = await conn.exchange(data, head=head, limit=limit, deadline=deadline)
        if fresh or not conn.reusable:
            conn.close()
        else:
            self._give_back(conn)
        return answer

    # -- admission: at most max_connections requests at a time ---------------------------------

    async def _admit(self, origin: Origin, deadline: float) -> None:
        if self._busy < self._max and not self._queue:
            self._busy += 1
            return
        turn = self._loop.create_future()
        self._queue.append(turn)
        timer = self._loop.call_at(deadline, _expire, turn, origin.host)
        try:
            await turn  # _leave hands its place over, so _busy is already counted
        except BaseException:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                self._leave()  # the place was handed over as the caller gave up
            else:
                turn.cancel()
            raise
        finally:
            timer.cancel()

    def _leave(self) -> None:
        while self._queue:
            turn = self._queue.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._busy -= 1

    # -- the pool --------------------------------------------------------------------------------

    def _take(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        oldest = self._loop.time() - self._keepalive
        while idle:
            conn = idle.pop()
            if conn.usable() and conn.idle_since > oldest:
                conn.reused = True
                return conn
            conn.close()
        return None

    def _give_back(self, conn: _Connection) -> None:
        idle = self._idle.setdefault(conn.origin, [])
        if self._closed or len(idle) >= MAX_IDLE_PER_ORIGIN:
            conn.close()
            return
        conn.idle_since = self._loop.time()
        idle.append(conn)
        if self._sweep is None:
            self._sweep = self._loop.call_later(self._keepalive, self._sweep_idle)

    def _sweep_idle(self) -> None:
        self._sweep = None
        oldest = self._loop.time() - self._keepalive
        for origin, idle in list(self._idle.items()):
            kept = [c for c in idle if c.usable() and c.idle_since > oldest]
            for conn in idle:
                if conn not in kept:
                    conn.close()
            if kept:
                self._idle[origin] = kept
            else:
                del self._idle[origin]
        if self._idle:
            self._sweep = self._loop.call_later(self._keepalive, self._sweep_idle)

    async def _connect(self, origin: Origin, deadline: float) -> _Connection:
        """A new connection to one of the origin's checked addresses. They are tried as RFC 8305
        says (families interleaved, the next attempt started after :data:`HAPPY_EYEBALLS_DELAY`
        while earlier ones are still pending), so an address that never answers (a broken IPv6
        route) costs a quarter of a second, not the connect timeout."""
        addresses = interleave(await self._resolve(origin.host, origin.port))
        opened: list[_Connection] = []

        async def attempt(address: str) -> _Connection:
            conn = _Connection(self._loop, origin)
            opened.append(conn)
            await self._open(conn, address)
            return conn

        wait = max(min(self._connect_timeout, deadline - self._loop.time()), 0.001)
        winner: _Connection | None = None
        try:
            async with asyncio.timeout(wait):
                winner, _, _ = await staggered.staggered_race(
                    [functools.partial(attempt, address) for address in addresses],
                    HAPPY_EYEBALLS_DELAY,
                )
        except TimeoutError:
            raise TransportError(
                "timeout", f"{origin.host} did not answer in time", sent=False
            ) from None
        finally:
            for conn in opened:  # a loser that connected all the same is not kept
                if conn is not winner:
                    conn.close()
        if winner is None:  # every address refused: refused, unreachable, TLS failure
            raise _unreachable(origin)
        return winner

    async def _open(self, conn: _Connection, address: str) -> None:
        origin = conn.origin
        await self._loop.create_connection(
            lambda: conn,
            address,
            origin.port,
            ssl=self._ssl if origin.tls else None,
            server_hostname=origin.host if origin.tls else None,
        )

    async def aclose(self) -> None:
        """Close the idle connections; busy ones close when their answer is in."""
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


def _unreachable(origin: Origin) -> TransportError:
    return TransportError("connect", f"could not connect to {origin.host}", sent=False)


def _expire(turn: asyncio.Future[None], host: str) -> None:
    if not turn.done():
        turn.set_exception(TransportError("timeout", f"{host} did not answer in time", sent=False))
