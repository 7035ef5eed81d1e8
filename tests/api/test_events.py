"""The events API (``/v1.0/events``): the outbox newest first with each event's delivery state,
and redelivery under the same Id; partner-level calls only."""

from __future__ import annotations

from ac_support import restricted_headers
from fastapi.testclient import TestClient

from tokenward.clock import FakeClock
from tokenward.domain.models import Event
from tokenward.runtime import Runtime
from tokenward.services.events import EventType, emit

URL = "/v1.0/events"


def _event(runtime: Runtime, n: int) -> Event:
    ctx = runtime.ctx
    with ctx.db.write() as tx:
        return emit(
            tx,
            ctx.clock.now(),
            EventType.AUTHENTICATED,
            account_id="acme",
            account_connector_id=n,
            data={"N": n},
        )


def test_list_is_newest_first_paged_with_delivery_state(
    client: TestClient, auth: dict[str, str], runtime: Runtime, clock: FakeClock
) -> None:
    """Newest first, Cyclr paging headers, the contract's fields plus the delivery state."""
    _event(runtime, 1)
    clock.advance(1)
    newer = _event(runtime, 2)
    page = client.get(f"{URL}?pageSize=1", headers=auth)
    assert page.status_code == 200, page.text
    assert (page.headers["Total-Records"], page.headers["Total-Pages"]) == ("2", "2")
    [item] = page.json()
    assert item == {
        "Id": newer.id,
        "Type": "accountconnector.authenticated",
        "CreatedUtc": newer.created_utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "AccountId": "acme",
        "AccountConnectorId": 2,
        "Data": {"N": 2},
        "Status": "pending",
        "Attempts": 0,
        "NextAttemptUtc": item["NextAttemptUtc"],
        "DeliveredUtc": None,
        "FailedUtc": None,
        "LastStatus": None,
        "LastError": None,
    }
    assert item["NextAttemptUtc"].endswith("Z")
    assert [e["Data"]["N"] for e in client.get(URL, headers=auth).json()] == [2, 1]


def test_R05_redeliver_keeps_the_id_and_unknown_is_404(
    client: TestClient, auth: dict[str, str], runtime: Runtime, clock: FakeClock
) -> None:
    """POST …/redeliver schedules the same event (same Id) for now; unknown Ids are 404."""
    event = _event(runtime, 1)
    clock.advance(60)
    answer = client.post(f"{URL}/{event.id}/redeliver", headers=auth)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["Id"], body["Status"]) == (event.id, "pending")
    assert body["NextAttemptUtc"] == clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for unknown in ("00000000-0000-0000-0000-000000000000", "x" * 60, "%00"):
        missing = client.post(f"{URL}/{unknown}/redeliver", headers=auth)
        assert missing.status_code in {400, 404}, unknown
    missing = client.post(f"{URL}/{'0' * 36}/redeliver", headers=auth)
    assert (missing.status_code, missing.json()["Code"]) == (404, "event_not_found")


def test_events_are_partner_level(
    client: TestClient, auth: dict[str, str], account: str, api_client: tuple[str, str]
) -> None:
    """No bearer → 401; a token restricted to one account → 403."""
    assert client.get(URL).status_code == 401
    restricted = restricted_headers(client, api_client, account)
    assert client.get(URL, headers=restricted).status_code == 403
    assert client.post(f"{URL}/{'0' * 36}/redeliver", headers=restricted).status_code == 403
