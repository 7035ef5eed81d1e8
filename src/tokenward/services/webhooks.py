"""Delivering the event outbox to the partner's webhook (DESIGN.md §8), and the events API.

Contract: ``POST {WebhookUrl}`` with the JSON body ``{"Id","Type","CreatedUtc","AccountId",
"AccountConnectorId","Data"}`` and the headers ``Tokenward-Event-Id`` (the event id, the same on
every retry and redelivery) and ``Tokenward-Signature: t={unix},v1={hex}``
(:mod:`tokenward.webhook_signature`). Any 2xx is delivered; any other answer, a redirect, a
refused destination or a timeout is retried with exponential backoff and jitter until 24 hours
after the event was created, the last attempt at that mark; then the event is ``failed``.

Delivery is at least once, never concurrent: :func:`deliver_due` leases the due events to one
dispatcher (``tx.events.claim``) before sending, so several processes or hosts share the outbox
without sending one event twice at the same time. A receiver must still deduplicate by
``Tokenward-Event-Id``: an answer lost on the way back means the event is sent again.

Without a ``WebhookUrl`` and ``WebhookSecret`` in the partner settings nothing is claimed and
nothing changes: the events stay ``pending`` (visible through ``GET /v1.0/events``) and go out
once both are set; an event by then older than 24 hours gets one attempt (a redelivery
starts a new 24-hour window).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Literal

from tokenward import __version__
from tokenward.crypto.fields import webhook_secret_aad
from tokenward.domain.models import Event
from tokenward.domain.paging import Page, PageRequest
from tokenward.domain.text import shown
from tokenward.errors import CredentialCorrupted, NotFound, TransportError
from tokenward.oauth.requests import HttpRequest
from tokenward.oauth.responses import parse_retry_after
from tokenward.services.context import ServiceContext
from tokenward.webhook_signature import SIGNATURE_HEADER, signature_header

__all__ = [
    "EVENT_ID_HEADER",
    "Delivery",
    "DeliveryStatus",
    "WebhookPolicy",
    "WebhookTarget",
    "deliver_due",
    "delivery_status",
    "list_events",
    "load_target",
    "next_attempt",
    "payload",
    "redeliver",
    "retry_delay",
    "signed_request",
]

log = logging.getLogger("tokenward.webhooks")

EVENT_ID_HEADER = "Tokenward-Event-Id"
DeliveryStatus = Literal["pending", "delivered", "failed"]
_MAX_ERROR = 200


@dataclass(frozen=True)
class WebhookPolicy:
    """How events are sent and retried."""

    timeout: float = 10.0  # seconds per POST (connect + answer)
    horizon: timedelta = timedelta(hours=24)  # retried until this long after creation
    backoff_base: float = 30.0  # seconds; the n-th retry waits about base * 2^(n-1)
    backoff_cap: float = 3600.0
    batch: int = 20  # events claimed (and sent concurrently) per round

    @property
    def lease(self) -> timedelta:
        """A claimed event is ours for one POST plus a margin."""
        return timedelta(seconds=self.timeout + 30)


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Delivery:
    """What one attempt did."""

    event_id: str
    outcome: Literal["delivered", "retry", "failed"]
    status: int | None = None
    error: str | None = None


def load_target(ctx: ServiceContext) -> WebhookTarget | None:
    """The webhook from the partner settings, or None while URL or secret is missing."""
    with ctx.db.read() as tx:
        settings = tx.partner.get()
    if not settings.webhook_url or not settings.webhook_secret_sealed:
        return None
    try:
        secret = ctx.sealer.open(settings.webhook_secret_sealed, webhook_secret_aad())
    except CredentialCorrupted:
        log.warning("webhook_secret_corrupted")
        return None
    return WebhookTarget(settings.webhook_url, secret)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def payload(event: Event) -> bytes:
    """The body sent for ``event``: the same bytes on every attempt."""
    document = {
        "Id": event.id,
        "Type": event.type,
        "CreatedUtc": _utc(event.created_utc),
        "AccountId": event.account_id,
        "AccountConnectorId": event.account_connector_id,
        "Data": event.data,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signed_request(event: Event, target: WebhookTarget, now: datetime) -> HttpRequest:
    body = payload(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"tokenward/{__version__}",
        EVENT_ID_HEADER: event.id,
        SIGNATURE_HEADER: signature_header(target.secret, int(now.timestamp()), body),
    }
    return HttpRequest("POST", target.url, MappingProxyType(headers), body)


def retry_delay(
    attempts: int,
    policy: WebhookPolicy,
    *,
    rand: Callable[[], float] = random.random,
    retry_after: float | None = None,
) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: exponential with "equal
    jitter" (half fixed, half random), so that delays do not shrink from one retry to the next
    until the cap and receivers are not hit in waves. A ``Retry-After`` is a floor, within the
    cap."""
    ceiling = min(policy.backoff_cap, policy.backoff_base * 2.0 ** min(max(attempts - 1, 0), 30))
    delay = ceiling / 2 + min(1.0, max(0.0, rand())) * ceiling / 2
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(float(retry_after), policy.backoff_cap))
    return delay


def next_attempt(
    event: Event,
    attempts: int,
    now: datetime,
    policy: WebhookPolicy,
    *,
    rand: Callable[[], float] = random.random,
    retry_after: float | None = None,
) -> datetime | None:
    """When to try again after a failure, or None to give up: retries stop 24 hours after the
    event's creation (or its last redelivery), with one last attempt at that mark."""
    deadline = (event.redelivered_utc or event.created_utc) + policy.horizon
    if now >= deadline:
        return None
    delay = timedelta(seconds=retry_delay(attempts, policy, rand=rand, retry_after=retry_after))
    return min(now + delay, deadline)


def delivery_status(event: Event) -> DeliveryStatus:
    if event.next_attempt_utc is not None:
        return "pending"
    if event.delivered_utc is not None and event.failed_utc is None:
        return "delivered"
    return "failed"


def _claim(ctx: ServiceContext, owner: str, policy: WebhookPolicy) -> list[Event]:
    now = ctx.clock.now()
    with ctx.db.write() as tx:
        return tx.events.claim(now, owner, now + policy.lease, policy.batch)


async def deliver_due(
    ctx: ServiceContext, owner: str, policy: WebhookPolicy | None = None
) -> list[Delivery]:
    """One round of the dispatcher: lease the due events to ``owner`` and send them."""
    policy = policy or WebhookPolicy()
    target = await asyncio.to_thread(load_target, ctx)
    if target is None:
        return []
    claimed = await asyncio.to_thread(_claim, ctx, owner, policy)
    if not claimed:
        return []
    sends = (_deliver(ctx, owner, event, target, policy) for event in claimed)
    return list(await asyncio.gather(*sends))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


async def _deliver(
    ctx: ServiceContext, owner: str, event: Event, target: WebhookTarget, policy: WebhookPolicy
) -> Delivery:
    request = signed_request(event, target, ctx.clock.now())
    status: int | None = None
    retry_after: int | None = None
    try:
        response = await ctx.transport.send(request, timeout=policy.timeout)
    except TransportError as exc:
        error = f"{exc.kind}: {exc}"[:_MAX_ERROR]
    else:
        status = response.status
        if 200 <= status < 300:
            return await _record(ctx, owner, event, Delivery(event.id, "delivered", status))
        error = f"HTTP {status}"
        header = _header(response.headers, "retry-after")
        retry_after = parse_retry_after(header, now=ctx.clock.now())
    attempts = event.attempts + 1
    when = next_attempt(event, attempts, ctx.clock.now(), policy, retry_after=retry_after)
    outcome: Literal["retry", "failed"] = "failed" if when is None else "retry"
    return await _record(ctx, owner, event, Delivery(event.id, outcome, status, error), when)


async def _record(
    ctx: ServiceContext,
    owner: str,
    event: Event,
    result: Delivery,
    when: datetime | None = None,
) -> Delivery:
    now = ctx.clock.now()
    delivered = result.outcome == "delivered"
    await asyncio.to_thread(
        _write_attempt, ctx, owner, event, result, when, now if delivered else event.delivered_utc
    )
    extra = {"event_id": event.id, "status": result.status, "attempts": event.attempts + 1}
    if delivered:
        log.info("webhook_delivered", extra=extra)
    elif result.outcome == "retry":
        log.warning("webhook_retry", extra={**extra, "error": result.error})
    else:
        log.error("webhook_given_up", extra={**extra, "error": result.error})
    return result


def _write_attempt(
    ctx: ServiceContext,
    owner: str,
    event: Event,
    result: Delivery,
    when: datetime | None,
    delivered_utc: datetime | None,
) -> None:
    with ctx.db.write() as tx:
        tx.events.record_attempt(
            event.id,
            owner,
            attempts=event.attempts + 1,
            next_attempt_utc=when,
            delivered_utc=delivered_utc,
            failed_utc=ctx.clock.now() if result.outcome == "failed" else None,
            last_status=result.status,
            last_error=result.error,
        )


def list_events(ctx: ServiceContext, page: PageRequest) -> Page[Event]:
    """The outbox, newest first, with each event's delivery state."""
    with ctx.db.read() as tx:
        items, total = tx.events.page(offset=page.offset, limit=page.page_size)
    return Page(items, total, page.page_size)


def redeliver(ctx: ServiceContext, event_id: str) -> Event:
    """Send an event again, under the same id, at the dispatcher's next round (404 if unknown).
    The redelivery starts a new 24-hour retry window, whatever the event's age."""
    with ctx.db.write() as tx:
        if len(event_id) > 36 or not tx.events.redeliver(event_id, ctx.clock.now()):
            raise NotFound(f"Event '{shown(event_id, 40)}' was not found.", "event_not_found")
        found = tx.events.get(event_id)
    assert found is not None  # redeliver matched it in this transaction
    return found
