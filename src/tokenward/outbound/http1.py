"""A lean HTTP/1.1 client: asyncio protocols, the llhttp parser (``httptools``) and a keep-alive
pool. :class:`~tokenward.outbound.transport.Transport` puts the egress policy on top of it.

Why not a general-purpose client: an API call through tokenward spends most of its own CPU on
the outbound request, and a general client's per-request machinery (request and response
objects, tracing hooks, cookie and redirect handling, streams) cost more than the rest of the
call (``bench/outbound_clients.py``, docs/benchmarks.md). It does only what the transport needs,
in three modules: the messages as data (:mod:`~tokenward.outbound.http1_messages`), one
connection (:mod:`~tokenward.outbound.http1_connection`) and, here, the pool:

* one request at a time per connection; a connection returns to the pool only after a complete
  answer that allows keep-alive, and idle connections are closed after ``keepalive`` seconds;
* at most ``max_connections`` requests at a time; the others wait for a place until their
  deadline;
* a name's addresses are tried as RFC 8305 says (families interleaved, the next attempt after
  :data:`HAPPY_EYEBALLS_DELAY` while one is pending);
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
import ssl
from asyncio import staggered
from collections.abc import Awaitable, Callable

from tokenward.errors import TransportError
from tokenward.outbound.http1_connection import MAX_HEADER_BYTES, Http1Connection
from tokenward.outbound.http1_messages import Answer, Origin

__all__ = ["HAPPY_EYEBALLS_DELAY", "MAX_HEADER_BYTES", "Http1Pool", "Resolver", "interleave"]

#: Idle connections kept per origin; more are closed when released.
MAX_IDLE_PER_ORIGIN = 32
#: Seconds before the next address is tried while a connection attempt is pending (RFC 8305).
HAPPY_EYEBALLS_DELAY = 0.25

#: Checked addresses to connect to for (host, port); raises TransportError to refuse.
Resolver = Callable[[str, int], Awaitable[list[str]]]

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})


def interleave(addresses: list[str]) -> list[str]:
    """``addresses`` with their families alternating, the first address's family first
    (RFC 8305 §4): an unreachable family is never tried twice in a row."""
    first = [a for a in addresses if (":" in a) == (":" in addresses[0])] if addresses else []
    other = [a for a in addresses if a not in first]
    return [a for pair in itertools.zip_longest(first, other) for a in pair if a is not None]


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
        self._idle: dict[Origin, list[Http1Connection]] = {}
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

    def _take(self, origin: Origin) -> Http1Connection | None:
        idle = self._idle.get(origin)
        oldest = self._loop.time() - self._keepalive
        while idle:
            conn = idle.pop()
            if conn.usable() and conn.idle_since > oldest:
                conn.reused = True
                return conn
            conn.close()
        return None

    def _give_back(self, conn: Http1Connection) -> None:
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

    async def _connect(self, origin: Origin, deadline: float) -> Http1Connection:
        """A new connection to one of the origin's checked addresses. They are tried as RFC 8305
        says (families interleaved, the next attempt started after :data:`HAPPY_EYEBALLS_DELAY`
        while earlier ones are still pending), so an address that never answers (a broken IPv6
        route) costs a quarter of a second, not the connect timeout."""
        addresses = interleave(await self._resolve(origin.host, origin.port))
        opened: list[Http1Connection] = []

        async def attempt(address: str) -> Http1Connection:
            conn = Http1Connection(self._loop, origin)
            opened.append(conn)
            await self._open(conn, address)
            return conn

        wait = max(min(self._connect_timeout, deadline - self._loop.time()), 0.001)
        winner: Http1Connection | None = None
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

    async def _open(self, conn: Http1Connection, address: str) -> None:
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
