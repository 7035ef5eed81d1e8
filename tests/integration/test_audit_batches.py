"""The batched audit trail (``AuditTrail.flush``; a ``COPY`` on PostgreSQL, an
``executemany`` elsewhere): every entry comes back exactly as queued, on SQLite and PostgreSQL,
and a batch that cannot be written leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tokenward.errors import StoreError
from tokenward.runtime import Runtime
from tokenward.services.audit import AuditTrail
from tokenward.services.ports.system import AuditEntry

AT = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)


def _stored(runtime: Runtime) -> list[AuditEntry]:
    with runtime.db.read() as tx:
        return list(reversed(tx.audit.list(limit=1000)))


def test_a_flushed_batch_reads_back_exactly(runtime: Runtime) -> None:
    """Text with tabs, line breaks, backslashes and non-ASCII, missing optional fields and
    microseconds all survive the batch write unchanged."""
    trail = AuditTrail(runtime.db)
    entries = [
        AuditEntry(AT, "client:1", "credential.token_read", "acct-1", 7, "method=1 status=200"),
        AuditEntry(AT + timedelta(seconds=1), "client:2", "proxy.call"),
        AuditEntry(
            AT + timedelta(seconds=2),
            "console:ádmin",
            "method.call",
            "acct\t2",
            None,
            "line\nbreak \\N back\\slash ünïcode",
        ),
    ]
    for entry in entries:
        trail.enqueue(entry)
    assert trail.flush() == 3
    assert _stored(runtime)[-3:] == entries
    assert trail.flush() == 0


def test_a_batch_with_a_naive_time_writes_nothing(runtime: Runtime) -> None:
    """A naive timestamp is refused, as everywhere in the store, and the batch's other
    entries are not half-written."""
    before = _stored(runtime)
    good = AuditEntry(AT, "client:1", "credential.token_read")
    naive = AuditEntry(datetime(2026, 11, 28, 12, 0), "client:1", "credential.token_read")  # noqa: DTZ001
    with pytest.raises((StoreError, ValueError)), runtime.db.write() as tx:
        tx.audit.add([good, naive])
    assert _stored(runtime) == before
