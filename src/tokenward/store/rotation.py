"""Re-sealing every sealed value under the primary key (``tokenward keys rotate``).

This module knows every sealed column and the associated data its values were sealed with (the
functions of :mod:`tokenward.crypto.fields`). The job walks each column in small batches: it
reads a batch, opens and re-seals the values outside any write lock, then writes the batch in one
short transaction with a compare-and-swap on the old ciphertext (``UPDATE … WHERE col = old``), so
a value changed meanwhile by a live service is never overwritten. A value that does not open is
reported by table and row id (never its contents) and left as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, func, select, tuple_, update

from tokenward.crypto.aead import Sealer
from tokenward.crypto.fields import (
    auth_session_aad,
    client_secret_aad,
    credential_aad,
    idempotency_aad,
    key_check_aad,
    property_aad,
    revocation_aad,
    webhook_secret_aad,
)
from tokenward.errors import CredentialCorrupted
from tokenward.store.engine import transaction
from tokenward.store.tables import (
    application_connectors,
    auth_sessions,
    credentials,
    idempotency_keys,
    meta,
    partner_settings,
    properties,
    revocations,
)

__all__ = [
    "OTHER_KEYS",
    "SEALED_COLUMNS",
    "RotationReport",
    "SealedColumn",
    "key_usage",
    "reseal_all",
]

KEY_CHECK = "key_check"  # the meta row sealed at start-up (tokenward.runtime.KEY_CHECK)
OTHER_KEYS = "?"  # key_usage's bucket for values naming none of the listed keys
_FORMAT = "tw1"


@dataclass(frozen=True)
class SealedColumn:
    """One column holding sealed values, and how to rebuild each row's associated data."""

    table: Table
    column: str
    aad: Callable[[Any], bytes]
    where: ColumnElement[bool] | None = None

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column}"

    def row_id(self, row: Any) -> str:
        return "/".join(str(getattr(row, c.name)) for c in self.table.primary_key.columns)

    def filtered(self, query: Any) -> Any:
        col = self.table.c[self.column]
        query = query.where(col.is_not(None))
        return query if self.where is None else query.where(self.where)


SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn(credentials, "secret_sealed", lambda r: credential_aad(r.account_connector_id)),
    SealedColumn(
        properties, "value_sealed", lambda r: property_aad(r.account_connector_id, r.name)
    ),
    SealedColumn(
        application_connectors, "client_secret_sealed", lambda r: client_secret_aad(r.connector_id)
    ),
    SealedColumn(partner_settings, "webhook_secret_sealed", lambda _r: webhook_secret_aad()),
    SealedColumn(idempotency_keys, "response_sealed", lambda r: idempotency_aad(r.scope, r.key)),
    SealedColumn(meta, "value", lambda _r: key_check_aad(), where=meta.c.name == KEY_CHECK),
    SealedColumn(auth_sessions, "sealed", lambda r: auth_session_aad(r.state_hash)),
    SealedColumn(revocations, "sealed", lambda r: revocation_aad(r.id)),
)


@dataclass
class RotationReport:
    """What a re-seal run did. ``failures`` names (column, row id) pairs that did not open."""

    primary: str
    resealed: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    remaining: int = 0  # values still naming another key after the run (failures included)

    @property
    def ok(self) -> bool:
        return not self.failures and self.remaining == 0

    @property
    def total(self) -> int:
        return sum(self.resealed.values())


def _prefix(kid: str) -> str:
    return f"{_FORMAT}.{kid}."


def key_usage(engine: Engine, key_ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """How many sealed values name each key, per column (zero counts left out).

    Values naming none of ``key_ids`` are counted under :data:`OTHER_KEYS`.
    """
    kids = list(key_ids)
    usage: dict[str, dict[str, int]] = {kid: {} for kid in [*kids, OTHER_KEYS]}
    with transaction(engine, write=False) as conn:
        for spec in SEALED_COLUMNS:
            total = _count(conn, spec, None)
            for kid in kids:
                n = _count(conn, spec, kid)
                total -= n
                if n:
                    usage[kid][spec.name] = n
            if total:
                usage[OTHER_KEYS][spec.name] = total
    return usage


def _count(conn: Connection, spec: SealedColumn, kid: str | None) -> int:
    query = spec.filtered(select(func.count()).select_from(spec.table))
    if kid is not None:
        query = query.where(spec.table.c[spec.column].startswith(_prefix(kid), autoescape=True))
    return int(conn.execute(query).scalar_one())


def reseal_all(
    engine: Engine, sealer: Sealer, *, batch_size: int = 200, max_passes: int = 3
) -> RotationReport:
    """Re-seal every value not yet under the primary key; see the module docstring.

    Passes repeat (up to ``max_passes``) until one changes nothing: a live service may have
    written a value under the old key before it re-read the key file.
    """
    report = RotationReport(primary=sealer.primary_key_id())
    failed: dict[tuple[str, str], None] = {}
    for _ in range(max_passes):
        before = (report.total, report.conflicts)
        for spec in SEALED_COLUMNS:
            _reseal_column(engine, sealer, spec, batch_size, report, failed)
        if (report.total, report.conflicts) == before:
            break  # nothing left that this pass could change
    report.failures = list(failed)
    usage = key_usage(engine, [report.primary])
    report.remaining = sum(
        n for kid, cols in usage.items() if kid != report.primary for n in cols.values()
    )
    return report


def _reseal_column(
    engine: Engine,
    sealer: Sealer,
    spec: SealedColumn,
    batch_size: int,
    report: RotationReport,
    failed: dict[tuple[str, str], None],
) -> None:
    after: tuple[Any, ...] | None = None
    while True:
        rows = _next_batch(engine, spec, report.primary, after, batch_size)
        if not rows:
            return
        swaps = []
        for row in rows:
            old = getattr(row, spec.column)
            try:
                plaintext = sealer.open(old, spec.aad(row))
            except CredentialCorrupted:
                failed[(spec.name, spec.row_id(row))] = None
                continue
            swaps.append((row, old, sealer.seal(plaintext, spec.aad(row))))
        _write_batch(engine, spec, swaps, report)
        after = tuple(getattr(rows[-1], c.name) for c in spec.table.primary_key.columns)


def _next_batch(
    engine: Engine, spec: SealedColumn, primary: str, after: tuple[Any, ...] | None, size: int
) -> list[Any]:
    pk = list(spec.table.primary_key.columns)
    col = spec.table.c[spec.column]
    query = spec.filtered(select(spec.table)).where(
        ~col.startswith(_prefix(primary), autoescape=True)
    )
    if after is not None:
        query = query.where(tuple_(*pk) > tuple_(*after) if len(pk) > 1 else pk[0] > after[0])
    with transaction(engine, write=False) as conn:
        return list(conn.execute(query.order_by(*pk).limit(size)))


def _write_batch(
    engine: Engine, spec: SealedColumn, swaps: list[tuple[Any, str, str]], report: RotationReport
) -> None:
    if not swaps:
        return
    col = spec.table.c[spec.column]
    done = 0
    with transaction(engine, write=True) as conn:
        for row, old, new in swaps:
            keys = [c == getattr(row, c.name) for c in spec.table.primary_key.columns]
            result = conn.execute(update(spec.table).where(*keys, col == old).values({col: new}))
            done += result.rowcount
    report.resealed[spec.name] = report.resealed.get(spec.name, 0) + done
    report.conflicts += len(swaps) - done
