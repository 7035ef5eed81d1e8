"""In-process single flight: concurrent callers for one key share one run (SECURITY.md §3.2
item 2, first layer). The second layer, across processes and hosts, is the lease row."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

__all__ = ["Flights"]

T = TypeVar("T")


class Flights:
    """One in-flight task per key and event loop; every caller awaits the same result."""

    def __init__(self) -> None:
        self._running: dict[tuple[int, object], asyncio.Future[Any]] = {}

    def busy(self, key: object) -> bool:
        return (id(asyncio.get_running_loop()), key) in self._running

    async def run(self, key: object, work: Callable[[], Awaitable[T]]) -> T:
        slot = (id(asyncio.get_running_loop()), key)
        running = self._running.get(slot)
        if running is not None:
            # shield: one waiter being cancelled must not cancel the refresh the others await
            result: T = await asyncio.shield(running)
            return result
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._running[slot] = future
        try:
            value = await work()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: callers that joined re-raise it themselves
            raise
        else:
            future.set_result(value)
            return value
        finally:
            self._running.pop(slot, None)
