"""The background refresher of ``tokenward serve`` (DESIGN.md §8; SECURITY.md §3.2 item 3).

Each round takes the credentials whose ``next_refresh_utc`` has come (a jittered point before
their expiry margin, or a keep-alive date, or the end of a backoff) and renews them through
the same single-flight, leased path as on-demand callers, so a refresh started here and one
started by a partner's request can never both reach the provider. At most ``concurrency``
refreshes run at once per connector (one provider), so a mass expiry does not stampede it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from tokenward.errors import ServiceError
from tokenward.services.context import ServiceContext
from tokenward.services.credentials import Mode, Renewal, renew
from tokenward.services.ports.lifecycle import DueCredential
from tokenward.worker.polling import PollingWorker

__all__ = ["Refresher"]

log = logging.getLogger("tokenward.refresher")


class Refresher(PollingWorker):
    name = "refresher"

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        concurrency: int = 4,
        batch: int = 200,
        poll_every: float = 1.0,
    ) -> None:
        super().__init__(poll_every=poll_every)
        self.ctx = ctx
        self.concurrency = concurrency
        self.batch = batch
        self._limits: dict[int, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.concurrency)
        )

    async def run_once(self) -> int:
        """One round: the credentials looked at (refreshed, rescheduled or failed)."""
        now = self.ctx.clock.now()

        def due() -> list[DueCredential]:
            with self.ctx.db.read() as tx:
                return tx.credentials.due(now, self.batch)

        found = await asyncio.to_thread(due)
        if found:
            await asyncio.gather(*(self._one(item) for item in found))
        return len(found)

    async def _one(self, item: DueCredential) -> None:
        renewal = Renewal(item.account_id, item.account_pk, item.account_connector_id, 0)
        async with self._limits[item.connector_id]:
            try:
                await renew(self.ctx, renewal, mode=Mode.BACKGROUND)
            except ServiceError as exc:
                # recorded on the credential (state, AuthError, event); nothing to add here
                log.info(
                    "background_refresh_failed",
                    extra={"account_connector_id": item.account_connector_id, "code": exc.code},
                )
