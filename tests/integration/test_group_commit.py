"""Group commit (``services/group_commit.py``, ``Database.write_each``) on SQLite and PostgreSQL:
units share a transaction but not their failures, callers hear their own result only after the
commit, and concurrent units are batched."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any, cast

import pytest

from tokenward.errors import StoreError
from tokenward.runtime import Runtime
from tokenward.services.group_commit import GroupCommit
from tokenward.services.ports import Database, Outcome, Tx


class Boom(Exception):
    """A unit's own failure."""


class CountingDatabase:
    """The real database, counting the units of each ``write_each`` (one transaction each)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.batches: list[int] = []

    def write_each(self, units: Sequence[Callable[[Tx], Any]]) -> list[Outcome[Any]]:
        self.batches.append(len(units))
        return self._db.write_each(units)


def _put(name: str, value: str) -> Any:
    def unit(tx: Tx) -> str:
        tx.meta.put(name, value)
        return value

    return unit


def _put_then_fail(name: str) -> Any:
    def unit(tx: Tx) -> str:
        tx.meta.put(name, "half-written")
        raise Boom(name)

    return unit


def _read(runtime: Runtime, name: str) -> str | None:
    with runtime.ctx.db.read() as tx:
        return tx.meta.get(name)


def test_write_each_isolates_a_failing_unit_in_its_savepoint(runtime: Runtime) -> None:
    """One transaction for three units: the one that raises leaves nothing behind, the others
    commit, and each outcome is the unit's own."""
    outcomes = runtime.ctx.db.write_each(
        [_put("gc-a", "1"), _put_then_fail("gc-b"), _put("gc-c", "3")]
    )
    assert [o.value for o in outcomes] == ["1", None, "3"]
    assert isinstance(outcomes[1].error, Boom)
    assert outcomes[0].error is None
    assert (_read(runtime, "gc-a"), _read(runtime, "gc-b"), _read(runtime, "gc-c")) == (
        "1",
        None,
        "3",
    )
    with pytest.raises(Boom):
        outcomes[1].unwrap()


def test_write_each_sees_earlier_units_of_its_batch(runtime: Runtime) -> None:
    """Units run in order in one transaction: a later unit reads what an earlier one wrote
    (the serial order a compare-and-swap relies on)."""

    def later(tx: Tx) -> str | None:
        return tx.meta.get("gc-order")

    outcomes = runtime.ctx.db.write_each([_put("gc-order", "first"), later])
    assert outcomes[1].value == "first"


async def test_concurrent_units_share_transactions_and_answer_after_commit(
    runtime: Runtime,
) -> None:
    """Fifty concurrent callers: every one gets its own result, each value is committed by the
    time its caller hears of it, a failing unit's caller gets its exception, and the writer
    needed fewer transactions than units."""
    counting = CountingDatabase(runtime.ctx.db)
    writer = GroupCommit(cast(Database, counting), max_batch=16)
    batches = counting.batches
    committed_before_answer: list[bool] = []

    async def one(index: int) -> str:
        value = await writer.run(_put(f"gc-{index}", str(index)))
        committed_before_answer.append(_read(runtime, f"gc-{index}") == value)
        return value

    try:
        results = await asyncio.gather(*(one(i) for i in range(50)))
        with pytest.raises(Boom):
            await writer.run(_put_then_fail("gc-failing"))
    finally:
        writer.close()
    assert results == [str(i) for i in range(50)]
    assert all(committed_before_answer)
    assert _read(runtime, "gc-failing") is None
    assert sum(batches) == 51
    assert len(batches) < 51


def test_a_closed_writer_refuses_new_units(runtime: Runtime) -> None:
    """After ``close`` (the runtime's shutdown) a unit is refused at once, never lost."""
    writer = GroupCommit(runtime.ctx.db)
    writer.close()
    with pytest.raises(RuntimeError):
        asyncio.run(writer.run(_put("gc-late", "x")))
    assert _read(runtime, "gc-late") is None


def test_a_failed_batch_is_replayed_unit_by_unit(runtime: Runtime) -> None:
    """If the shared transaction itself fails (here: its commit is refused), every unit runs
    again alone, so one unit never fails for another; a unit that fails alone still fails."""
    db = runtime.ctx.db
    calls = threading.local()
    attempts: list[str] = []

    def flaky(tx: Tx) -> str:
        attempts.append("flaky")
        if not getattr(calls, "done", False):
            calls.done = True
            # poison the shared transaction so that its commit fails
            tx.meta.put("gc-poison", "x")
            raise_in_commit(tx)
        return "ok"

    def raise_in_commit(tx: Tx) -> None:
        conn = tx.conn  # type: ignore[attr-defined]
        from sqlalchemy import event

        def refuse(_conn: Any) -> None:
            raise StoreError("commit refused (test)")

        event.listen(conn, "commit", refuse, once=True)

    outcomes = db.write_each([_put("gc-x", "1"), flaky, _put_then_fail("gc-y")])
    assert [o.value for o in outcomes] == ["1", "ok", None]
    assert isinstance(outcomes[2].error, Boom)
    assert attempts == ["flaky", "flaky"]
    assert _read(runtime, "gc-x") == "1"
    assert _read(runtime, "gc-poison") is None  # the failed batch left nothing
