"""The revocation worker of ``tokenward serve``: sends the queued RFC 7009 revocations
(``tokenward.services.revocation``), leasing each row so that no two processes send it at once."""

from __future__ import annotations

from tokenward.services import revocation
from tokenward.services.context import ServiceContext
from tokenward.worker.polling import PollingWorker

__all__ = ["RevocationWorker"]


class RevocationWorker(PollingWorker):
    name = "revocations"

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        policy: revocation.RevocationPolicy | None = None,
        poll_every: float = 2.0,
    ) -> None:
        super().__init__(poll_every=poll_every)
        self.ctx = ctx
        self.policy = policy or revocation.RevocationPolicy()

    async def run_once(self) -> int:
        """One round: the rows tried."""
        return len(await revocation.process_due(self.ctx, self.owner, self.policy))
