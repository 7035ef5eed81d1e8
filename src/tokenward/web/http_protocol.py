"""uvicorn's httptools protocol with one change: a response's head and body leave in one write.

uvicorn writes the status line and headers as soon as the app starts its response, and the body
as a second write. With ``TCP_NODELAY`` (needed for latency) each write is its own segment, so a
small JSON answer costs two system calls here and two wake-ups at the client. The connection's
transport is wrapped so that a write is held until the next one or the end of the event loop's
current step, whichever comes first: the head and a body sent in the same step (every non-streamed
response) leave together, with ``writelines``, and nothing waits longer than one loop turn.
``tokenward serve`` passes this class to uvicorn as its ``http`` protocol.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol"]

#: Writes larger than this are not held (they would gain nothing from joining).
_HOLD_LIMIT = 16 * 1024


class _Coalescing:
    """A transport that holds one write until the next write or the loop's next turn."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.writelines((held, data))
        elif len(data) > _HOLD_LIMIT:
            self._transport.write(data)
        else:
            self._held = data
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:  # everything else is the real transport's
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` writing through :class:`_Coalescing`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Coalescing(transport, self.loop))  # type: ignore[arg-type]
