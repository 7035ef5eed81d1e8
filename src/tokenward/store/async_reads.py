"""PostgreSQL's hot read on the event loop (psycopg's asyncio connections).

A method call, a proxy call and a token read each start with one read of the account connector
and its credential (:func:`~tokenward.store.repos.hot_reads.read_account_connector`). On
PostgreSQL that read used to go to a worker thread with a pooled connection: the hop there and
back and the pool's bookkeeping cost serve about 0.4 CPU ms per call, against 0.03 ms that the
database itself spends (docs/benchmarks.md). Here the same statement runs on the event loop over
a few autocommit connections per loop, which psycopg prepares on the server after a few uses.

Nothing depends on this path: when it cannot read (no connection, a connection the server has
dropped, any driver error), it answers None and the caller reads the usual way, through the
engine, whose pool pings idle connections. A read is safe to repeat.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import psycopg
from sqlalchemy.engine import URL

from tokenward.services.ports.connectors import AccountConnectorRead
from tokenward.store.repos.hot_reads import account_connector_from_rows, account_connector_sql

__all__ = ["AsyncHotReads"]

_SQL = {
    properties: account_connector_sql("format", properties=properties)
    for properties in (True, False)
}


class AsyncHotReads:
    """Up to ``size`` connections per event loop; ``await aclose()`` on each loop that read,
    :meth:`close` (any thread) when the process stops."""

    def __init__(self, url: URL, *, size: int, connect_timeout: int = 10) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._size = size
        self._connect_timeout = connect_timeout
        self._pools: dict[asyncio.AbstractEventLoop, _LoopPool] = {}

    async def account_connector(
        self, account_id: str, ac_id: int, *, properties: bool
    ) -> AccountConnectorRead | None:
        """The hot read, or None when it could not be made here."""
        pool = self._pool()
        conn = await pool.acquire()
        if conn is None:
            return None
        try:
            cursor = await conn.execute(_SQL[properties], (ac_id, account_id))
            rows = await cursor.fetchall()
        except psycopg.Error:
            pool.discard(conn)
            return None
        except BaseException:  # cancelled half-way: the connection's state is unknown
            pool.discard(conn)
            raise
        pool.release(conn)
        return account_connector_from_rows(ac_id, rows)

    async def aclose(self) -> None:
        """Close this event loop's connections."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.aclose()

    def close(self) -> None:
        """Drop every connection of every loop (the process is stopping)."""
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.drop_all()

    def _pool(self) -> _LoopPool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            for stale in [known for known in self._pools if known.is_closed()]:
                self._pools.pop(stale).drop_all()
            pool = self._pools[loop] = _LoopPool(self._conninfo, self._size, self._connect_timeout)
        return pool


Conn = psycopg.AsyncConnection[Any]


class _LoopPool:
    """The connections of one event loop: idle ones, and callers waiting for one."""

    def __init__(self, conninfo: str, size: int, connect_timeout: int) -> None:
        self._conninfo = conninfo
        self._size = size
        self._connect_timeout = connect_timeout
        self._idle: list[Conn] = []
        self._open = 0
        self._waiting: collections.deque[asyncio.Future[Conn | None]] = collections.deque()

    async def acquire(self) -> Conn | None:
        if self._idle:
            return self._idle.pop()
        if self._open < self._size:
            self._open += 1
            try:
                return await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, connect_timeout=self._connect_timeout
                )
            except (psycopg.Error, OSError):
                self._open -= 1
                return None
        waiter: asyncio.Future[Conn | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        return await waiter  # cancelled: release() skips a waiter that is done

    def release(self, conn: Conn) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def discard(self, conn: Conn) -> None:
        _drop(conn)
        self._open -= 1
        while self._waiting:  # a waiter would wait for a connection that will not come back
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()

    def drop_all(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            _drop(conn)


def _drop(conn: Conn) -> None:
    """Close a connection without awaiting (its loop may be busy or gone)."""
    if not conn.closed:
        conn.pgconn.finish()
