"""Events of account connectors, written to the outbox in the transaction of the state change
they describe (DESIGN.md §8): a change that commits has its event, one that rolls back has none.
The webhook dispatcher (``tokenward.worker``) delivers them at least once, under a stable id.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from tokenward.domain.models import AuthState, Event
from tokenward.services.ports import Tx

__all__ = ["EventType", "emit", "event_for_transition"]


class EventType(StrEnum):
    AUTHENTICATED = "accountconnector.authenticated"
    DEAUTHENTICATED = "accountconnector.deauthenticated"
    REFRESH_FAILED = "accountconnector.refresh_failed"
    REAUTH_REQUIRED = "accountconnector.reauth_required"
    RECOVERED = "accountconnector.recovered"


def emit(
    tx: Tx,
    now: datetime,
    event_type: EventType,
    *,
    account_id: str | None,
    account_connector_id: int | None,
    data: dict[str, object],
) -> Event:
    """Add one event to the outbox (due at once). ``data`` must never hold a secret."""
    event = Event(
        id=str(uuid.uuid4()),
        type=event_type.value,
        created_utc=now,
        account_id=account_id,
        account_connector_id=account_connector_id,
        data=data,
        next_attempt_utc=now,
    )
    tx.events.add(event)
    return event


def event_for_transition(
    before: AuthState, before_failing: bool, after: AuthState, after_failing: bool
) -> EventType | None:
    """The one event a credential state change emits, or None when nothing changed that a
    partner acts on. ``*_failing``: the credential carries a transient refresh failure."""
    usable = {AuthState.ACTIVE, AuthState.REFRESHING}
    if after in usable and not after_failing:
        if before in usable and before_failing:
            return EventType.RECOVERED
        if before in {AuthState.EXHAUSTED, AuthState.ERROR_CONFIG}:
            return EventType.RECOVERED
        if before not in usable:
            return EventType.AUTHENTICATED
        return None
    if after is AuthState.NEEDS_REAUTH and before is not AuthState.NEEDS_REAUTH:
        return EventType.REAUTH_REQUIRED
    if after in {AuthState.ERROR_CONFIG, AuthState.EXHAUSTED} and before is not after:
        return EventType.REFRESH_FAILED
    if after in usable and after_failing and not (before in usable and before_failing):
        return EventType.REFRESH_FAILED
    if after is AuthState.UNAUTHENTICATED and before is not AuthState.UNAUTHENTICATED:
        return EventType.DEAUTHENTICATED
    return None
