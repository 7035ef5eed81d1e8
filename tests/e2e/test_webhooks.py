"""Webhook delivery of the event outbox over real loopback sockets (DESIGN.md §8): the payload
and its signature, the stable event id across retries and redelivery, backoff on 500 and
timeouts, the 24-hour horizon, two dispatchers sharing one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from webhook_receiver import Receiver, receiving

from tokenward.clock import FakeClock
from tokenward.domain.models import Event
from tokenward.outbound.transport import Transport
from tokenward.runtime import Runtime
from tokenward.services import webhooks
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.events import EventType, emit
from tokenward.services.partner_settings import PartnerSettingsChanges, update_partner_settings
from tokenward.settings import Settings
from tokenward.web.app import create_app
from tokenward.webhook_signature import verify_signature
from tokenward.worker.webhooks import WebhookDispatcher

SECRET = "whsec-test-0123456789"
ADMIN = Principal("tests")
FAST = webhooks.WebhookPolicy(timeout=0.5)


@pytest.fixture
async def ctx(runtime: Runtime) -> AsyncIterator[ServiceContext]:
    yield runtime.ctx
    await runtime.ctx.transport.aclose()


@pytest.fixture
async def receiver(ctx: ServiceContext) -> AsyncIterator[Receiver]:
    async with receiving() as found:
        configure(ctx, found.url)
        yield found


def configure(ctx: ServiceContext, url: str | None, secret: str | None = SECRET) -> None:
    changes = PartnerSettingsChanges(
        given=frozenset({"webhook_url", "webhook_secret"}), webhook_url=url, webhook_secret=secret
    )
    update_partner_settings(ctx, ADMIN, changes)


def add_event(ctx: ServiceContext, **data: object) -> Event:
    with ctx.db.write() as tx:
        return emit(
            tx,
            ctx.clock.now(),
            EventType.REAUTH_REQUIRED,
            account_id="acme",
            account_connector_id=42,
            data=dict(data) or {"AuthState": "needs_reauth"},
        )


def stored(ctx: ServiceContext, event_id: str) -> Event:
    with ctx.db.read() as tx:
        found = tx.events.get(event_id)
    assert found is not None
    return found


async def test_webhook_payload_shape_headers_and_signature(
    ctx: ServiceContext, receiver: Receiver, clock: FakeClock
) -> None:
    """One POST with exactly the contract's JSON fields, Content-Type application/json, the
    event id header, and a signature that verifies on the raw body with the WebhookSecret."""
    event = add_event(ctx)
    dispatcher = WebhookDispatcher(ctx, policy=FAST)
    assert await dispatcher.run_once() == 1
    [delivery] = receiver.deliveries
    assert delivery.json == {
        "Id": event.id,
        "Type": "accountconnector.reauth_required",
        "CreatedUtc": event.created_utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "AccountId": "acme",
        "AccountConnectorId": 42,
        "Data": {"AuthState": "needs_reauth"},
    }
    assert datetime.fromisoformat(delivery.json["CreatedUtc"]) == event.created_utc
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.event_id == event.id
    signature = delivery.headers["tokenward-signature"]
    assert verify_signature(SECRET, signature, delivery.body, clock.now())
    assert not verify_signature("whsec-some-other-secret", signature, delivery.body, clock.now())
    after = stored(ctx, event.id)
    assert webhooks.delivery_status(after) == "delivered"
    assert (after.attempts, after.last_status, after.next_attempt_utc) == (1, 200, None)
    assert await dispatcher.run_once() == 0  # delivered events are not sent again


async def test_R05_event_id_is_stable_across_redelivery(
    ctx: ServiceContext, receiver: Receiver
) -> None:
    """A redelivered event goes out again under the same Tokenward-Event-Id with the same body
    (R-05: same event id on redelivery)."""
    event = add_event(ctx)
    dispatcher = WebhookDispatcher(ctx, policy=FAST)
    await dispatcher.run_once()
    again = webhooks.redeliver(ctx, event.id)
    assert webhooks.delivery_status(again) == "pending"
    assert await dispatcher.run_once() == 1
    first, second = receiver.deliveries
    assert first.event_id == second.event_id == event.id
    assert first.body == second.body
    assert stored(ctx, event.id).attempts == 2


async def test_retries_with_growing_backoff_on_500_and_timeout(
    ctx: ServiceContext, receiver: Receiver, clock: FakeClock
) -> None:
    """A 500, then a timeout, are retried later, each wait at least as long as the one before;
    the third attempt is delivered, with the same event id every time."""
    event = add_event(ctx)
    receiver.answer_next(500, 2.0)  # 2 s hold > the 0.5 s timeout
    dispatcher = WebhookDispatcher(ctx, policy=FAST)
    waits = []
    for expected in ("HTTP 500", "timeout"):
        [result] = await webhooks.deliver_due(ctx, dispatcher.owner, FAST)
        after = stored(ctx, event.id)
        assert result.outcome == "retry"
        assert after.last_error is not None
        assert after.last_error.startswith(expected)
        assert after.next_attempt_utc is not None
        assert await dispatcher.run_once() == 0  # not due yet
        waits.append((after.next_attempt_utc - clock.now()).total_seconds())
        clock.advance(waits[-1])
    assert await dispatcher.run_once() == 1
    assert FAST.backoff_base / 2 <= waits[0] <= waits[1]
    assert receiver.ids() == [event.id] * 3
    assert webhooks.delivery_status(stored(ctx, event.id)) == "delivered"


async def test_gives_up_24_hours_after_creation_and_can_be_redelivered(
    ctx: ServiceContext, receiver: Receiver, clock: FakeClock
) -> None:
    """Failing answers are retried until 24 h after creation — the last attempt at that mark —
    then the event is failed; a redelivery sends it once more under the same id."""
    event = add_event(ctx)
    receiver.answer_next(*[503] * 100)
    dispatcher = WebhookDispatcher(ctx, policy=FAST)
    attempts_at = []
    while webhooks.delivery_status(stored(ctx, event.id)) == "pending":
        attempts_at.append(clock.now())
        assert await dispatcher.run_once() == 1
        due = stored(ctx, event.id).next_attempt_utc
        if due is not None:
            clock.advance((due - clock.now()).total_seconds())
    failed = stored(ctx, event.id)
    assert attempts_at[-1] == event.created_utc + timedelta(hours=24)
    assert 10 <= len(attempts_at) <= 60
    assert (failed.attempts, failed.last_status) == (len(attempts_at), 503)
    assert failed.failed_utc == attempts_at[-1]
    receiver.answers.clear()
    webhooks.redeliver(ctx, event.id)
    assert await dispatcher.run_once() == 1
    assert webhooks.delivery_status(stored(ctx, event.id)) == "delivered"
    assert set(receiver.ids()) == {event.id}


async def test_a_redelivery_starts_a_new_24_hour_window(
    ctx: ServiceContext, receiver: Receiver, clock: FakeClock
) -> None:
    """An event redelivered two days after its creation, to a receiver that is still down,
    is retried again (not failed after one attempt) until 24 h after the redelivery."""
    event = add_event(ctx)
    clock.advance(48 * 3600)
    receiver.answer_next(*[503] * 100)
    dispatcher = WebhookDispatcher(ctx, policy=FAST)
    redelivered_at = clock.now()
    webhooks.redeliver(ctx, event.id)
    assert await dispatcher.run_once() == 1
    after_first = stored(ctx, event.id)
    assert webhooks.delivery_status(after_first) == "pending"
    assert after_first.redelivered_utc == redelivered_at
    assert after_first.next_attempt_utc is not None
    assert after_first.next_attempt_utc <= redelivered_at + timedelta(hours=24)
    receiver.answers.clear()
    clock.advance((after_first.next_attempt_utc - clock.now()).total_seconds())
    assert await dispatcher.run_once() == 1
    assert webhooks.delivery_status(stored(ctx, event.id)) == "delivered"
    assert set(receiver.ids()) == {event.id}


async def test_two_dispatchers_on_one_database_send_each_event_and_never_at_once(
    ctx: ServiceContext, receiver: Receiver
) -> None:
    """Two dispatchers (own lease owners) racing over one outbox: every event arrives, none is
    being sent by both at the same time (at least once, never concurrently)."""
    events = [add_event(ctx, N=i) for i in range(16)]
    receiver.hold = 0.02
    small = webhooks.WebhookPolicy(timeout=2.0, batch=4)
    first = WebhookDispatcher(ctx, policy=small)
    second = WebhookDispatcher(ctx, policy=small)

    async def drain(dispatcher: WebhookDispatcher) -> int:
        sent = 0
        while done := await dispatcher.run_once():
            sent += done
        return sent

    counts = await asyncio.gather(drain(first), drain(second))
    assert set(receiver.ids()) == {e.id for e in events}
    assert sum(counts) == len(receiver.deliveries)
    assert receiver.overlaps == []
    statuses = {webhooks.delivery_status(stored(ctx, e.id)) for e in events}
    assert statuses == {"delivered"}


async def test_without_a_webhook_url_events_stay_pending_until_one_is_set(
    ctx: ServiceContext,
) -> None:
    """No WebhookUrl (or no secret): nothing is claimed or changed; once both are set, the
    pending events are delivered."""
    event = add_event(ctx)
    dispatcher = WebhookDispatcher(ctx, policy=FAST)
    async with receiving() as receiver:
        assert await dispatcher.run_once() == 0
        configure(ctx, receiver.url, secret=None)
        assert await dispatcher.run_once() == 0
        waiting = stored(ctx, event.id)
        assert (webhooks.delivery_status(waiting), waiting.attempts) == ("pending", 0)
        configure(ctx, receiver.url)
        assert await dispatcher.run_once() == 1
    assert receiver.ids() == [event.id]


async def test_refused_destination_is_retried_not_sent(
    ctx: ServiceContext, receiver: Receiver
) -> None:
    """A WebhookUrl the egress policy refuses (plain http when insecure http is off) is a
    failed attempt, retried later; nothing is sent."""
    event = add_event(ctx)
    strict = Transport(allow_insecure_http=False)
    try:
        [result] = await webhooks.deliver_due(replace(ctx, transport=strict), "owner-1", FAST)
    finally:
        await strict.aclose()
    assert result.outcome == "retry"
    assert receiver.deliveries == []
    assert "refused" in (stored(ctx, event.id).last_error or "")


async def test_the_app_lifespan_runs_the_dispatcher_when_told_to(
    ctx: ServiceContext, receiver: Receiver, runtime: Runtime, settings: Settings
) -> None:
    """``serve`` (an app owning its runtime, or ``dispatch=True``) delivers events in the
    background; an app sharing a test's runtime does not, unless told to."""
    event = add_event(ctx)
    quiet = create_app(settings, runtime=runtime)
    async with quiet.router.lifespan_context(quiet):
        await asyncio.sleep(1.5)
    assert receiver.deliveries == []
    app = create_app(settings, runtime=runtime, dispatch=True)
    async with app.router.lifespan_context(app):
        for _ in range(100):
            if receiver.deliveries:
                break
            await asyncio.sleep(0.1)
    assert receiver.ids() == [event.id]
