"""The application connector library (``/v1.0/applicationconnectors``), partner-level.

Each entry is the partner's OAuth app for one connector. ``ClientSecret`` is write-only: reads
return ``"********"`` when one is set, else ``null``; writing ``"********"`` back keeps it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import Field

from tokenward.domain.binding import CyclrModel, LaxText
from tokenward.domain.paging import PageRequest
from tokenward.services import application_connectors as svc
from tokenward.services.catalog import parse_connector_id
from tokenward.services.context import Principal
from tokenward.web.api import catalog_present as present
from tokenward.web.api.catalog_present import ApplicationConnectorOut
from tokenward.web.body import read_model
from tokenward.web.deps import context, page_headers, paging, partner_principal, run
from tokenward.web.responses import body_doc, errors, ok

__all__ = ["ApplicationConnectorIn", "router"]

router = APIRouter(prefix="/v1.0", tags=["application connectors"], responses=errors())
Partner = Depends(partner_principal)


class ApplicationConnectorIn(CyclrModel):
    """A partial update: fields left out keep their values."""

    ClientId: LaxText | None = Field(None, description="null or empty removes it")
    ClientSecret: LaxText | None = Field(
        None, description="write-only; '********' keeps the stored secret, null or empty removes it"
    )
    Scopes: list[LaxText] | LaxText | None = Field(
        None,
        description="scopes to request (list, or one space/comma-separated string); "
        "null: the connector's defaults",
    )
    Settings: dict[str, LaxText] | None = Field(None, description="free-form; not for secrets")
    Enabled: bool | None = None

    def to_changes(self) -> svc.ApplicationConnectorChanges:
        """Only the fields the request sent (an explicit null differs from a missing field)."""
        values: dict[str, Any] = {
            "client_id": self.ClientId,
            "client_secret": self.ClientSecret,
            "scopes": self.Scopes,
            "settings": self.Settings,
            "enabled": self.Enabled,
        }
        sent = {_FIELDS[name] for name in self.model_fields_set}
        return svc.ApplicationConnectorChanges(**{k: v for k, v in values.items() if k in sent})


_FIELDS = {
    "ClientId": "client_id",
    "ClientSecret": "client_secret",
    "Scopes": "scopes",
    "Settings": "settings",
    "Enabled": "enabled",
}


@router.get(
    "/applicationconnectors",
    summary="The library entries the partner has stored",
    responses={200: {"model": list[ApplicationConnectorOut]}},
)
async def list_entries(
    request: Request, page: PageRequest = Depends(paging), _caller: Principal = Partner
) -> Response:
    found = await run(svc.list_application_connectors, context(request), page)
    items = [present.application_connector(v) for v in found.items]
    return ok(items, page_headers(found.total, found.total_pages))


@router.get(
    "/applicationconnectors/{connector_id}",
    summary="One connector's library entry (defaults when none is stored)",
    responses={200: {"model": ApplicationConnectorOut}},
)
async def get_entry(request: Request, connector_id: str, _caller: Principal = Partner) -> Response:
    found = await run(
        svc.get_application_connector, context(request), parse_connector_id(connector_id)
    )
    return ok(present.application_connector(found))


@router.put(
    "/applicationconnectors/{connector_id}",
    summary="Create or change a library entry (partial)",
    openapi_extra=body_doc(ApplicationConnectorIn, required=True),
    responses={200: {"model": ApplicationConnectorOut}},
)
async def put_entry(request: Request, connector_id: str, caller: Principal = Partner) -> Response:
    cid = parse_connector_id(connector_id)
    body = await read_model(request, ApplicationConnectorIn)
    saved = await run(
        svc.put_application_connector, context(request), caller, cid, body.to_changes()
    )
    return ok(present.application_connector(saved))
