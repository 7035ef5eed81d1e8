"""``tokenward serve``'s uvicorn protocol: a response's head and body leave in one write, and
every kind of response still arrives whole (over a real loopback socket, on uvloop)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from tokenward.web.http_protocol import CoalescingHttpToolsProtocol, _Coalescing


class Recording:
    """An asyncio transport that records what is written to it, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def writelines(self, parts: Any) -> None:
        self.writes.append(b"".join(parts))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"extra:{name}"


async def test_head_and_body_written_in_one_step_leave_together() -> None:
    """Two writes in one step of the loop become one write to the socket."""
    sink = Recording()
    wrapped = _Coalescing(sink, asyncio.get_running_loop())  # type: ignore[arg-type]
    wrapped.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    wrapped.write(b"{}")
    await asyncio.sleep(0)
    assert sink.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]


async def test_a_lone_write_leaves_on_the_next_turn_of_the_loop() -> None:
    """A write that no other follows waits one turn of the loop, not longer."""
    sink = Recording()
    wrapped = _Coalescing(sink, asyncio.get_running_loop())  # type: ignore[arg-type]
    wrapped.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert sink.writes == []
    assert wrapped.get_write_buffer_size() == len(b"HTTP/1.1 100 Continue\r\n\r\n")
    await asyncio.sleep(0)
    assert sink.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]


async def test_close_sends_what_is_held_first_and_large_writes_are_not_held() -> None:
    """Closing flushes the held write before the close; a large write goes out at once."""
    sink = Recording()
    wrapped = _Coalescing(sink, asyncio.get_running_loop())  # type: ignore[arg-type]
    big = b"x" * (64 * 1024)
    wrapped.write(big)
    assert sink.writes == [big]
    wrapped.write(b"tail")
    wrapped.close()
    assert sink.writes == [big, b"tail"]
    assert sink.closed
    assert wrapped.get_extra_info("peername") == "extra:peername"


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
        return
    body = f"hello {scope['path']}".encode()
    headers = [(b"content-length", str(len(body)).encode())]
    if scope["path"] == "/bye":
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def served() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        _app,
        log_config=None,
        access_log=False,
        lifespan="off",
        ws="none",
        loop="uvloop",
        http=CoalescingHttpToolsProtocol,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def _read_until_closed(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def test_keep_alive_streamed_and_closing_responses_arrive_whole(served: int) -> None:
    """On one keep-alive connection: two plain answers, a streamed (chunked) one, and one that
    closes the connection all arrive complete and in order."""
    with socket.create_connection(("127.0.0.1", served), timeout=5) as conn:
        for path in ("/a", "/b", "/stream", "/bye"):
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        received = _read_until_closed(conn)
    assert received.count(b"HTTP/1.1 200 OK") == 4
    assert received.index(b"hello /a") < received.index(b"hello /b") < received.index(b"three")
    assert b"4\r\ntwo,\r\n" in received
    assert received.endswith(b"hello /bye")
