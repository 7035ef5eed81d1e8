"""The webhook retry schedule and payload, as pure functions: exponential backoff with jitter,
never shrinking, a Retry-After floor, and the 24-hour horizon with its last attempt at the mark."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tokenward.domain.models import Event
from tokenward.services.webhooks import (
    WebhookPolicy,
    delivery_status,
    next_attempt,
    payload,
    retry_delay,
)

POLICY = WebhookPolicy()
CREATED = datetime(2030, 1, 1, tzinfo=UTC)


def _event(**fields: object) -> Event:
    base: dict[str, object] = {
        "id": "7d0e4a4e-5d1c-4f4e-9a77-2f6a3f1b0c01",
        "type": "accountconnector.authenticated",
        "created_utc": CREATED,
        "account_id": "acme",
        "account_connector_id": 7,
        "data": {"AuthState": "active"},
    }
    return Event(**(base | fields))  # type: ignore[arg-type]


def test_payload_has_exactly_the_contract_fields() -> None:
    """Id, Type, CreatedUtc (ISO 8601 with Z), AccountId, AccountConnectorId, Data; nothing else."""
    body = json.loads(payload(_event()))
    assert body == {
        "Id": "7d0e4a4e-5d1c-4f4e-9a77-2f6a3f1b0c01",
        "Type": "accountconnector.authenticated",
        "CreatedUtc": "2030-01-01T00:00:00.000000Z",
        "AccountId": "acme",
        "AccountConnectorId": 7,
        "Data": {"AuthState": "active"},
    }


@given(st.floats(0, 1), st.floats(0, 1), st.integers(1, 60))
def test_delays_grow_and_stay_within_the_cap(first: float, second: float, attempts: int) -> None:
    """Equal jitter: until the cap the delay after n+1 failures is never shorter than after n;
    at the cap it stays between half the cap and the cap; never below half the base."""
    now = retry_delay(attempts, POLICY, rand=lambda: first)
    later = retry_delay(attempts + 1, POLICY, rand=lambda: second)
    assert POLICY.backoff_base / 2 <= now <= POLICY.backoff_cap
    assert min(now, POLICY.backoff_cap / 2) <= later <= POLICY.backoff_cap


def test_retry_after_is_a_floor_within_the_cap() -> None:
    """A receiver's Retry-After is respected, up to the cap."""
    assert retry_delay(1, POLICY, rand=lambda: 0, retry_after=600) == 600
    assert retry_delay(1, POLICY, rand=lambda: 0, retry_after=10**6) == POLICY.backoff_cap


def test_the_last_attempt_is_at_the_24_hour_mark_then_none() -> None:
    """A retry never lands after created + 24 h; at or after the mark the event is given up."""
    event = _event()
    deadline = CREATED + timedelta(hours=24)
    late = deadline - timedelta(minutes=5)
    assert next_attempt(event, 30, late, POLICY, rand=lambda: 1) == deadline
    assert next_attempt(event, 31, deadline, POLICY) is None
    assert next_attempt(event, 1, CREATED, POLICY, rand=lambda: 0) == CREATED + timedelta(
        seconds=POLICY.backoff_base / 2
    )


def test_delivery_status_follows_the_columns() -> None:
    """Due → pending; delivered and not due → delivered; given up → failed."""
    assert delivery_status(_event(next_attempt_utc=CREATED)) == "pending"
    assert delivery_status(_event(delivered_utc=CREATED)) == "delivered"
    assert delivery_status(_event(failed_utc=CREATED)) == "failed"
    redelivering = _event(delivered_utc=CREATED, next_attempt_utc=CREATED)
    assert delivery_status(redelivering) == "pending"
