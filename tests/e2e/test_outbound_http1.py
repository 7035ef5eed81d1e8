"""The HTTP/1.1 client under the transport, against loopback servers scripted byte for byte:
keep-alive and its limits, body framing (Content-Length, chunked, end of connection, HEAD, 1xx),
decompression, caps, request serialization and header injection, stale pooled connections,
timeouts, concurrency, cancellation, idle expiry, TLS and aclose (T-07, R-07, L-02).

What ``test_outbound_transport.py`` proves already (redirects, oversized answers from aiohttp,
P-03 refusals, token requests on fresh connections, the provider double's delays and drops) is
not repeated here. Only loopback traffic.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from socket import AF_INET, SOCK_STREAM, socket
from typing import Any, Protocol

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tokenward import __version__
from tokenward.errors import TransportError
from tokenward.oauth.requests import HttpRequest
from tokenward.outbound.http1 import MAX_HEADER_BYTES, interleave
from tokenward.outbound.transport import Headers, Transport

LIMIT = 4096

# -- the scripted server -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """What the server does with one request: wait ``delay``, write ``data`` as it is, then
    close (``close``), wait for the client to go away (``hang``) or read the next request."""

    data: bytes = b""
    close: bool = False
    delay: float = 0.0
    hang: bool = False


@dataclass(frozen=True, slots=True)
class Seen:
    """One request as the server received it, on its ``connection``-th accepted connection."""

    connection: int
    head: bytes
    body: bytes

    @property
    def lines(self) -> list[str]:
        return self.head.decode("latin-1").split("\r\n")[:-2]

    def values(self, name: str) -> list[str]:
        """The values of every header line called ``name`` (any case)."""
        pairs = (line.split(":", 1) for line in self.lines[1:])
        return [value.strip() for key, value in pairs if key.lower() == name.lower()]


def raw(*lines: str, body: bytes = b"") -> bytes:
    """A status line and headers, exactly as given, then ``body``."""
    return "".join(f"{line}\r\n" for line in lines).encode("latin-1") + b"\r\n" + body


def ok(body: bytes = b"ok", *headers: str, version: str = "HTTP/1.1") -> Reply:
    """A 200 with ``body`` and its Content-Length (keep-alive by HTTP/1.1's default)."""
    return Reply(raw(f"{version} 200 OK", f"Content-Length: {len(body)}", *headers, body=body))


@dataclass
class Scripted:
    """A loopback server answering its n-th request with the n-th reply (the last repeats).
    It records the requests it read, the connections it accepted and how many of them the
    client ended (EOF or reset), and the most requests it held unanswered at once."""

    replies: list[Reply]
    tls: ssl.SSLContext | None = None
    seen: list[Seen] = field(default_factory=list)
    accepted: int = 0
    ended: int = 0
    busy: int = 0
    most_busy: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, target: str = "/", scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{target}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def until(self, condition: Callable[[], bool], timeout: float = 3.0) -> None:
        """Wait until ``condition()`` holds (the client's actions reach us asynchronously)."""
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.005)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        try:
            await self._converse(self.accepted, reader, writer)
        except ConnectionError:
            self.ended += 1
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _converse(
        self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                body = await reader.readexactly(_content_length(head))
            except asyncio.IncompleteReadError:
                self.ended += 1
                return
            self.seen.append(Seen(number, head, body))
            reply = self.replies[min(len(self.seen), len(self.replies)) - 1]
            await self._write(reply, writer)
            if reply.hang:
                await reader.read()  # until the client closes its end
                self.ended += 1
                return
            if reply.close:
                return

    async def _write(self, reply: Reply, writer: asyncio.StreamWriter) -> None:
        self.busy += 1
        self.most_busy = max(self.most_busy, self.busy)
        try:
            await asyncio.sleep(reply.delay)
            writer.write(reply.data)
            await writer.drain()
        finally:
            self.busy -= 1


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class Serve(Protocol):
    def __call__(self, *replies: Reply, tls: ssl.SSLContext | None = None) -> Awaitable[Scripted]:
        """Start a scripted server (stopped after the test)."""


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    started: list[Scripted] = []

    async def start(*replies: Reply, tls: ssl.SSLContext | None = None) -> Scripted:
        server = Scripted(list(replies) or [ok()], tls)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    sender = Transport(allow_insecure_http=True, max_body_bytes=LIMIT)
    yield sender
    await sender.aclose()


def request(url: str, method: str = "GET", body: bytes = b"", **headers: str) -> HttpRequest:
    return HttpRequest(method, url, headers, body)


async def refused(transport: Transport, req: HttpRequest, timeout: float = 3) -> TransportError:
    """The TransportError sending ``req`` ends in."""
    with pytest.raises(TransportError) as caught:
        await transport.send(req, timeout=timeout)
    return caught.value


# -- keep-alive ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "connections"),
    [
        (ok(), 1),
        (ok(b"ok", "Connection: close"), 2),
        (ok(b"ok", version="HTTP/1.0"), 2),
        (ok(b"ok", "Connection: keep-alive", version="HTTP/1.0"), 1),
    ],
    ids=["http11-default", "connection-close", "http10", "http10-keep-alive"],
)
async def test_keepalive_is_used_only_when_the_answer_allows_it(
    serve: Serve, transport: Transport, first: Reply, connections: int
) -> None:
    """Two GETs share one connection unless the first answer says close (or is plain HTTP/1.0)."""
    server = await serve(first, ok(b"second"))  # the server itself never closes
    assert (await transport.send(request(server.url("/1")), timeout=3)).body == b"ok"
    assert (await transport.send(request(server.url("/2")), timeout=3)).body == b"second"
    assert server.accepted == connections
    assert [seen.connection for seen in server.seen] == [1, connections]


# -- body framing ----------------------------------------------------------------------------------


async def test_a_chunked_body_is_reassembled_exactly(serve: Serve, transport: Transport) -> None:
    """Chunks with extensions and trailers give the exact body; the connection is reused."""
    chunked = raw(
        "HTTP/1.1 200 OK",
        "Transfer-Encoding: chunked",
        body=b"5;name=value\r\nhello\r\n1\r\n \r\n"
        b'a;x=1;y="q"\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n',
    )
    server = await serve(Reply(chunked), ok())
    answer = await transport.send(request(server.url()), timeout=3)
    assert (answer.status, answer.body) == (200, b"hello 0123456789")
    assert (await transport.send(request(server.url()), timeout=3)).body == b"ok"
    assert server.accepted == 1


async def test_a_body_ended_by_closing_is_complete_and_not_reused(
    serve: Serve, transport: Transport
) -> None:
    """No Content-Length, not chunked: the body runs to the close; the next request reconnects."""
    body = b"x" * 3000
    server = await serve(Reply(raw("HTTP/1.1 200 OK", body=body), close=True), ok())
    assert (await transport.send(request(server.url()), timeout=3)).body == body
    assert (await transport.send(request(server.url()), timeout=3)).body == b"ok"
    assert server.accepted == 2


async def test_head_is_answered_without_a_body_and_not_reused(
    serve: Serve, transport: Transport
) -> None:
    """HEAD returns at the end of the headers (no body awaited); its connection is closed."""
    head = Reply(raw("HTTP/1.1 200 OK", "Content-Length: 100"))  # and no body, as HEAD requires
    server = await serve(head, ok())
    started = time.monotonic()
    answer = await transport.send(request(server.url(), "HEAD"), timeout=3)
    assert time.monotonic() - started < 1
    assert (answer.status, answer.body, answer.headers["Content-Length"]) == (200, b"", "100")
    await server.until(lambda: server.ended == 1)
    assert (await transport.send(request(server.url()), timeout=3)).body == b"ok"
    assert server.accepted == 2


@pytest.mark.parametrize(
    "interim",
    ["HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"],
    ids=["100", "103"],
)
async def test_interim_answers_are_skipped(
    serve: Serve, transport: Transport, interim: str
) -> None:
    """A 1xx before the final answer is skipped; the final status, headers and body come back."""
    final = raw("HTTP/1.1 201 Created", "Content-Length: 4", "X-Final: yes", body=b"done")
    server = await serve(Reply(interim.encode() + final), ok())
    answer = await transport.send(request(server.url(), "POST", b"{}"), timeout=3)
    assert (answer.status, answer.body) == (201, b"done")
    assert list(answer.headers) == ["Content-Length", "X-Final"]
    assert (await transport.send(request(server.url()), timeout=3)).body == b"ok"
    assert server.accepted == 1


# -- content encodings -----------------------------------------------------------------------------

PAYLOAD = b'{"access_token": "abc", "token_type": "bearer"}' * 20


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("coding", "encoded"),
    [
        ("gzip", gzip.compress(PAYLOAD)),
        ("x-gzip", gzip.compress(PAYLOAD)),
        ("deflate", zlib.compress(PAYLOAD)),
        ("deflate", _raw_deflate(PAYLOAD)),
    ],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw"],
)
async def test_compressed_answers_are_decoded(
    serve: Serve, transport: Transport, coding: str, encoded: bytes
) -> None:
    """gzip and deflate (zlib-wrapped or raw) bodies are decoded; the request asked for them."""
    server = await serve(ok(encoded, f"Content-Encoding: {coding}"))
    answer = await transport.send(request(server.url()), timeout=3)
    assert answer.body == PAYLOAD
    assert server.seen[0].values("Accept-Encoding") == ["gzip, deflate"]


async def test_an_unknown_encoding_is_passed_through(serve: Serve, transport: Transport) -> None:
    """A ``br`` body comes back as sent, with its Content-Encoding header."""
    server = await serve(ok(b"\x8b\x02\x80opaque\x03", "Content-Encoding: br"))
    answer = await transport.send(request(server.url()), timeout=3)
    assert answer.body == b"\x8b\x02\x80opaque\x03"
    assert answer.headers["content-encoding"] == "br"


@pytest.mark.parametrize(
    ("coding", "encoded"),
    [
        ("gzip", b"\x1f\x8b\x08\x00garbage that is not deflate"),
        ("gzip", gzip.compress(PAYLOAD)[:-8] + b"\x00\x00\x00\x00\x00\x00\x00\x00"),
        ("gzip", gzip.compress(PAYLOAD)[:40]),
        ("deflate", b"\xff\xfe not deflate at all"),
    ],
    ids=["gzip-garbage", "gzip-bad-checksum", "gzip-truncated", "deflate-garbage"],
)
async def test_r07_a_corrupt_compressed_body_is_a_reset(
    serve: Serve, transport: Transport, coding: str, encoded: bytes
) -> None:
    """A body that does not decode by its Content-Encoding → kind=reset, sent=True."""
    server = await serve(ok(encoded, f"Content-Encoding: {coding}"))
    error = await refused(transport, request(server.url()))
    assert (error.kind, error.sent) == ("reset", True)


async def test_t07_a_decompression_bomb_is_too_large(serve: Serve, transport: Transport) -> None:
    """A small gzip body that inflates past max_body_bytes → kind=too_large, sent=True."""
    bomb = gzip.compress(b"\0" * (1024 * 1024))
    assert len(bomb) < LIMIT
    server = await serve(ok(bomb, "Content-Encoding: gzip"))
    error = await refused(transport, request(server.url()))
    assert (error.kind, error.sent) == ("too_large", True)


# -- caps ------------------------------------------------------------------------------------------


async def test_t07_a_declared_length_over_the_cap_fails_before_any_body(
    serve: Serve, transport: Transport
) -> None:
    """Content-Length over the cap → too_large at once, though the server never sends a body."""
    server = await serve(Reply(raw("HTTP/1.1 200 OK", f"Content-Length: {10**9}"), hang=True))
    started = time.monotonic()
    error = await refused(transport, request(server.url()), timeout=3)
    assert (error.kind, error.sent) == ("too_large", True)
    assert time.monotonic() - started < 1


async def test_t07_a_chunked_body_fails_as_soon_as_it_passes_the_cap(
    serve: Serve, transport: Transport
) -> None:
    """A chunked body that never ends is refused once it passes the cap, not at the timeout."""
    chunks = b"400\r\n" + b"x" * 0x400 + b"\r\n"
    endless = raw("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", body=chunks * 5)
    server = await serve(Reply(endless, hang=True))
    started = time.monotonic()
    error = await refused(transport, request(server.url()), timeout=3)
    assert (error.kind, error.sent) == ("too_large", True)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "headers",
    [
        [f"X-Filler-{n}: {'v' * 1000}" for n in range(70)],
        [f"X-Huge: {'v' * (MAX_HEADER_BYTES + 1)}"],
    ],
    ids=["many", "one-huge"],
)
async def test_t07_headers_over_the_cap_are_too_large(
    serve: Serve, transport: Transport, headers: list[str]
) -> None:
    """Answer headers over MAX_HEADER_BYTES (64 KiB) → kind=too_large, sent=True."""
    server = await serve(Reply(raw("HTTP/1.1 200 OK", *headers, "Content-Length: 0")))
    error = await refused(transport, request(server.url()))
    assert (error.kind, error.sent) == ("too_large", True)


async def test_t07_an_endless_header_is_refused_once_it_passes_the_cap(
    serve: Serve, transport: Transport
) -> None:
    """A header line that never ends is refused after 64 KiB, not buffered until the timeout."""
    endless = b"HTTP/1.1 200 OK\r\nX-Endless: " + b"v" * (4 * MAX_HEADER_BYTES)
    server = await serve(Reply(endless, hang=True))
    error = await refused(transport, request(server.url()), timeout=1.5)
    assert (error.kind, error.sent) == ("too_large", True)


@pytest.mark.parametrize(
    ("method", "status"),
    [("HEAD", "200 OK"), ("GET", "204 No Content"), ("GET", "304 Not Modified")],
)
async def test_an_answer_without_a_body_ignores_a_large_content_length(
    serve: Serve, transport: Transport, method: str, status: str
) -> None:
    """HEAD, 204 and 304 have no body: a Content-Length over the cap is not an error."""
    big = f"Content-Length: {LIMIT * 1000}"
    server = await serve(Reply(raw(f"HTTP/1.1 {status}", big)))
    answer = await transport.send(request(server.url(), method), timeout=3)
    assert (answer.status, answer.body) == (int(status[:3]), b"")


# -- request serialization -------------------------------------------------------------------------


async def test_the_request_line_host_and_default_headers(
    serve: Serve, transport: Transport
) -> None:
    """One ``GET /path?q=1 HTTP/1.1`` line, Host with its port, Accept, User-Agent; no fragment."""
    server = await serve()
    await transport.send(request(server.url("/path?q=1#fragment")), timeout=3)
    seen = server.seen[0]
    assert seen.lines[0] == "GET /path?q=1 HTTP/1.1"
    assert seen.head.count(b"HTTP/1.1") == 1
    assert b"fragment" not in seen.head
    assert seen.values("Host") == [f"127.0.0.1:{server.port}"]
    assert seen.values("Accept") == ["*/*"]
    assert seen.values("User-Agent") == [f"tokenward/{__version__}"]
    assert seen.values("Content-Length") == []
    assert seen.values("Connection") == []


async def test_the_callers_accept_and_user_agent_win(serve: Serve, transport: Transport) -> None:
    """Caller-given Accept and User-Agent (any case) replace the defaults, without duplicates."""
    server = await serve()
    headers = {"accept": "application/json", "USER-AGENT": "partner/2"}
    await transport.send(HttpRequest("GET", server.url(), headers), timeout=3)
    seen = server.seen[0]
    assert seen.values("Accept") == ["application/json"]
    assert seen.values("User-Agent") == ["partner/2"]


@pytest.mark.parametrize("body", [b"grant_type=client_credentials", b""], ids=["body", "empty"])
async def test_a_post_carries_its_content_length(
    serve: Serve, transport: Transport, body: bytes
) -> None:
    """A POST says ``Content-Length`` (0 when empty) and the server reads exactly its body."""
    server = await serve(ok(), ok())
    await transport.send(request(server.url("/token"), "POST", body), timeout=3)
    await transport.send(request(server.url("/next")), timeout=3)  # framing left nothing over
    assert server.seen[0].values("Content-Length") == [str(len(body))]
    assert server.seen[0].body == body
    assert server.seen[1].lines[0] == "GET /next HTTP/1.1"


async def test_framing_headers_from_the_caller_are_not_sent(
    serve: Serve, transport: Transport
) -> None:
    """Caller-given Host, Content-Length, Connection and Transfer-Encoding are replaced by ours."""
    server = await serve()
    forged = {
        "Host": "evil.example",
        "content-length": "999",
        "Connection": "keep-alive, Upgrade",
        "Transfer-Encoding": "chunked",
    }
    await transport.send(HttpRequest("POST", server.url(), forged, b"abc"), timeout=3)
    seen = server.seen[0]
    assert seen.values("Host") == [f"127.0.0.1:{server.port}"]
    assert seen.values("Content-Length") == ["3"]
    assert seen.values("Connection") == []
    assert seen.values("Transfer-Encoding") == []
    assert seen.body == b"abc"


async def test_a_fresh_connection_says_close_and_is_not_reused(
    serve: Serve, transport: Transport
) -> None:
    """``fresh_connection=True`` sends ``Connection: close``; the next request reconnects."""
    server = await serve()
    await transport.send(request(server.url()), timeout=3, fresh_connection=True)
    await server.until(lambda: server.ended == 1)  # we closed it though the server kept it open
    await transport.send(request(server.url()), timeout=3)
    assert server.seen[0].values("Connection") == ["close"]
    assert server.seen[1].values("Connection") == []
    assert server.accepted == 2


@pytest.mark.parametrize(
    ("target", "sent"),
    [
        ("/a b/caf\u00e9?q=x y", "/a%20b/caf%C3%A9?q=x%20y"),
        ("/files/a%2Fb c", "/files/a%2Fb%20c"),
        ("/files/a%2Fb?x=%3D", "/files/a%2Fb?x=%3D"),
    ],
    ids=["space-and-non-ascii", "escape-kept-while-quoting", "escape-kept-as-is"],
)
async def test_unsafe_target_characters_are_percent_encoded(
    serve: Serve, transport: Transport, target: str, sent: str
) -> None:
    """Spaces and non-ASCII in the path or query are %-encoded; existing %XX escapes stay."""
    server = await serve()
    await transport.send(request(server.url(f"{target}#frag ment")), timeout=3)
    assert server.seen[0].lines[0] == f"GET {sent} HTTP/1.1"


async def test_l02_the_credential_travels_in_the_authorization_header_only(
    serve: Serve, transport: Transport
) -> None:
    """A bearer token given as a header is sent once, in that header, never in the target."""
    server = await serve()
    token = "tok-3f9a0c2e"
    await transport.send(request(server.url("/api"), Authorization=f"Bearer {token}"), timeout=3)
    seen = server.seen[0]
    assert seen.values("Authorization") == [f"Bearer {token}"]
    assert seen.head.count(token.encode()) == 1
    assert token not in seen.lines[0]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Note", "a\r\nX-Injected: 1"),
        ("X-Note", "a\nX-Injected: 1"),
        ("X-Note", "a\rb"),
        ("X-Note", "a\x00b"),
        ("X Note", "a"),
        ("X-Note:", "a"),
        ("X-Injected: 1\r\nX-Note", "a"),
        ("", "a"),
    ],
    ids=["crlf", "lf", "cr", "nul", "name-space", "name-colon", "name-crlf", "name-empty"],
)
async def test_header_injection_is_refused_before_any_connection(
    serve: Serve, transport: Transport, name: str, value: str
) -> None:
    """A header value with CR, LF or NUL, or a name that is no token → invalid_request, unsent."""
    server = await serve()
    error = await refused(transport, HttpRequest("GET", server.url(), {name: value}))
    assert (error.kind, error.sent) == ("invalid_request", False)
    assert "X-Injected" not in str(error)
    await asyncio.sleep(0.05)
    assert server.accepted == 0


@pytest.mark.parametrize("method", ["GET /x HTTP/1.1\r\nX-Injected: 1\r\n", "GE T", ""])
async def test_a_malformed_method_is_refused_before_any_connection(
    serve: Serve, transport: Transport, method: str
) -> None:
    """A request method that is no token (a space, a line break, nothing) → invalid_request."""
    server = await serve()
    error = await refused(transport, HttpRequest(method, server.url(), {}))
    assert (error.kind, error.sent) == ("invalid_request", False)
    await asyncio.sleep(0.05)
    assert server.accepted == 0


# -- lost answers (R-07) ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_r07_an_idempotent_request_on_a_stale_connection_is_sent_once_more(
    serve: Serve, transport: Transport, method: str
) -> None:
    """The pooled connection closes without a byte of answer: sent again on a new connection."""
    body = b"{}" if method == "PUT" else b""
    server = await serve(ok(), Reply(close=True), ok(b"again"))
    await transport.send(request(server.url("/first")), timeout=3)
    answer = await transport.send(request(server.url("/second"), method, body), timeout=3)
    assert answer.body == b"again"
    assert [seen.connection for seen in server.seen] == [1, 1, 2]
    assert (server.seen[1].head, server.seen[1].body) == (server.seen[2].head, body)
    assert server.seen[2].lines[0] == f"{method} /second HTTP/1.1"


async def test_r07_a_post_on_a_stale_connection_is_not_sent_again(
    serve: Serve, transport: Transport
) -> None:
    """The same race for a POST → kind=reset, sent=True; the server saw it once."""
    server = await serve(ok(), Reply(close=True), ok())
    await transport.send(request(server.url("/first")), timeout=3)
    error = await refused(transport, request(server.url("/token"), "POST", b"code=1"))
    assert (error.kind, error.sent) == ("reset", True)
    assert [seen.lines[0] for seen in server.seen] == [
        "GET /first HTTP/1.1",
        "POST /token HTTP/1.1",
    ]
    assert server.accepted == 1


async def test_r07_a_get_on_a_new_connection_that_breaks_is_not_sent_again(
    serve: Serve, transport: Transport
) -> None:
    """Only a *pooled* connection may have gone stale: a new one that breaks → reset, sent=True."""
    server = await serve(Reply(close=True), ok())
    error = await refused(transport, request(server.url()))
    assert (error.kind, error.sent) == ("reset", True)
    assert (len(server.seen), server.accepted) == (1, 1)


async def test_r07_a_get_whose_answer_broke_half_way_is_not_sent_again(
    serve: Serve, transport: Transport
) -> None:
    """Part of the answer arrived on a pooled connection before it broke → reset, no retry."""
    partial = Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", close=True)
    server = await serve(ok(), partial, ok())
    await transport.send(request(server.url()), timeout=3)
    error = await refused(transport, request(server.url()))
    assert (error.kind, error.sent) == ("reset", True)
    assert (len(server.seen), server.accepted) == (2, 1)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 abc\r\n\r\n",
        b"\x00\x17garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    ],
    ids=["bad-status", "garbage", "bad-length"],
)
async def test_r07_a_malformed_answer_is_a_reset_naming_the_host_only(
    serve: Serve, transport: Transport, answer: bytes
) -> None:
    """Bytes that are not HTTP → kind=reset, sent=True; the message has no path, query or header."""
    server = await serve(Reply(answer, hang=True))
    secret_request = request(
        server.url("/v1/secret-path?api_key=query-secret"), Authorization="Bearer header-secret"
    )
    error = await refused(transport, secret_request)
    assert (error.kind, error.sent) == ("reset", True)
    assert "127.0.0.1" in str(error)
    for secret in ("secret-path", "query-secret", "header-secret", "api_key"):
        assert secret not in str(error)


# -- timeouts --------------------------------------------------------------------------------------


async def test_t07_a_silent_server_is_a_timeout_after_sending(
    serve: Serve, transport: Transport
) -> None:
    """A server that accepts and never answers → kind=timeout, sent=True, about on time."""
    server = await serve(Reply(hang=True))
    started = time.monotonic()
    error = await refused(transport, request(server.url()), timeout=0.3)
    elapsed = time.monotonic() - started
    assert (error.kind, error.sent) == ("timeout", True)
    assert 0.25 < elapsed < 1.3
    await server.until(lambda: server.ended == 1)  # and the connection is given up


async def test_t07_a_closed_port_is_a_connect_failure_before_sending(transport: Transport) -> None:
    """Nothing listens on the port → kind=connect, sent=False."""
    with socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = await refused(transport, request(f"http://127.0.0.1:{port}/"))
    assert (error.kind, error.sent) == ("connect", False)


# -- answer headers --------------------------------------------------------------------------------


async def test_answer_headers_are_case_insensitive_and_repeats_are_joined(
    serve: Serve, transport: Transport
) -> None:
    """Lookup in any case, the server's names on iteration, a repeated header joined by ", "."""
    server = await serve(ok(b"{}", "Content-Type: application/json", "X-Multi: a", "X-Multi: b"))
    answer = await transport.send(request(server.url()), timeout=3)
    headers = answer.headers
    assert isinstance(headers, Headers)
    assert headers["content-type"] == headers["Content-Type"] == "application/json"
    assert list(headers) == ["Content-Length", "Content-Type", "X-Multi"]
    assert headers["x-multi"] == "a, b"
    assert len(headers) == 3
    assert "CONTENT-TYPE" in headers
    assert headers.get("X-Absent") is None


async def test_answer_headers_repr_shows_names_only(serve: Serve, transport: Transport) -> None:
    """repr of the headers (and of the answer) names headers but shows no value and no body."""
    server = await serve(ok(b"body-secret", "Set-Cookie: sid=cookie-secret"))
    answer = await transport.send(request(server.url()), timeout=3)
    for shown in (repr(answer.headers), repr(answer)):
        assert "Set-Cookie" in shown
        assert "cookie-secret" not in shown
        assert "body-secret" not in shown


# -- concurrency, cancellation, idle connections ---------------------------------------------------


async def test_at_most_max_connections_requests_are_in_flight(serve: Serve) -> None:
    """With max_connections=2, six concurrent requests never hold more than two at the server."""
    server = await serve(Reply(ok().data, delay=0.2))
    limited = Transport(allow_insecure_http=True, max_connections=2)
    try:
        sends = [limited.send(request(server.url(f"/{n}")), timeout=5) for n in range(6)]
        answers = await asyncio.gather(*sends)
    finally:
        await limited.aclose()
    assert [answer.status for answer in answers] == [200] * 6
    assert (server.most_busy, server.accepted, len(server.seen)) == (2, 2, 6)


async def test_t07_waiting_for_a_place_past_the_timeout_is_a_timeout_before_sending(
    serve: Serve,
) -> None:
    """A request queued behind max_connections beyond its timeout → timeout, sent=False."""
    server = await serve(Reply(ok().data, delay=0.5), ok())
    limited = Transport(allow_insecure_http=True, max_connections=1)
    try:
        first = asyncio.create_task(limited.send(request(server.url("/slow")), timeout=5))
        await server.until(lambda: len(server.seen) == 1)
        error = await refused(limited, request(server.url("/queued")), timeout=0.1)
        assert (error.kind, error.sent) == ("timeout", False)
        assert (await first).status == 200
        assert (await limited.send(request(server.url("/after")), timeout=2)).status == 200
    finally:
        await limited.aclose()
    assert [seen.lines[0] for seen in server.seen] == ["GET /slow HTTP/1.1", "GET /after HTTP/1.1"]


async def test_a_cancelled_request_closes_its_connection(serve: Serve) -> None:
    """Cancelling mid-request closes that connection and frees its place; the next one works."""
    server = await serve(Reply(hang=True), ok())
    limited = Transport(allow_insecure_http=True, max_connections=1)
    try:
        task = asyncio.create_task(limited.send(request(server.url("/hang")), timeout=5))
        await server.until(lambda: len(server.seen) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.until(lambda: server.ended == 1)
        assert (await limited.send(request(server.url("/next")), timeout=2)).body == b"ok"
    finally:
        await limited.aclose()
    assert server.accepted == 2


async def test_idle_connections_expire_after_keepalive(serve: Serve) -> None:
    """keepalive=0.2: the sweeper closes the idle socket; the next request opens a new one."""
    server = await serve()
    brief = Transport(allow_insecure_http=True, keepalive=0.2)
    try:
        await brief.send(request(server.url()), timeout=3)
        await asyncio.sleep(0.5)
        assert server.ended == 1
        await brief.send(request(server.url()), timeout=3)
    finally:
        await brief.aclose()
    assert server.accepted == 2


async def test_aclose_closes_idle_connections_and_a_later_send_works(
    serve: Serve, transport: Transport
) -> None:
    """After aclose the server sees EOF on the idle socket; a later send opens a new pool."""
    server = await serve()
    await transport.send(request(server.url()), timeout=3)
    await transport.aclose()
    await server.until(lambda: server.ended == 1)
    assert (await transport.send(request(server.url()), timeout=3)).status == 200
    assert server.accepted == 2


# -- TLS -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pki:
    """A private CA and two server certificates it signed, as PEM files."""

    ca: Path
    localhost: tuple[Path, Path]  # certificate and key for localhost and 127.0.0.1
    other: tuple[Path, Path]  # certificate and key for other.example only

    def server(self, pair: tuple[Path, Path]) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*pair)
        return context


def _certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    names: list[x509.GeneralName],
) -> x509.Certificate:
    """A certificate for ``name``: a CA's own when ``issuer`` is None, else a server's."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if issuer is None:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        server_auth = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
        builder = builder.add_extension(server_auth, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(
    folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> tuple[Path, Path]:
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA made for this module, and its certificates for localhost and other.example."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("tokenward test CA", ca_key, None, [])
    issuer = (ca.subject, ca_key)
    servers: dict[str, list[x509.GeneralName]] = {
        "localhost": [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))],
        "other": [x509.DNSName("other.example")],
    }
    pairs = {}
    for stem, names in servers.items():
        key = ec.generate_private_key(ec.SECP256R1())
        pairs[stem] = _write(folder, stem, _certificate(stem, key, issuer, names), key)
    ca_path, _ = _write(folder, "ca", ca, ca_key)
    return Pki(ca_path, pairs["localhost"], pairs["other"])


async def test_t07_tls_to_a_trusted_certificate_works_and_reuses_the_connection(
    serve: Serve, pki: Pki
) -> None:
    """With the private CA trusted, https://localhost answers and keeps its connection."""
    server = await serve(tls=pki.server(pki.localhost))
    trusting = Transport(
        allow_insecure_http=True, ssl_context=ssl.create_default_context(cafile=pki.ca)
    )
    try:
        for _ in range(2):
            answer = await trusting.send(
                request(server.url(scheme="https", host="localhost")), timeout=3
            )
            assert answer.body == b"ok"
    finally:
        await trusting.aclose()
    assert (server.accepted, len(server.seen)) == (1, 2)
    assert server.seen[0].values("Host") == [f"localhost:{server.port}"]


async def test_t07_a_certificate_from_an_unknown_ca_is_a_connect_failure(
    serve: Serve, transport: Transport, pki: Pki
) -> None:
    """The system CAs do not know the private CA → kind=connect, sent=False; nothing is read."""
    server = await serve(tls=pki.server(pki.localhost))
    error = await refused(transport, request(server.url(scheme="https", host="localhost")))
    assert (error.kind, error.sent) == ("connect", False)
    assert server.seen == []


async def test_t07_a_certificate_for_another_name_is_a_connect_failure(
    serve: Serve, pki: Pki
) -> None:
    """A trusted CA's certificate for other.example does not do for localhost → connect."""
    server = await serve(tls=pki.server(pki.other))
    trusting = Transport(
        allow_insecure_http=True, ssl_context=ssl.create_default_context(cafile=pki.ca)
    )
    try:
        error = await refused(trusting, request(server.url(scheme="https", host="localhost")))
    finally:
        await trusting.aclose()
    assert (error.kind, error.sent) == ("connect", False)
    assert server.seen == []


# -- several addresses: RFC 8305 (happy eyeballs) ----------------------------------------------


class Addresses(Transport):
    """A transport whose names resolve to the given loopback addresses, in that order."""

    def __init__(self, addresses: list[str], **options: Any) -> None:
        super().__init__(allow_insecure_http=True, **options)
        self.addresses = addresses

    async def _resolve(self, host: str, port: int) -> list[str]:
        return self.addresses


@contextmanager
def silent(address: str, port: int) -> Iterator[None]:
    """``address:port`` accepts one connection and then never answers a connect again (its
    accept queue is full), like an address whose route drops packets."""
    listener = socket(AF_INET, SOCK_STREAM)
    filler = socket(AF_INET, SOCK_STREAM)
    try:
        listener.bind((address, port))
        listener.listen(0)
        filler.connect((address, port))
        yield
    finally:
        filler.close()
        listener.close()


def test_addresses_alternate_between_families() -> None:
    """RFC 8305 §4: families alternate, the first answer's family first."""
    found = interleave(["::1", "::2", "::3", "10.0.0.1", "10.0.0.2"])
    assert found == ["::1", "10.0.0.1", "::2", "10.0.0.2", "::3"]
    assert interleave(["10.0.0.1", "::1"]) == ["10.0.0.1", "::1"]
    assert interleave([]) == []


async def test_t07_an_address_that_never_answers_costs_only_the_stagger(serve: Serve) -> None:
    """The first address drops connection attempts; the second is tried a quarter of a second
    later and answers, long before the 5 s connect timeout. The silent attempt is abandoned."""
    server = await serve()
    transport = Addresses(["127.0.0.2", "127.0.0.1"], connect_timeout=5)
    try:
        with silent("127.0.0.2", server.port):
            started = time.monotonic()
            answer = await transport.send(request(server.url(host="localhost")), timeout=10)
            elapsed = time.monotonic() - started
    finally:
        await transport.aclose()
    assert answer.body == b"ok"
    assert elapsed < 1.5
    assert server.accepted == 1


async def test_a_refused_address_falls_through_to_the_next(serve: Serve) -> None:
    """An address that refuses at once does not fail the request while another answers."""
    server = await serve()
    transport = Addresses(["127.0.0.3", "127.0.0.1"])
    try:
        answer = await transport.send(request(server.url(host="localhost")), timeout=5)
    finally:
        await transport.aclose()
    assert answer.body == b"ok"


async def test_t07_when_no_address_answers_the_failure_is_unsent(serve: Serve) -> None:
    """Every address refusing → connect; every address silent → timeout at the connect
    timeout; either way sent=False, so even a token request may be tried again."""
    server = await serve()
    refusing = Addresses(["127.0.0.3", "127.0.0.4"])
    silent_only = Addresses(["127.0.0.2"], connect_timeout=0.5)
    try:
        error = await refused(refusing, request(server.url(host="localhost")))
        assert (error.kind, error.sent) == ("connect", False)
        with silent("127.0.0.2", server.port):
            started = time.monotonic()
            error = await refused(silent_only, request(server.url(host="localhost")))
            assert time.monotonic() - started < 2
        assert (error.kind, error.sent) == ("timeout", False)
    finally:
        await refusing.aclose()
        await silent_only.aclose()
    assert server.accepted == 0
