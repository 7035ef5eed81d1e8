"""The housekeeping task of ``tokenward serve``: flush the audit queue every few seconds and purge
expired rows every minute (``tokenward.services.housekeeping``).

It runs on the event loop and hands each (blocking) service call to a thread. A failure is logged
by exception type only, never with its text (database errors may quote parameters), and the loop
goes on: housekeeping must never take the service down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict

from tokenward.services import housekeeping
from tokenward.services.context import ServiceContext

__all__ = ["Housekeeper"]

log = logging.getLogger("tokenward.housekeeping")


class Housekeeper:
    """Start with :meth:`start` inside a running event loop; :meth:`stop` flushes once more."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        audit_retention_days: int,
        flush_every: float = 2.0,
        purge_every: float = 60.0,
    ) -> None:
        self.ctx = ctx
        self.audit_retention_days = audit_retention_days
        self.flush_every = flush_every
        self.purge_every = purge_every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._step("flush", self.ctx.audit.flush)

    async def _loop(self) -> None:
        next_purge = time.monotonic()  # purge once at start-up, then every purge_every seconds
        while True:
            await self._step("flush", self.ctx.audit.flush)
            if time.monotonic() >= next_purge:
                await self._step("purge", self._purge)
                next_purge = time.monotonic() + self.purge_every
            await asyncio.sleep(self.flush_every)

    def _purge(self) -> None:
        purged = housekeeping.run_once(self.ctx, self.audit_retention_days)
        counts = asdict(purged)
        if any(counts.values()):
            log.info("housekeeping_purged", extra=counts)

    async def _step(self, name: str, func: Callable[[], object]) -> None:
        try:
            await asyncio.to_thread(func)
        except Exception as exc:
            log.warning(
                "housekeeping_failed", extra={"step": name, "error_type": type(exc).__name__}
            )
