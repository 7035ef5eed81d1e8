"""One HTTP/1.1 connection of tokenward's client (:mod:`~tokenward.outbound.http1`): an asyncio
protocol feeding the llhttp parser (``httptools``), carrying one request at a time.

* the answer's headers are capped (:data:`MAX_HEADER_BYTES`, also while a header line is still
  open) and its body is capped as declared and as it arrives;
* chunked bodies, bodies delimited by the end of the connection, ``HEAD`` and interim (1xx)
  answers are handled by the parser's rules; bytes nobody asked for close the connection;
* a failure after the write carries ``sent=True`` (R-07); a cancelled or failed exchange closes
  the connection, whose state is then unknown.
"""

from __future__ import annotations

import asyncio
from typing import cast

import httptools

from tokenward.errors import TransportError
from tokenward.outbound.http1_messages import Answer, Origin, broken, too_large

__all__ = ["MAX_HEADER_BYTES", "Http1Connection"]

#: The answer's status line and headers may not exceed this many bytes.
MAX_HEADER_BYTES = 64 * 1024


class Http1Connection(asyncio.Protocol):
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
            self.fail(broken(self.origin.host))
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
