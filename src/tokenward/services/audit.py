"""The audit trail: who read or changed credentials.

Entries that belong to a write are added in that write's transaction. Entries on hot read paths
(token reads, method calls, reveals) are queued and written in batches by :meth:`flush`, off the
request path, never as a durable write per request.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from tokenward.services.ports.system import AuditEntry

if TYPE_CHECKING:
    from tokenward.services.ports import Database

__all__ = ["AuditTrail"]


class AuditTrail:
    def __init__(self, db: Database | None, max_queue: int = 10_000) -> None:
        self._db = db
        self._queue: list[AuditEntry] = []
        self._lock = threading.Lock()
        self._max = max_queue

    def enqueue(self, entry: AuditEntry) -> None:
        with self._lock:
            self._queue.append(entry)
            full = len(self._queue) >= self._max
        if full:
            self.flush()

    def flush(self) -> int:
        with self._lock:
            batch, self._queue = self._queue, []
        if batch and self._db is not None:
            with self._db.write() as tx:
                tx.audit.add(batch)
        return len(batch)
