"""The lease owner's exchange with the provider, and how its outcome is written.

Called by :func:`tokenward.services.credentials.renew` once the lease is taken (the attempt id
is already durable). The rules of SECURITY.md §3.2 items 4-5:

* success → one transaction writes the new tokens with a compare-and-swap on the version, and
  only then is the new access token handed out (R-07, R-10);
* ``invalid_grant`` (and any permanent refusal) → ``needs_reauth``, no further attempts (RT-03,
  R-05); ``invalid_client``/``unauthorized_client`` → ``error_config`` (RT-04);
* 5xx, 429, timeouts, ``server_error`` → up to ``attempts`` requests in this lease with jittered,
  growing delays honouring ``Retry-After`` (RT-05, R-06); then the failure is recorded, the
  next attempt is pushed back, and a still-valid token keeps being served (R-04); after the
  ``exhausted_after`` horizon the credential is ``exhausted`` (R-14);
* a request that may have reached the provider but whose answer was lost (timeout after sending,
  reset, or an earlier owner that never finished) is retried once, immediately, with the same
  refresh token; ``invalid_grant`` then means ``needs_reauth`` with reason
  ``refresh_response_lost`` (R-07, R-08). It never loops.

A lease refreshes one token set: the credential's own, or the secondary set a hook keeps
(:mod:`~tokenward.services.secondary_tokens`), which the hook refreshes with its own refresh
token; the same rules apply to either, and the other set is written back unchanged.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

import anyio
import anyio.to_thread

from tokenward.domain.models import AuthState
from tokenward.errors import Failure, OAuthError, ProviderUnavailable, TransportError
from tokenward.oauth.decisions import backoff_delay
from tokenward.oauth.requests import (
    HttpRequest,
    token_request_client_credentials,
    token_request_password,
    token_request_refresh,
)
from tokenward.oauth.responses import TokenSet
from tokenward.services.context import ServiceContext
from tokenward.services.credential_documents import read_document
from tokenward.services.credentials import (
    SECONDARY,
    FreshCredential,
    Lease,
    blocked,
    emit_transition,
    fresh_view,
    mark_failed,
    new_credential,
    new_secondary_credential,
    open_secret,
    send_token_request,
)
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry
from tokenward.services.provider_setup import ProviderSetup
from tokenward.services.secondary_tokens import refresh_secondary

__all__ = ["exchange"]

log = logging.getLogger("tokenward.refresh")

REFRESH_RESPONSE_LOST = "refresh_response_lost"
_LOST_KINDS = {"timeout", "reset"}
_FAILURE_STATES = {
    Failure.PERMANENT: AuthState.NEEDS_REAUTH,
    Failure.CONFIG: AuthState.ERROR_CONFIG,
}
# Between leases, a failing credential is retried after a growing, jittered pause.
_LONG_BACKOFF_BASE = 30.0
_LONG_BACKOFF_CAP = 3600.0


def _value(values: Mapping[str, str], name: str) -> str:
    found = next((v for k, v in values.items() if k.lower() == name.lower()), None)
    if not found:
        raise OAuthError(
            "invalid_request",
            f"the account connector property {name} is required for the password grant",
            failure=Failure.CONFIG,
        )
    return found


def build_request(lease: Lease) -> HttpRequest:
    """The token request this lease's grant needs."""
    setup: ProviderSetup = lease.setup
    auth = setup.oauth2
    if not setup.client_id:
        raise OAuthError(
            "invalid_client", "no ClientId is configured for this connector", failure=Failure.CONFIG
        )
    if lease.grant == "refresh_token":
        assert lease.document.refresh_token is not None
        return token_request_refresh(
            auth,
            client_id=setup.client_id,
            client_secret=setup.client_secret,
            refresh_token=lease.document.refresh_token,
        )
    if lease.grant == "client_credentials":
        return token_request_client_credentials(
            auth,
            client_id=setup.client_id,
            client_secret=setup.client_secret,
            scopes=setup.scopes,
        )
    return token_request_password(
        auth,
        client_id=setup.client_id,
        client_secret=setup.client_secret,
        username=_value(setup.values, "Username"),
        password=_value(setup.values, "Password"),
        scopes=setup.scopes,
    )


async def exchange(ctx: ServiceContext, lease: Lease) -> FreshCredential | None:
    """Run the token requests of one lease and write the outcome. Returns the fresh credential,
    or None when a newer version superseded this one (the caller looks again)."""
    policy = ctx.lifecycle
    deadline = time.monotonic() + policy.lease.total_seconds()
    lost = lease.lost
    lost_retry_left = True
    unresolved_send = False
    attempt = 0
    failure: OAuthError | TransportError | None = None
    retry_after: int | None = None
    while attempt < policy.attempts:
        try:
            tokens = await _send(ctx, lease)
        except OAuthError as exc:
            unresolved_send = False
            if exc.failure in _FAILURE_STATES:
                code = (
                    REFRESH_RESPONSE_LOST
                    if lost and exc.failure is Failure.PERMANENT
                    else exc.error
                )
                return await _final(ctx, lease, _FAILURE_STATES[exc.failure], code, exc)
            failure, retry_after = exc, exc.retry_after
        except TransportError as exc:
            failure, retry_after = exc, None
            if exc.sent and exc.kind in _LOST_KINDS and lease.grant == "refresh_token":
                unresolved_send, lost = True, True
                if lost_retry_left:
                    lost_retry_left = False
                    log.warning("refresh response lost; retrying once with the same token")
                    continue  # once, immediately
        else:
            return await _commit(ctx, lease, tokens)
        attempt += 1
        if attempt >= policy.attempts:
            break
        delay = backoff_delay(
            attempt - 1,
            base=policy.backoff_base,
            cap=policy.backoff_cap,
            retry_after=retry_after,
            rand=random.random,
        )
        if (retry_after is not None and retry_after > policy.backoff_cap) or (
            time.monotonic() + delay + policy.provider_timeout > deadline
        ):
            break
        await anyio.sleep(delay)
    assert failure is not None
    return await anyio.to_thread.run_sync(
        _record_transient, ctx, lease, failure, retry_after, unresolved_send
    )


async def _send(ctx: ServiceContext, lease: Lease) -> TokenSet:
    """The one token request of this lease: the secondary set through the connector's hook
    (with its own refresh token), else the credential's own grant."""
    if lease.target == SECONDARY:
        return await refresh_secondary(ctx, lease.setup, lease.document)
    request = build_request(lease)
    return await send_token_request(
        ctx, request, lease.setup.oauth2, previous_refresh_token=lease.document.refresh_token
    )


async def _commit(ctx: ServiceContext, lease: Lease, tokens: TokenSet) -> FreshCredential | None:
    """Write the new tokens (CAS on the version, in the next group commit) before anyone uses
    them. A secondary set replaces only itself; the credential's own set stays as it was."""
    now = ctx.clock.now()
    before = lease.before
    if lease.target == SECONDARY:
        fresh = new_secondary_credential(
            ctx, before, tokens, lease.document, now=now, auth=lease.setup.auth
        )
    else:
        fresh = new_credential(
            ctx,
            before.account_connector_id,
            before.version + 1,
            tokens,
            lease.document,
            renewable=lease.grant == "refresh_token",
            now=now,
            scope=before.scope,
            auth=lease.setup.auth,
        )

    def write(tx: Tx) -> bool:
        if not tx.credentials.swap(fresh, now, expected_version=before.version):
            return False
        emit_transition(tx, now, lease.account_id, before, fresh)
        return True

    if not await ctx.writes.run(write):
        # the lease ran out and a newer credential was written meanwhile.
        log.error(
            "refresh result discarded: account connector %s already has a newer version",
            before.account_connector_id,
        )
        return None
    ctx.audit.enqueue(
        AuditEntry(
            now,
            "tokenward",
            "credential.refresh",
            lease.account_id,
            before.account_connector_id,
            lease.grant if lease.target != SECONDARY else f"{lease.grant} {SECONDARY}",
        )
    )
    return fresh_view("OAuth2", fresh, read_document("OAuth2", open_secret(ctx, fresh)))


async def _final(
    ctx: ServiceContext, lease: Lease, state: AuthState, code: str, exc: OAuthError
) -> FreshCredential | None:
    message = exc.description or exc.error
    if code == REFRESH_RESPONSE_LOST:
        message = (
            "A refresh was sent but its answer was lost, and the provider refused the previous "
            "refresh token; the account connector must be re-authenticated."
        )

    def write() -> bool:
        now = ctx.clock.now()
        with ctx.db.write() as tx:
            current = tx.credentials.get(lease.before.account_connector_id)
            if current is None or current.lease_owner != lease.taken.lease_owner:
                return False  # our lease ran out and someone else owns the outcome
            return mark_failed(
                ctx,
                tx,
                lease.account_id,
                current,
                state,
                code,
                message,
                now=now,
                before=lease.before,
            )

    await anyio.to_thread.run_sync(write)
    raise blocked(replace(lease.before, state=state, error_code=code))


def _record_transient(
    ctx: ServiceContext,
    lease: Lease,
    failure: OAuthError | TransportError,
    retry_after: int | None,
    unresolved_send: bool,
) -> FreshCredential:
    """Record a transient failure and give the lease back; serve a still-valid token (R-04),
    else 503 with Retry-After."""
    now = ctx.clock.now()
    policy = ctx.lifecycle
    before = lease.before
    failures = before.failures + 1
    first = before.first_failure_utc or now
    pause = max(
        policy.cooldown.total_seconds(),
        backoff_delay(
            failures - 1,
            base=_LONG_BACKOFF_BASE,
            cap=_LONG_BACKOFF_CAP,
            retry_after=retry_after,
            rand=random.random,
        ),
    )
    retry_at = now + timedelta(seconds=pause)
    code, message = _describe(failure)
    exhausted = now - first >= policy.exhausted_after
    with ctx.db.write() as tx:
        current = tx.credentials.get(before.account_connector_id)
        if current is None or current.lease_owner != lease.taken.lease_owner:
            raise ProviderUnavailable(message, "provider_unavailable", retry_after=int(pause))
        if exhausted:
            mark_failed(
                ctx,
                tx,
                lease.account_id,
                current,
                AuthState.EXHAUSTED,
                code,
                message,
                now=now,
                before=before,
            )
        else:
            updated = replace(
                current,
                state=before.state,
                error_code=code,
                error_message=message,
                failures=failures,
                first_failure_utc=first,
                retry_after_utc=retry_at,
                next_refresh_utc=retry_at,
                lease_owner=None,
                lease_until=None,
                # a request whose answer may be lost stays on record for the next owner
                attempt_id=current.attempt_id if unresolved_send else None,
                attempt_started_utc=current.attempt_started_utc if unresolved_send else None,
            )
            tx.credentials.swap(
                updated, now, expected_version=current.version, owner=lease.taken.lease_owner
            )
            emit_transition(tx, now, lease.account_id, before, updated)
    doc = lease.document
    if not exhausted and doc.access_token and (doc.expires_utc is None or doc.expires_utc > now):
        return fresh_view("OAuth2", before, doc)
    if exhausted:
        raise blocked(replace(before, state=AuthState.EXHAUSTED, error_code=code))
    raise ProviderUnavailable(
        "The provider is unavailable and the access token has expired; retry later.",
        "provider_unavailable",
        retry_after=max(1, int(pause)),
    )


def _describe(failure: OAuthError | TransportError) -> tuple[str, str]:
    if isinstance(failure, OAuthError):
        status = f" (HTTP {failure.status})" if failure.status else ""
        return failure.error, f"The provider answered {failure.error}{status}."
    return f"provider_{failure.kind}", f"The provider could not be reached ({failure.kind})."
