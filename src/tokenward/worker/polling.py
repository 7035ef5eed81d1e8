"""A background loop of ``tokenward serve`` that polls the database for due work.

Subclasses implement :meth:`PollingWorker.run_once` (one round; returns how much it did). The
loop runs a round, and sleeps ``poll_every`` seconds only when the round found nothing, so a
backlog drains at full speed. A failure is logged by exception type only, never with its text
(database errors may quote parameters), and the loop goes on: a background task must never
take the service down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

__all__ = ["PollingWorker", "worker_id"]

log = logging.getLogger("tokenward.worker")


def worker_id(kind: str) -> str:
    """A lease owner unique to this worker: host, process and a random part (≤ 64 chars)."""
    return f"{kind}:{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class PollingWorker:
    """Start with :meth:`start` inside a running event loop; :meth:`stop` ends the loop after
    the round in progress is cancelled (an unfinished lease simply expires)."""

    name = "worker"

    def __init__(self, *, poll_every: float = 1.0) -> None:
        self.poll_every = poll_every
        self.owner = worker_id(self.name)
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            done = 0
            try:
                done = await self.run_once()
            except Exception as exc:
                log.warning(
                    "worker_failed", extra={"worker": self.name, "error_type": type(exc).__name__}
                )
            await asyncio.sleep(0 if done else self.poll_every)
