"""The hot read made ahead on the event loop (``Database.prefetch``, ``services/read_ahead.py``):
on PostgreSQL it gives exactly what the usual read gives, it answers only the read it holds, a
step that needs more falls back to the usual read, and a connection the server dropped costs
nothing but the fallback. SQLite has no such path: its reads run inline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from upstream_support import Connected, close_transport, connect_oauth

from tokenward.clock import FakeClock
from tokenward.runtime import Runtime
from tokenward.services.ports import NotPrefetched, Prefetched
from tokenward.services.read_ahead import read_step
from tokenward.testing import ProviderDouble

on_postgres = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


@pytest.fixture
def connected(
    client: TestClient,
    runtime: Runtime,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
    clock: FakeClock,
) -> Iterator[Connected]:
    yield connect_oauth(client, auth, acct, provider, clock.now())
    close_transport(client, runtime)


def _read(runtime: Runtime, account: str, ac_id: int, properties: bool) -> object:
    with runtime.db.read() as tx:
        return tx.account_connectors.read_for_account(account, ac_id, properties=properties)


def _terminate_hot_read_connections(runtime: Runtime) -> int:
    """End, server-side, the idle connections that made the hot read (as a restart would)."""
    admin = create_engine(runtime.db.engine.url)
    try:
        with admin.begin() as conn:
            ended = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid() AND state = 'idle' "
                    "AND query LIKE '%LEFT JOIN account_connectors ac%'"
                )
            ).scalar_one()
    finally:
        admin.dispose()
    return int(ended)


def test_sqlite_prefetches_nothing(runtime: Runtime, account: str, connected: Connected) -> None:
    """On SQLite (reads inline) ``prefetch`` answers None; on PostgreSQL it answers the read."""

    async def prefetch() -> object:
        found = await runtime.db.prefetch(account, connected.ac_id, properties=True)
        await runtime.db.aclose_loop()
        return found

    found = asyncio.run(prefetch())
    assert (found is None) == (runtime.db.backend == "sqlite")


@on_postgres
def test_prefetch_gives_what_the_usual_read_gives(
    runtime: Runtime, account: str, connected: Connected
) -> None:
    """The read made on the event loop equals the usual read, with and without properties,
    for a known and an unknown account connector, and for an unknown account."""
    cases = [
        (account, connected.ac_id, True),
        (account, connected.ac_id, False),
        (account, connected.ac_id + 1000, True),
        ("no-such-account", connected.ac_id, False),
    ]

    async def prefetch_all() -> list[object]:
        found = []
        for account_id, ac_id, properties in cases:
            prefetched = await runtime.db.prefetch(account_id, ac_id, properties=properties)
            assert prefetched is not None
            found.append(prefetched.found)
        await runtime.db.aclose_loop()
        return found

    assert asyncio.run(prefetch_all()) == [_read(runtime, *case) for case in cases]


@on_postgres
def test_answering_holds_one_read_only(
    runtime: Runtime, account: str, connected: Connected
) -> None:
    """Within ``answering``, a read gives the prefetched account connector for exactly that
    account, Id and properties choice; any other read signals ``NotPrefetched``."""

    async def check() -> None:
        prefetched = await runtime.db.prefetch(account, connected.ac_id, properties=False)
        assert prefetched is not None
        with runtime.db.answering(prefetched), runtime.db.read() as tx:
            found = tx.account_connectors.read_for_account(
                account, connected.ac_id, properties=False
            )
            assert found == prefetched.found
            with pytest.raises(NotPrefetched):
                tx.account_connectors.read_for_account(account, connected.ac_id)
            with pytest.raises(NotPrefetched):
                tx.account_connectors.read_for_account(
                    account, connected.ac_id + 1, properties=False
                )
            with pytest.raises(NotPrefetched):
                tx.accounts.get(account)
        with runtime.db.read() as tx:  # outside: the real database again
            assert tx.accounts.get(account) is not None
        await runtime.db.aclose_loop()

    asyncio.run(check())


@on_postgres
def test_a_step_that_needs_more_runs_again_the_usual_way(
    runtime: Runtime, account: str, connected: Connected
) -> None:
    """A step whose second read the prefetch does not hold runs again in a worker thread,
    against the real database, and its answer is the caller's."""
    runs: list[str] = []

    def step() -> tuple[str, str | None]:
        with runtime.db.read() as tx:
            found = tx.account_connectors.read_for_account(account, connected.ac_id)
            runs.append("read")
            found_account = tx.accounts.get(account)  # not prefetched
        assert found.item is not None
        assert found_account is not None
        return found.item.name, found_account.name

    async def run() -> tuple[str, str | None]:
        answer = await read_step(
            runtime.ctx,
            step,
            inline=False,
            account_header=account,
            ac_id=connected.ac_id,
            properties=True,
        )
        await runtime.db.aclose_loop()
        return answer

    name, account_name = asyncio.run(run())
    assert runs == ["read", "read"]  # once against the prefetch, once for real
    assert name
    assert account_name


@on_postgres
def test_a_dropped_connection_costs_only_the_fallback(
    runtime: Runtime, account: str, connected: Connected
) -> None:
    """When the server has ended the hot read's connection, the next prefetch answers None
    (the caller reads the usual way, and ``read_step`` still answers), and the one after reads
    ahead again on a new connection."""
    expected = _read(runtime, account, connected.ac_id, False)

    def step() -> object:
        return _read(runtime, account, connected.ac_id, False)

    async def scenario() -> tuple[Prefetched | None, Prefetched | None, object, Prefetched | None]:
        first = await runtime.db.prefetch(account, connected.ac_id, properties=False)
        assert _terminate_hot_read_connections(runtime) >= 1
        await asyncio.sleep(0.2)  # the connection is gone before it is used again
        dropped = await runtime.db.prefetch(account, connected.ac_id, properties=False)
        answered = await read_step(
            runtime.ctx,
            step,
            inline=False,
            account_header=account,
            ac_id=connected.ac_id,
            properties=False,
        )
        again = await runtime.db.prefetch(account, connected.ac_id, properties=False)
        await runtime.db.aclose_loop()
        return first, dropped, answered, again

    first, dropped, answered, again = asyncio.run(scenario())
    assert first is not None
    assert first.found == expected
    assert dropped is None
    assert answered == expected
    assert again is not None
    assert again.found == expected
