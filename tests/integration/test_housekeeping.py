"""Housekeeping: purging expired sign-in and bearer tokens, old idempotency records and audit
rows (with a fake clock), and the background task that flushes the audit queue."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from fastapi.testclient import TestClient

from tokenward.clock import FakeClock
from tokenward.crypto.hashing import hash_token
from tokenward.runtime import Runtime
from tokenward.services import accounts, api_clients, housekeeping
from tokenward.services.ports.system import AuditEntry
from tokenward.web.app import create_app
from tokenward.worker.housekeeping import Housekeeper

DAY = 24 * 3600


def _account(runtime: Runtime) -> None:
    accounts.create_account(runtime.ctx, "Acme", "acme")


def test_purge_removes_only_expired_signin_tokens(runtime: Runtime, clock: FakeClock) -> None:
    """Sign-in tokens past their 5 minutes go; younger ones stay."""
    _account(runtime)
    old = accounts.create_signin_token(runtime.ctx, "acme", "u").token
    clock.advance(240)
    young = accounts.create_signin_token(runtime.ctx, "acme", "u").token
    clock.advance(61)
    assert housekeeping.purge_signin_tokens(runtime.ctx) == 1
    with runtime.ctx.db.read() as tx:
        assert tx.signin_tokens.get(hash_token(old)) is None
        assert tx.signin_tokens.get(hash_token(young)) is not None


def test_purge_removes_expired_bearer_tokens_keeping_refreshable_ones_a_while(
    runtime: Runtime, clock: FakeClock
) -> None:
    """Expired bearer tokens go; one holding a refresh token stays REFRESH_TOKEN_GRACE longer,
    so the partner can still refresh it; live tokens stay."""
    _account(runtime)
    ctx = runtime.ctx
    client, secret = api_clients.create_client(ctx, "hk")
    accounts.add_user(ctx, "acme", "ann", "pw")
    plain = api_clients.issue_client_credentials(ctx, client.client_id, secret, None)
    refreshable = api_clients.issue_password_grant(ctx, client.client_id, None, "ann", "pw")
    clock.advance(14 * DAY + 1)
    live = api_clients.issue_client_credentials(ctx, client.client_id, secret, None)
    assert housekeeping.purge_api_tokens(ctx) == 1
    with ctx.db.read() as tx:
        assert tx.api_tokens.get(hash_token(plain.access_token)) is None
        assert tx.api_tokens.get(hash_token(refreshable.access_token)) is not None
        assert tx.api_tokens.get(hash_token(live.access_token)) is not None
    clock.advance(housekeeping.REFRESH_TOKEN_GRACE.total_seconds() - 2)
    assert housekeeping.purge_api_tokens(ctx) == 1  # `live` has expired by now
    with ctx.db.read() as tx:
        assert tx.api_tokens.get(hash_token(refreshable.access_token)) is not None
    clock.advance(2)
    assert housekeeping.purge_api_tokens(ctx) == 1
    with ctx.db.read() as tx:
        assert tx.api_tokens.get(hash_token(refreshable.access_token)) is None


def test_purge_removes_idempotency_records_after_24_hours(
    runtime: Runtime, clock: FakeClock
) -> None:
    """Idempotency records live 24 hours."""
    ctx = runtime.ctx
    with ctx.db.write() as tx:
        tx.idempotency.reserve("s", "old", "0" * 64, clock.now())
    clock.advance(DAY - 10)
    with ctx.db.write() as tx:
        tx.idempotency.reserve("s", "new", "0" * 64, clock.now())
    clock.advance(11)
    assert housekeeping.purge_idempotency(ctx) == 1
    with ctx.db.read() as tx:
        assert tx.idempotency.get("s", "old") is None
        assert tx.idempotency.get("s", "new") is not None


def test_purge_removes_audit_rows_past_retention(runtime: Runtime, clock: FakeClock) -> None:
    """Audit rows older than audit_retention_days go; newer ones stay."""
    ctx, now = runtime.ctx, clock.now()
    entries = [
        AuditEntry(at_utc=now - timedelta(days=days), actor="t", action=f"a{days}")
        for days in (91, 89, 1)
    ]
    with ctx.db.write() as tx:
        tx.audit.add(entries)
    assert housekeeping.purge_audit(ctx, 90) == 1
    with ctx.db.read() as tx:
        assert sorted(e.action for e in tx.audit.list()) == ["a1", "a89"]


def test_run_once_reports_every_purge(runtime: Runtime, clock: FakeClock) -> None:
    """One housekeeping run purges every kind and says how many of each."""
    _account(runtime)
    accounts.create_signin_token(runtime.ctx, "acme", "u")
    with runtime.ctx.db.write() as tx:
        tx.idempotency.reserve("s", "k", "0" * 64, clock.now())
        tx.audit.add([AuditEntry(clock.now(), "t", "a")])
    clock.advance(91 * DAY)
    assert housekeeping.run_once(runtime.ctx, 90) == housekeeping.Purged(
        signin_tokens=1, api_tokens=0, idempotency_keys=1, audit_rows=1
    )
    assert housekeeping.run_once(runtime.ctx, 90) == housekeeping.Purged()


async def test_housekeeper_flushes_the_audit_queue_and_purges(
    runtime: Runtime, clock: FakeClock
) -> None:
    """The background task writes queued audit entries within its flush interval, purges at
    start, and flushes what is left when stopped."""
    ctx = runtime.ctx
    with ctx.db.write() as tx:
        tx.idempotency.reserve("s", "k", "0" * 64, clock.now() - timedelta(days=2))
    ctx.audit.enqueue(AuditEntry(clock.now(), "t", "queued"))
    keeper = Housekeeper(ctx, audit_retention_days=90, flush_every=0.05, purge_every=3600)
    keeper.start()
    try:
        for _ in range(100):
            with ctx.db.read() as tx:
                if tx.audit.list():
                    break
            await asyncio.sleep(0.05)
        with ctx.db.read() as tx:
            assert [e.action for e in tx.audit.list()] == ["queued"]
            assert tx.idempotency.get("s", "k") is None
        ctx.audit.enqueue(AuditEntry(clock.now(), "t", "at-stop"))
    finally:
        await keeper.stop()
    with ctx.db.read() as tx:
        assert sorted(e.action for e in tx.audit.list()) == ["at-stop", "queued"]


def test_app_runs_housekeeping_only_when_asked_or_owning_its_runtime(
    runtime: Runtime, clock: FakeClock
) -> None:
    """An app sharing a runtime (tests) runs no background task unless told to, as serve does."""
    ctx = runtime.ctx
    ctx.audit.enqueue(AuditEntry(clock.now(), "t", "queued"))
    with TestClient(create_app(runtime.settings, runtime=runtime)), ctx.db.read() as tx:
        assert tx.audit.list() == []
    with TestClient(create_app(runtime.settings, runtime=runtime, housekeeping=True)):
        for _ in range(100):
            with ctx.db.read() as tx:
                if tx.audit.list():
                    break
            time.sleep(0.05)
    with ctx.db.read() as tx:
        assert [e.action for e in tx.audit.list()] == ["queued"]


def test_expired_auth_sessions_are_purged_an_hour_after_expiry(
    runtime: Runtime, clock: FakeClock
) -> None:
    """A browser flow's record (its sealed PKCE verifier included) does not outlive the flow."""
    from datetime import timedelta

    from tokenward.domain.models import AuthSession

    _account(runtime)
    with runtime.ctx.db.write() as tx:
        account = tx.accounts.get("acme")
        assert account is not None
        ac_id = tx.account_connectors.add(account.pk, 1001, None, "x", None, False, clock.now())
        for name, minutes in (("old", 10), ("new", 70)):
            tx.auth_sessions.add(
                AuthSession(
                    state_hash=name,
                    account_connector_id=ac_id,
                    account_pk=account.pk,
                    username=None,
                    binding_hash="b",
                    sealed="s",
                    completion="{}",
                    created_utc=clock.now(),
                    expires_utc=clock.now() + timedelta(minutes=minutes),
                )
            )
    clock.advance(80 * 60)
    assert housekeeping.purge_auth_sessions(runtime.ctx) == 1
    with runtime.ctx.db.read() as tx:
        assert tx.auth_sessions.get("old") is None
        assert tx.auth_sessions.get("new") is not None
