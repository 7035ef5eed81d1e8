"""Credentials with their refresh lease, auth sessions, the event outbox, the revocation queue.

Every lease here is a row update guarded by its own ``WHERE`` (compare-and-swap), so it works the
same on SQLite and PostgreSQL and never holds a transaction open across a provider call
(SECURITY.md §3.2 item 2).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from tokenward.domain.models import AuthSession, AuthState, Credential, Event, Revocation
from tokenward.services.ports.lifecycle import DueCredential
from tokenward.store.repos._upsert import upsert
from tokenward.store.tables import (
    account_connectors,
    accounts,
    auth_sessions,
    credentials,
    events,
    revocations,
)

__all__ = [
    "SqlAuthSessionRepo",
    "SqlCredentialRepo",
    "SqlEventRepo",
    "SqlRevocationRepo",
    "credential_from_row",
    "credential_values",
]


def credential_from_row(row: Any) -> Credential:
    return Credential(
        account_connector_id=row.account_connector_id,
        state=AuthState(row.state),
        version=int(row.version),
        secret_sealed=row.secret_sealed,
        masked=row.masked,
        expires_utc=row.expires_utc,
        refresh_expires_utc=row.refresh_expires_utc,
        last_refreshed_utc=row.last_refreshed_utc,
        error_code=row.error_code,
        error_message=row.error_message,
        scope=row.scope,
        lease_owner=row.lease_owner,
        lease_until=row.lease_until,
        attempt_id=row.attempt_id,
        attempt_started_utc=row.attempt_started_utc,
        failures=int(row.failures or 0),
        first_failure_utc=row.first_failure_utc,
        retry_after_utc=row.retry_after_utc,
        next_refresh_utc=row.next_refresh_utc,
    )


def credential_values(credential: Credential, now: datetime) -> dict[str, Any]:
    """Every column of a credential row."""
    return {
        "account_connector_id": credential.account_connector_id,
        "state": credential.state.value,
        "version": credential.version,
        "secret_sealed": credential.secret_sealed,
        "masked": credential.masked,
        "expires_utc": credential.expires_utc,
        "refresh_expires_utc": credential.refresh_expires_utc,
        "last_refreshed_utc": credential.last_refreshed_utc,
        "error_code": credential.error_code,
        "error_message": credential.error_message,
        "scope": credential.scope,
        "lease_owner": credential.lease_owner,
        "lease_until": credential.lease_until,
        "attempt_id": credential.attempt_id,
        "attempt_started_utc": credential.attempt_started_utc,
        "failures": credential.failures,
        "first_failure_utc": credential.first_failure_utc,
        "retry_after_utc": credential.retry_after_utc,
        "next_refresh_utc": credential.next_refresh_utc,
        "updated_utc": now,
    }


class SqlCredentialRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def get(self, account_connector_id: int) -> Credential | None:
        row = self._c.execute(
            select(credentials).where(credentials.c.account_connector_id == account_connector_id)
        ).first()
        return None if row is None else credential_from_row(row)

    def put(self, credential: Credential, now: datetime) -> None:
        upsert(self._c, credentials, "account_connector_id", credential_values(credential, now))

    def swap(
        self,
        new: Credential,
        now: datetime,
        *,
        expected_version: int,
        lease_free_at: datetime | None = None,
        owner: str | None = None,
    ) -> bool:
        c = credentials.c
        conditions = [c.account_connector_id == new.account_connector_id]
        conditions.append(c.version == expected_version)
        if lease_free_at is not None:
            conditions.append(or_(c.lease_until.is_(None), c.lease_until <= lease_free_at))
        if owner is not None:
            conditions.append(c.lease_owner == owner)
        values = credential_values(new, now)
        del values["account_connector_id"]
        result = self._c.execute(update(credentials).where(and_(*conditions)).values(**values))
        return result.rowcount == 1

    def due(self, now: datetime, limit: int) -> list[DueCredential]:
        c = credentials.c
        query = (
            select(
                c.account_connector_id,
                account_connectors.c.connector_id,
                accounts.c.pk,
                accounts.c.id,
            )
            .select_from(
                credentials.join(
                    account_connectors, account_connectors.c.id == c.account_connector_id
                ).join(accounts, accounts.c.pk == account_connectors.c.account_pk)
            )
            .where(
                c.next_refresh_utc.is_not(None),
                c.next_refresh_utc <= now,
                c.state.in_([AuthState.ACTIVE.value, AuthState.REFRESHING.value]),
                or_(c.lease_until.is_(None), c.lease_until <= now),
            )
            .order_by(c.next_refresh_utc)
            .limit(limit)
        )
        return [
            DueCredential(int(row[0]), int(row[1]), int(row[2]), str(row[3]))
            for row in self._c.execute(query)
        ]


def _session(row: Any) -> AuthSession:
    return AuthSession(
        state_hash=row.state_hash,
        account_connector_id=row.account_connector_id,
        account_pk=row.account_pk,
        username=row.username,
        binding_hash=row.binding_hash,
        sealed=row.sealed,
        completion=row.completion,
        created_utc=row.created_utc,
        expires_utc=row.expires_utc,
        consumed_utc=row.consumed_utc,
        outcome=row.outcome,
    )


class SqlAuthSessionRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, session: AuthSession) -> None:
        self._c.execute(
            insert(auth_sessions).values(
                state_hash=session.state_hash,
                account_connector_id=session.account_connector_id,
                account_pk=session.account_pk,
                username=session.username,
                binding_hash=session.binding_hash,
                sealed=session.sealed,
                completion=session.completion,
                created_utc=session.created_utc,
                expires_utc=session.expires_utc,
                consumed_utc=session.consumed_utc,
                outcome=session.outcome,
            )
        )

    def get(self, state_hash: str) -> AuthSession | None:
        row = self._c.execute(
            select(auth_sessions).where(auth_sessions.c.state_hash == state_hash)
        ).first()
        return None if row is None else _session(row)

    def consume(self, state_hash: str, now: datetime) -> AuthSession | None:
        c = auth_sessions.c
        result = self._c.execute(
            update(auth_sessions)
            .where(c.state_hash == state_hash, c.consumed_utc.is_(None))
            .values(consumed_utc=now)
        )
        if result.rowcount != 1:
            return None
        return self.get(state_hash)

    def finish(self, state_hash: str, outcome: str) -> None:
        self._c.execute(
            update(auth_sessions)
            .where(auth_sessions.c.state_hash == state_hash)
            .values(outcome=outcome)
        )

    def purge(self, before: datetime) -> int:
        result = self._c.execute(delete(auth_sessions).where(auth_sessions.c.expires_utc < before))
        return int(result.rowcount or 0)


def _event(row: Any) -> Event:
    return Event(
        id=row.id,
        type=row.type,
        created_utc=row.created_utc,
        account_id=row.account_id,
        account_connector_id=row.account_connector_id,
        data=json.loads(row.data),
        attempts=int(row.attempts or 0),
        next_attempt_utc=row.next_attempt_utc,
        delivered_utc=row.delivered_utc,
        failed_utc=row.failed_utc,
        last_status=row.last_status,
        last_error=row.last_error,
        redelivered_utc=row.redelivered_utc,
    )


def _claim(
    conn: Connection, table: Any, now: datetime, owner: str, until: datetime, limit: int
) -> list[Any]:
    """Lease up to ``limit`` due rows of ``table`` to ``owner``: each row is taken by one guarded
    update, so two dispatchers (threads, processes, hosts) never take the same row."""
    c = table.c
    free = or_(c.lease_until.is_(None), c.lease_until <= now)
    due = and_(c.next_attempt_utc.is_not(None), c.next_attempt_utc <= now)
    ids = [
        row[0]
        for row in conn.execute(
            select(c.id).where(due, free).order_by(c.next_attempt_utc).limit(limit)
        )
    ]
    taken = []
    for row_id in ids:
        result = conn.execute(
            update(table)
            .where(c.id == row_id, due, free)
            .values(lease_owner=owner, lease_until=until)
        )
        if result.rowcount == 1:
            taken.append(row_id)
    if not taken:
        return []
    return list(conn.execute(select(table).where(c.id.in_(taken)).order_by(c.next_attempt_utc)))


class SqlEventRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, event: Event) -> None:
        self._c.execute(
            insert(events).values(
                id=event.id,
                type=event.type,
                created_utc=event.created_utc,
                account_id=event.account_id,
                account_connector_id=event.account_connector_id,
                data=json.dumps(event.data, separators=(",", ":"), sort_keys=True),
                attempts=event.attempts,
                next_attempt_utc=event.next_attempt_utc,
            )
        )

    def get(self, event_id: str) -> Event | None:
        row = self._c.execute(select(events).where(events.c.id == event_id)).first()
        return None if row is None else _event(row)

    def page(self, *, offset: int, limit: int) -> tuple[list[Event], int]:
        total = int(self._c.execute(select(func.count()).select_from(events)).scalar_one())
        rows = self._c.execute(
            select(events)
            .order_by(events.c.created_utc.desc(), events.c.id)
            .offset(offset)
            .limit(limit)
        )
        return [_event(row) for row in rows], total

    def claim(self, now: datetime, owner: str, until: datetime, limit: int) -> list[Event]:
        return [_event(row) for row in _claim(self._c, events, now, owner, until, limit)]

    def record_attempt(
        self,
        event_id: str,
        owner: str,
        *,
        attempts: int,
        next_attempt_utc: datetime | None,
        delivered_utc: datetime | None,
        failed_utc: datetime | None,
        last_status: int | None,
        last_error: str | None,
    ) -> None:
        self._c.execute(
            update(events)
            .where(events.c.id == event_id, events.c.lease_owner == owner)
            .values(
                attempts=attempts,
                next_attempt_utc=next_attempt_utc,
                delivered_utc=delivered_utc,
                failed_utc=failed_utc,
                last_status=last_status,
                last_error=last_error,
                lease_owner=None,
                lease_until=None,
            )
        )

    def redeliver(self, event_id: str, now: datetime) -> bool:
        result = self._c.execute(
            update(events)
            .where(events.c.id == event_id)
            # The lease stays: an attempt in flight finishes first (its result then stands),
            # so a redelivery never makes two dispatchers send one event at once.
            .values(next_attempt_utc=now, failed_utc=None, redelivered_utc=now)
        )
        return result.rowcount == 1


def _revocation(row: Any) -> Revocation:
    return Revocation(
        id=row.id,
        connector_id=row.connector_id,
        account_connector_id=row.account_connector_id,
        sealed=row.sealed,
        created_utc=row.created_utc,
        attempts=int(row.attempts or 0),
        next_attempt_utc=row.next_attempt_utc,
        finished_utc=row.finished_utc,
        outcome=row.outcome,
        last_error=row.last_error,
    )


class SqlRevocationRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, item: Revocation) -> None:
        self._c.execute(
            insert(revocations).values(
                id=item.id,
                connector_id=item.connector_id,
                account_connector_id=item.account_connector_id,
                sealed=item.sealed,
                created_utc=item.created_utc,
                attempts=item.attempts,
                next_attempt_utc=item.next_attempt_utc,
            )
        )

    def get(self, revocation_id: str) -> Revocation | None:
        row = self._c.execute(select(revocations).where(revocations.c.id == revocation_id)).first()
        return None if row is None else _revocation(row)

    def claim(self, now: datetime, owner: str, until: datetime, limit: int) -> list[Revocation]:
        return [_revocation(row) for row in _claim(self._c, revocations, now, owner, until, limit)]

    def record_attempt(
        self,
        revocation_id: str,
        owner: str,
        *,
        attempts: int,
        next_attempt_utc: datetime | None,
        finished_utc: datetime | None,
        outcome: str | None,
        last_error: str | None,
        keep_secret: bool,
    ) -> None:
        values: dict[str, Any] = {
            "attempts": attempts,
            "next_attempt_utc": next_attempt_utc,
            "finished_utc": finished_utc,
            "outcome": outcome,
            "last_error": last_error,
            "lease_owner": None,
            "lease_until": None,
        }
        if not keep_secret:
            values["sealed"] = None
        self._c.execute(
            update(revocations)
            .where(revocations.c.id == revocation_id, revocations.c.lease_owner == owner)
            .values(**values)
        )
