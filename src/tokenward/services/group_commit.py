"""Group commit: concurrent small write transactions of one process share one transaction.

The credential lifecycle writes twice per renewal (the lease, then the outcome). In a refresh
storm hundreds of renewals run at once, and on the embedded SQLite database every write
transaction queues for the single writer and pays its own commit (a ``synchronous=FULL`` fsync)
and its own worker-thread hop. Here those units of work go to one writer thread instead, which
runs whatever has queued up meanwhile in a single transaction, each unit in a savepoint of its
own (:meth:`~tokenward.services.ports.Database.write_each`): one commit for the batch, and a
unit that fails leaves nothing behind while the others commit.

Nothing about the units changes: each still decides from what it reads in the transaction and
writes with its own compare-and-swap, so the leases and versions that make refreshes single
across processes hold as before. A unit's caller gets its result only after the batch has
committed (R-07: new tokens are durable before anyone uses them). With no concurrency a batch
is one unit, run as soon as it arrives.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from tokenward.services.ports import Database, Tx

__all__ = ["GroupCommit"]

T = TypeVar("T")
_Unit = tuple[Callable[[Tx], Any], "Future[Any]"]


class GroupCommit:
    """One writer thread per database, started on first use, stopped by :meth:`close`."""

    def __init__(self, db: Database, *, max_batch: int = 64) -> None:
        self._db = db
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    async def run(self, unit: Callable[[Tx], T]) -> T:
        """Run ``unit`` in the next batch; its result once the batch has committed, or the
        exception it raised."""
        future: Future[T] = Future()
        self._submit(unit, future)
        return await asyncio.wrap_future(future)

    def _submit(self, unit: Callable[[Tx], Any], future: Future[Any]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the group commit writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="tokenward-group-commit", daemon=True
                )
                self._thread.start()
            self._queue.put((unit, future))

    def close(self) -> None:
        """Finish the queued units, then stop the writer thread."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._apply(batch)
            if stop:
                return

    def _apply(self, batch: list[_Unit]) -> None:
        live = [(unit, future) for unit, future in batch if future.set_running_or_notify_cancel()]
        try:
            outcomes = self._db.write_each([unit for unit, _ in live])
        except Exception as exc:  # the transaction failed for every unit: each caller hears it
            for _, future in live:
                future.set_exception(exc)
            return
        for (_, future), outcome in zip(live, outcomes, strict=True):
            if outcome.error is not None:
                future.set_exception(outcome.error)
            else:
                future.set_result(outcome.value)
