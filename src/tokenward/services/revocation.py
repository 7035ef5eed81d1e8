"""Token revocation at the provider (RFC 7009; SECURITY.md V-01..V-04).

When an account connector is de-authenticated or deleted, :func:`queue_revocation` runs in the
same write transaction that drops the credential: if the connector's OAuth 2 entry declares a
``RevokeUrl`` (or an ``Issuer`` whose RFC 8414 metadata names a ``revocation_endpoint``, looked
up when the row is sent), the endpoint, the client authentication and both tokens are sealed
into one ``revocations`` row (AAD bound to the row id). The credential itself is gone when that
transaction commits, so the tokens are never served again, whatever the provider says later.

The dispatcher inside ``serve`` then calls :func:`process_due`: each due row is leased (so no two
processes send it at once), the refresh token is revoked first (``token_type_hint=refresh_token``,
which on most servers takes the whole grant), then the access token, each with client
authentication. 200 is success whatever the body (V-02); ``unsupported_token_type`` is logged and
not retried (V-04); anything else (503 with ``Retry-After``, timeouts, …) is retried with
exponential backoff, and after :attr:`RevocationPolicy.attempts` attempts the sealed secret is
destroyed and the failure reported in the log and the audit trail (V-03). A finished row keeps
its outcome (``revoked``, ``unsupported``, ``given_up``) but never its secret.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

from tokenward.catalog.schema import OAuth2Auth
from tokenward.crypto.fields import credential_aad, revocation_aad
from tokenward.domain.models import AccountConnector, Revocation
from tokenward.errors import (
    CredentialCorrupted,
    OAuthConfigError,
    OAuthError,
    ServiceError,
    TransportError,
)
from tokenward.oauth.decisions import backoff_delay
from tokenward.oauth.metadata import metadata_url, parse_metadata
from tokenward.oauth.requests import HttpRequest, revocation_request
from tokenward.oauth.revocation import classify_revocation
from tokenward.services.auth_values import drop_credential
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.credential_documents import read_document
from tokenward.services.ports import Tx
from tokenward.services.ports.system import AuditEntry
from tokenward.services.provider_setup import load_setup

__all__ = [
    "Outcome",
    "RevocationPolicy",
    "claim_due",
    "end_credential",
    "process_due",
    "queue_revocation",
]

log = logging.getLogger("tokenward.revocation")

Outcome = Literal["revoked", "unsupported", "given_up", "retry"]
ACTOR = "system:revocation"
# A stand-in entry carrying only what revocation_request reads (RevokeUrl, ClientAuthMethod):
# the queued row must not depend on the catalog, which may have changed since.
_ENTRY_ID = "00000000-0000-4000-8000-000000007009"
# V-01: the refresh token first (on most servers it takes the whole grant with it).
# A secondary token set (a hook's: an installing user's tokens beside the app's) is its own
# grant at the provider, revoked the same way after the first.
_ORDER: tuple[tuple[str, Literal["refresh_token", "access_token"]], ...] = (
    ("RefreshToken", "refresh_token"),
    ("AccessToken", "access_token"),
    ("SecondaryRefreshToken", "refresh_token"),
    ("SecondaryAccessToken", "access_token"),
)


@dataclass(frozen=True)
class RevocationPolicy:
    """How often and how long a queued revocation is tried (V-03)."""

    attempts: int = 8
    backoff_base: float = 60.0  # seconds before the 2nd attempt (doubling, full jitter)
    backoff_cap: float = 6 * 3600.0
    batch: int = 10

    def lease(self, ctx: ServiceContext) -> timedelta:
        """Up to four requests (refresh and access token of each set) plus a margin."""
        return timedelta(seconds=len(_ORDER) * ctx.lifecycle.provider_timeout + 30)


def queue_revocation(
    ctx: ServiceContext, tx: Tx, item: AccountConnector, now: datetime
) -> Revocation | None:
    """Queue the revocation of ``item``'s tokens, in the caller's transaction, before the
    credential is dropped. None when there is nothing to revoke or no way to: the connector
    declares no ``RevokeUrl``, the credential holds no token or does not open, the client
    authentication is incomplete. Never raises for such reasons: de-authenticating must work
    whatever the provider setup."""
    credential = item.credential
    if credential is None or credential.secret_sealed is None:
        return None
    payload = _payload(ctx, tx, item, credential.secret_sealed)
    if payload is None:
        return None
    revocation_id = str(uuid.uuid4())
    queued = Revocation(
        id=revocation_id,
        connector_id=item.connector_id,
        account_connector_id=item.id,
        sealed=ctx.sealer.seal(
            json.dumps(payload, separators=(",", ":")), revocation_aad(revocation_id)
        ),
        created_utc=now,
        next_attempt_utc=now,
    )
    tx.revocations.add(queued)
    return queued


def end_credential(
    ctx: ServiceContext,
    tx: Tx,
    item: AccountConnector,
    actor: Principal,
    account_id: str,
    *,
    reason: str = "deauthenticated",
) -> Revocation | None:
    """Give the credential up for good, in the caller's transaction: queue its revocation,
    then drop it locally (it stops being served when the transaction commits, V-01) with its
    one ``accountconnector.deauthenticated`` event."""
    queued = queue_revocation(ctx, tx, item, ctx.clock.now())
    drop_credential(ctx, tx, item, actor, account_id, reason=reason)
    return queued


def _not_queued(item: AccountConnector, reason: str) -> None:
    log.warning("revocation_not_queued", extra={"account_connector_id": item.id, "reason": reason})


def _payload(
    ctx: ServiceContext, tx: Tx, item: AccountConnector, sealed: str
) -> dict[str, Any] | None:
    try:
        setup = load_setup(ctx, tx, item)
    except ServiceError as exc:  # connector gone, properties missing: nowhere to send it
        _not_queued(item, exc.code)
        return None
    auth = setup.auth
    if not isinstance(auth, OAuth2Auth) or not (auth.RevokeUrl or auth.Issuer):
        return None
    try:
        tokens = read_document("OAuth2", ctx.sealer.open(sealed, credential_aad(item.id)))
    except CredentialCorrupted:
        _not_queued(item, "credential_corrupted")
        return None
    if tokens.refresh_token is None and tokens.access_token is None:
        return None
    if not setup.client_id or (auth.ClientAuthMethod != "none" and not setup.client_secret):
        _not_queued(item, "client_credentials_missing")
        return None
    return {
        "Endpoint": auth.RevokeUrl,  # None: the issuer's metadata names it (looked up on send)
        "Issuer": auth.Issuer,
        "ClientAuthMethod": auth.ClientAuthMethod,
        "ClientId": setup.client_id,
        "ClientSecret": setup.client_secret,
        "RefreshToken": tokens.refresh_token,
        "AccessToken": tokens.access_token,
        "SecondaryRefreshToken": tokens.secondary.refresh_token if tokens.secondary else None,
        "SecondaryAccessToken": tokens.secondary.access_token if tokens.secondary else None,
    }


def claim_due(ctx: ServiceContext, owner: str, policy: RevocationPolicy) -> list[Revocation]:
    """Lease up to ``policy.batch`` due rows to ``owner``."""
    now = ctx.clock.now()
    with ctx.db.write() as tx:
        return tx.revocations.claim(now, owner, now + policy.lease(ctx), policy.batch)


async def process_due(
    ctx: ServiceContext, owner: str, policy: RevocationPolicy | None = None
) -> list[Outcome]:
    """Claim the due revocations and try each once (concurrently); their outcomes."""
    policy = policy or RevocationPolicy()
    claimed = await asyncio.to_thread(claim_due, ctx, owner, policy)
    if not claimed:
        return []
    return list(await asyncio.gather(*(_attempt(ctx, owner, row, policy) for row in claimed)))


async def _attempt(
    ctx: ServiceContext, owner: str, row: Revocation, policy: RevocationPolicy
) -> Outcome:
    try:
        payload = _opened(ctx, row)
    except CredentialCorrupted:
        return await _finish(ctx, owner, row, "given_up", "the queued secret does not open")
    result, detail, retry_after = await _send(ctx, payload)
    if result != "retry":
        return await _finish(ctx, owner, row, result, detail)
    attempts = row.attempts + 1
    if attempts >= policy.attempts:
        return await _finish(ctx, owner, row, "given_up", detail, attempts=attempts)
    delay = backoff_delay(
        attempts - 1,
        base=policy.backoff_base,
        cap=policy.backoff_cap,
        retry_after=retry_after,
        rand=random.random,
    )
    # Full jitter may pick ~0: never retry sooner than the base delay.
    next_attempt = ctx.clock.now() + timedelta(seconds=max(delay, policy.backoff_base))
    await asyncio.to_thread(
        _record, ctx, owner, row, attempts=attempts, next_attempt=next_attempt, detail=detail
    )
    log.info(
        "revocation_retry",
        extra={"revocation_id": row.id, "attempts": attempts, "error": detail},
    )
    return "retry"


def _opened(ctx: ServiceContext, row: Revocation) -> dict[str, Any]:
    if row.sealed is None:
        raise CredentialCorrupted("the queued secret was destroyed")
    document = json.loads(ctx.sealer.open(row.sealed, revocation_aad(row.id)))
    if not isinstance(document, dict):
        raise CredentialCorrupted("the queued secret is not a document")
    return document


async def _metadata_endpoint(
    ctx: ServiceContext, issuer: str
) -> tuple[str | None, tuple[Outcome, str, int | None] | None]:
    """The ``revocation_endpoint`` of the issuer's RFC 8414 metadata, or why there is none
    (a provider that cannot be reached now is retried; one without the endpoint is not)."""
    try:
        request = HttpRequest(
            "GET", metadata_url(issuer), MappingProxyType({"Accept": "application/json"})
        )
        response = await ctx.transport.send(request, timeout=ctx.lifecycle.provider_timeout)
    except OAuthConfigError:
        return None, ("given_up", "the Issuer is not a metadata location", None)
    except TransportError as exc:
        return None, ("retry", f"metadata transport {exc.kind}", None)
    if response.status == 429 or response.status >= 500:
        return None, ("retry", f"metadata HTTP {response.status}", None)
    try:
        found = parse_metadata(response.status, response.body, expected_issuer=issuer)
    except OAuthError as exc:
        return None, ("given_up", f"unusable metadata: {exc.error}", None)
    if not found.revocation_endpoint:
        return None, ("given_up", "the issuer's metadata names no revocation_endpoint", None)
    return found.revocation_endpoint, None


async def _send(ctx: ServiceContext, payload: dict[str, Any]) -> tuple[Outcome, str, int | None]:
    """Revoke the refresh token, then the access token; stop at the first answer to retry."""
    if not payload.get("Endpoint") and payload.get("Issuer"):
        endpoint, problem = await _metadata_endpoint(ctx, str(payload["Issuer"]))
        if problem is not None:
            return problem
        payload = {**payload, "Endpoint": endpoint}
    try:
        auth = OAuth2Auth.model_validate(
            {
                "Id": _ENTRY_ID,
                "AuthName": "revocation",
                "AuthType": "OAuth2",
                "OAuth2Type": "ClientCredentials",
                "AccessTokenUrl": payload["Endpoint"],
                "RevokeUrl": payload["Endpoint"],
                "ClientAuthMethod": payload["ClientAuthMethod"],
            }
        )
    except ValueError:
        return "given_up", "the queued endpoint is unusable", None
    unsupported = False
    for name, hint in _ORDER:
        token = payload.get(name)
        if not token:
            continue
        try:
            request = revocation_request(
                auth,
                client_id=payload["ClientId"],
                client_secret=payload.get("ClientSecret"),
                token=token,
                hint=hint,
            )
            response = await ctx.transport.send(request, timeout=ctx.lifecycle.provider_timeout)
        except OAuthConfigError as exc:
            return "given_up", f"cannot build the request: {exc}", None
        except TransportError as exc:
            return "retry", f"transport {exc.kind}", None
        answer = classify_revocation(
            response.status, response.headers, response.body, now=ctx.clock.now()
        )
        if answer.outcome == "retry":
            return "retry", answer.detail, answer.retry_after
        unsupported = unsupported or answer.outcome == "unsupported"
    if unsupported:
        return "unsupported", "unsupported_token_type", None
    return "revoked", "", None


def _record(
    ctx: ServiceContext,
    owner: str,
    row: Revocation,
    *,
    attempts: int,
    next_attempt: datetime | None,
    detail: str,
    outcome: str | None = None,
) -> None:
    finished = outcome is not None
    now = ctx.clock.now()
    with ctx.db.write() as tx:
        tx.revocations.record_attempt(
            row.id,
            owner,
            attempts=attempts,
            next_attempt_utc=next_attempt,
            finished_utc=now if finished else None,
            outcome=outcome,
            last_error=detail or None,
            keep_secret=not finished,
        )
        if finished:
            entry = AuditEntry(
                now,
                ACTOR,
                "credential.revocation",
                None,
                row.account_connector_id,
                f"outcome={outcome}",
            )
            tx.audit.add([entry])


async def _finish(
    ctx: ServiceContext,
    owner: str,
    row: Revocation,
    outcome: Outcome,
    detail: str,
    *,
    attempts: int | None = None,
) -> Outcome:
    """Record a final outcome; the sealed tokens are destroyed with it (V-03)."""
    count = row.attempts + 1 if attempts is None else attempts
    await asyncio.to_thread(
        _record, ctx, owner, row, attempts=count, next_attempt=None, detail=detail, outcome=outcome
    )
    extra = {
        "revocation_id": row.id,
        "account_connector_id": row.account_connector_id,
        "outcome": outcome,
        "attempts": count,
        "error": detail or None,
    }
    if outcome == "revoked":
        log.info("revocation_done", extra=extra)
    elif outcome == "unsupported":
        log.warning("revocation_unsupported_token_type", extra=extra)  # V-04
    else:
        log.error("revocation_given_up", extra=extra)  # V-03: reported, secret destroyed
    return outcome
