"""An ASGI app served by uvicorn in a thread on a loopback port (the demo runs three: the
service, the sandbox provider's double does its own, and the example host page).

The socket is bound before the thread starts, so a port taken by another program fails at once
with a clear message, and ``url`` is valid as soon as :meth:`ThreadedServer.start` returns.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

__all__ = ["ThreadedServer"]


class ThreadedServer:
    """A loopback port (0: a free one) bound at once; ``start(app)`` serves an app on it with
    its lifespan; ``stop`` (idempotent) stops serving and releases the port."""

    def __init__(self, name: str, port: int = 0) -> None:
        self.name = name
        # IPPROTO_TCP so that asyncio sets TCP_NODELAY (see tokenward.testing.provider)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self._socket.bind(("127.0.0.1", port))
        except OSError as exc:
            self._socket.close()
            raise OSError(f"the {name} cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
        self.port = int(self._socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, app: Any, timeout: float = 30.0) -> None:
        """Serve ``app``; return once its lifespan has run."""
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="on",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        server = self._server = uvicorn.Server(config)
        thread = self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, name=self.name, daemon=True
        )
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self.name} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving (open connections get a short grace) and release the port."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()
