"""A hot read-only step with its one database read made ahead, on the event loop.

A method call, a proxy call and a token read each begin with a read-only step (``_prepare``,
``peek``) whose first statement is the account connector's hot read. On the embedded database
that step runs inline (``inline_read``). Elsewhere it used to go to a worker thread; now the hot
read is made on the event loop where the backend can (``Database.prefetch``: PostgreSQL), and
the step runs inline against it (``Database.answering``). A step that needs anything else from
the database (a custom connector changed since the process last read the catalog, an OAuth 1.0a
consumer) stops with ``NotPrefetched`` and runs again in a worker thread the usual way: it has
written nothing, so running it again is safe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio

from tokenward.errors import ServiceError
from tokenward.services.account_access import account_header_id
from tokenward.services.context import ServiceContext
from tokenward.services.ports import NotPrefetched

__all__ = ["read_step"]

R = TypeVar("R")


async def read_step(
    ctx: ServiceContext,
    step: Callable[[], R],
    *,
    inline: bool,
    account_header: str | None,
    ac_id: int,
    properties: bool,
) -> R:
    """Run the read-only ``step``, whose first read is ``read_for_account`` of ``ac_id`` in
    the account the header names (``properties`` as it asks for them): inline when ``inline``;
    else with that read prefetched where possible; else in a worker thread."""
    if inline:
        return step()
    try:
        account_id = account_header_id(account_header)
    except ServiceError:  # the step refuses it the usual way
        account_id = None
    if account_id is not None:
        prefetched = await ctx.db.prefetch(account_id, ac_id, properties=properties)
        if prefetched is not None:
            try:
                with ctx.db.answering(prefetched):
                    return step()
            except NotPrefetched:
                pass
    return await anyio.to_thread.run_sync(step)
