"""Purging what is no longer needed: expired sign-in and bearer tokens, old idempotency records
and audit rows past their retention.

Each purge is one short write transaction, safe to run from several hosts at once (a row deleted
by one host is simply not found by the other). ``tokenward serve`` runs :func:`run_once`
periodically (``tokenward.worker.housekeeping``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tokenward.services import idempotency
from tokenward.services.context import ServiceContext

__all__ = [
    "IDEMPOTENCY_RETENTION",
    "REFRESH_TOKEN_GRACE",
    "Purged",
    "purge_api_tokens",
    "purge_audit",
    "purge_auth_sessions",
    "purge_idempotency",
    "purge_signin_tokens",
    "run_once",
]

IDEMPOTENCY_RETENTION = timedelta(hours=24)
AUTH_SESSION_GRACE = timedelta(hours=1)
# A bearer token from the password grant carries a refresh token that stays usable after the
# access token expires; the pair is kept this much longer so that a partner can still refresh.
REFRESH_TOKEN_GRACE = timedelta(days=30)


@dataclass(frozen=True)
class Purged:
    """How many rows one housekeeping run removed."""

    signin_tokens: int = 0
    api_tokens: int = 0
    idempotency_keys: int = 0
    audit_rows: int = 0
    auth_sessions: int = 0


def purge_signin_tokens(ctx: ServiceContext) -> int:
    """Sign-in tokens past their expiry (used or not: either way they can never be used again)."""
    with ctx.db.write() as tx:
        return tx.signin_tokens.purge(ctx.clock.now())


def purge_api_tokens(ctx: ServiceContext) -> int:
    """Expired bearer tokens; those with a refresh token after :data:`REFRESH_TOKEN_GRACE`."""
    now = ctx.clock.now()
    with ctx.db.write() as tx:
        return tx.api_tokens.purge(now, refreshable_before=now - REFRESH_TOKEN_GRACE)


def purge_idempotency(ctx: ServiceContext) -> int:
    """Idempotency records older than :data:`IDEMPOTENCY_RETENTION` (a retry after that runs
    again, as draft-ietf-httpapi-idempotency-key-header allows)."""
    return idempotency.purge(ctx, IDEMPOTENCY_RETENTION)


def purge_audit(ctx: ServiceContext, retention_days: int) -> int:
    """Audit rows older than ``retention_days`` (``TOKENWARD_AUDIT_RETENTION_DAYS``)."""
    with ctx.db.write() as tx:
        return tx.audit.purge(ctx.clock.now() - timedelta(days=retention_days))


def purge_auth_sessions(ctx: ServiceContext) -> int:
    """Browser flows (and their completion records) an hour past their expiry."""
    with ctx.db.write() as tx:
        return tx.auth_sessions.purge(ctx.clock.now() - AUTH_SESSION_GRACE)


def run_once(ctx: ServiceContext, audit_retention_days: int) -> Purged:
    return Purged(
        signin_tokens=purge_signin_tokens(ctx),
        api_tokens=purge_api_tokens(ctx),
        idempotency_keys=purge_idempotency(ctx),
        audit_rows=purge_audit(ctx, audit_retention_days),
        auth_sessions=purge_auth_sessions(ctx),
    )
