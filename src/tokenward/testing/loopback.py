"""An ASGI app served by uvicorn in a daemon thread on 127.0.0.1, on a socket bound before the
thread starts (so ``url`` is valid as soon as :meth:`LoopbackServer.start` returns)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

__all__ = ["LoopbackServer"]


class LoopbackServer:
    """One app on one loopback port; ``start`` and ``stop`` (idempotent). ``app`` may be a
    callable taking the server's URL, for apps that must know where they are served (an
    authorization server names its own endpoints)."""

    def __init__(self, app: Any, name: str, *, app_for_url: bool = False) -> None:
        self._app = app
        self._app_for_url = app_for_url
        self._name = name
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> None:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP
        # (proto 0 is skipped), and without it Nagle holds uvicorn's second write (the body)
        # until the client's delayed ACK: ~40 ms per request instead of well under 1 ms.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self._socket = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            self._app(self.url) if self._app_for_url else self._app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            loop="asyncio",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=self._name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self._name} server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
