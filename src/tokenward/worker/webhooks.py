"""The webhook dispatcher of ``tokenward serve``: delivers the event outbox to the partner's
webhook (``tokenward.services.webhooks``), leasing each event so that several processes or
hosts never send one event at the same time."""

from __future__ import annotations

from tokenward.services import webhooks
from tokenward.services.context import ServiceContext
from tokenward.worker.polling import PollingWorker

__all__ = ["WebhookDispatcher"]


class WebhookDispatcher(PollingWorker):
    name = "webhooks"

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        policy: webhooks.WebhookPolicy | None = None,
        poll_every: float = 1.0,
    ) -> None:
        super().__init__(poll_every=poll_every)
        self.ctx = ctx
        self.policy = policy or webhooks.WebhookPolicy()

    async def run_once(self) -> int:
        """One round: the attempts made (delivered or not)."""
        return len(await webhooks.deliver_due(self.ctx, self.owner, self.policy))
