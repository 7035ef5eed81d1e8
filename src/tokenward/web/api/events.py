"""Events (``/v1.0/events``): the outbox with each event's delivery state, newest first, and
redelivery under the same id. Ours (Cyclr has no public equivalent), in the same style;
partner-level: a token restricted to one account gets 403."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from tokenward.domain.models import Event
from tokenward.domain.paging import PageRequest
from tokenward.services import webhooks as svc
from tokenward.services.context import Principal
from tokenward.web.api.present import utc
from tokenward.web.deps import context, page_headers, paging, partner_principal, run
from tokenward.web.responses import errors, ok

__all__ = ["EventOut", "router"]

router = APIRouter(prefix="/v1.0/events", tags=["events"], responses=errors())

EventIdPath = Path(..., description="the event Id", max_length=100)


class EventOut(BaseModel):
    Id: str = Field(description="stable: the same on every delivery (Tokenward-Event-Id)")
    Type: str = Field(description="accountconnector.authenticated, .deauthenticated, …")
    CreatedUtc: str
    AccountId: str | None
    AccountConnectorId: int | None
    Data: dict[str, Any] = Field(description="never holds a secret")
    Status: Literal["pending", "delivered", "failed"]
    Attempts: int
    NextAttemptUtc: str | None
    DeliveredUtc: str | None
    FailedUtc: str | None
    LastStatus: int | None = Field(description="HTTP status of the last attempt, if answered")
    LastError: str | None


def _event(event: Event) -> dict[str, Any]:
    return {
        "Id": event.id,
        "Type": event.type,
        "CreatedUtc": utc(event.created_utc),
        "AccountId": event.account_id,
        "AccountConnectorId": event.account_connector_id,
        "Data": event.data,
        "Status": svc.delivery_status(event),
        "Attempts": event.attempts,
        "NextAttemptUtc": utc(event.next_attempt_utc),
        "DeliveredUtc": utc(event.delivered_utc),
        "FailedUtc": utc(event.failed_utc),
        "LastStatus": event.last_status,
        "LastError": event.last_error,
    }


@router.get("", summary="List events, newest first", responses={200: {"model": list[EventOut]}})
async def list_events(
    request: Request,
    page: PageRequest = Depends(paging),
    _caller: Principal = Depends(partner_principal),
) -> Response:
    found = await run(svc.list_events, context(request), page)
    return ok([_event(e) for e in found.items], page_headers(found.total, found.total_pages))


@router.post(
    "/{event_id}/redeliver",
    summary="Send an event again (same Id)",
    responses={200: {"model": EventOut}},
)
async def redeliver_event(
    request: Request,
    event_id: str = EventIdPath,
    _caller: Principal = Depends(partner_principal),
) -> Response:
    return ok(_event(await run(svc.redeliver, context(request), event_id)))
