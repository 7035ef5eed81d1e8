"""LAUNCH and Marketplace (partner level; docs/launch.md): prepare an account and return a
single-use URL to the connect page.

Bodies are bound as Cyclr clients send them: any key case (``completeParameter``, ``tags``),
booleans and numbers as strings, ``ConnectorAuthentications`` as an array or a single object,
the older ``PartnerConnector`` object, an ``AuthValue`` given as a JSON object instead of the
string Cyclr documents.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, Field

from tokenward.domain.binding import CyclrModel, LaxText
from tokenward.errors import InvalidRequest
from tokenward.services import launch as svc
from tokenward.services.context import Principal
from tokenward.services.launch_urls import Surface
from tokenward.web.api import present
from tokenward.web.api.ac_schemas import PropertyIn
from tokenward.web.body import read_model
from tokenward.web.deps import check_account_path, context, principal, run
from tokenward.web.responses import body_doc, errors, ok

__all__ = ["LaunchIn", "LaunchOut", "MarketplaceOut", "PartnerConnectorIn", "router"]

router = APIRouter(prefix="/v1.0", tags=["launch"], responses=errors())


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _json_text(value: Any) -> Any:
    """An AuthValue sent as a JSON object is the string it would have been."""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


def _tag_list(value: Any) -> Any:
    """``Tags`` as an array, or one comma-separated string."""
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    return value


class PartnerConnectorIn(CyclrModel):
    Name: LaxText | None = Field(None, max_length=200)
    Version: LaxText | None = Field(None, max_length=50)
    Id: LaxText | None = Field(None, max_length=20, description="a connector Id (instead of Name)")
    AuthenticationId: LaxText | None = None
    AuthValue: Annotated[LaxText | None, BeforeValidator(_json_text)] = Field(
        None, description="a string, as for install; see docs/account-connectors.md"
    )
    Properties: list[PropertyIn] | None = None

    def to_input(self) -> svc.PartnerConnectorInput:
        return svc.PartnerConnectorInput(
            name=self.Name,
            version=self.Version,
            connector_id=self.Id,
            authentication_id=self.AuthenticationId,
            auth_value=self.AuthValue,
            properties=tuple(p.to_input() for p in self.Properties or ()),
        )


Flag = Annotated[bool | None, BeforeValidator(_blank_is_none)]


class LaunchIn(CyclrModel):
    AccountId: LaxText | None = Field(None, max_length=200, description="user variants only")
    AccountName: LaxText | None = Field(None, max_length=500)
    AccountDescription: LaxText | None = Field(None, max_length=10_000)
    Username: LaxText | None = Field(None, max_length=200)
    Password: LaxText | None = Field(None, max_length=1000)
    ConnectorAuthentications: Annotated[
        list[PartnerConnectorIn] | PartnerConnectorIn | None, BeforeValidator(_blank_is_none)
    ] = None
    PartnerConnector: Annotated[PartnerConnectorIn | None, BeforeValidator(_blank_is_none)] = Field(
        None, description="the older form of one partner connector"
    )
    InlineOAuth: Flag = None
    Start: Flag = None
    RunOnce: Flag = None
    AutoInstall: Flag = None
    SingleInstall: Flag = None
    Wizard: Flag = None
    DisplayDescriptions: Flag = None
    CompleteParameter: LaxText | None = Field(None, max_length=1000)
    Tags: Annotated[list[LaxText] | None, BeforeValidator(_tag_list)] = None
    MarketplaceId: LaxText | None = Field(None, max_length=100)

    def connectors(self) -> tuple[tuple[svc.PartnerConnectorInput, ...], str]:
        given = self.ConnectorAuthentications
        if given is not None and self.PartnerConnector is not None:
            raise InvalidRequest(
                "Give either ConnectorAuthentications or PartnerConnector, not both.",
                "ambiguous_partner_connector",
            )
        if self.PartnerConnector is not None:
            return (self.PartnerConnector.to_input(),), "PartnerConnector"
        entries = given if isinstance(given, list) else [given] if given else []
        return tuple(e.to_input() for e in entries), "ConnectorAuthentications"

    def to_request(self, surface: Surface, account_id: str | None) -> svc.LaunchRequest:
        connectors, source = self.connectors()
        flags = svc.LaunchFlags(
            inline=self.InlineOAuth,
            start=self.Start,
            once=self.RunOnce,
            auto=self.AutoInstall,
            single=self.SingleInstall,
            wizard=self.Wizard,
            descriptions=self.DisplayDescriptions,
            complete_parameter=self.CompleteParameter,
            tags=tuple(self.Tags or ()),
            marketplace_id=self.MarketplaceId if surface == "marketplace" else None,
        )
        return svc.LaunchRequest(
            surface=surface,
            account_id=account_id,
            account_name=self.AccountName,
            account_description=self.AccountDescription,
            username=self.Username,
            password=self.Password,
            connectors=connectors,
            flags=flags,
            source=source,
        )


class LaunchOut(BaseModel):
    AccountId: str
    Token: str
    ExpiresAtUtc: str
    LaunchUrl: str


class MarketplaceOut(BaseModel):
    AccountId: str
    Token: str
    ExpiresAtUtc: str
    MarketplaceUrl: str


_URL_FIELD = {"launch": "LaunchUrl", "marketplace": "MarketplaceUrl"}


async def _launch(
    request: Request, caller: Principal, surface: Surface, account_id: str | None
) -> Response:
    body = await read_model(request, LaunchIn)
    if account_id is None:  # the user variants: the account and the user are in the body
        account_id = body.AccountId
        if not body.Username or not body.Username.strip():
            raise InvalidRequest("Username is required.", "username_required")
        check_account_path(caller, (account_id or "").strip())
    launched = await run(svc.launch, context(request), caller, body.to_request(surface, account_id))
    return ok(
        {
            "AccountId": launched.account_id,
            "Token": launched.token,
            "ExpiresAtUtc": present.utc(launched.expires_utc),
            _URL_FIELD[surface]: launched.url,
        },
        {"Cache-Control": "no-store"},
    )


AccountPath = Path(..., description="the account's API ID (created if missing)", max_length=200)


@router.post(
    "/accounts/{account_id}/launch",
    summary="LAUNCH: prepare the account, get a single-use connect page URL",
    openapi_extra=body_doc(LaunchIn),
    responses={200: {"model": LaunchOut}},
)
async def account_launch(
    request: Request, account_id: str = AccountPath, caller: Principal = Depends(principal)
) -> Response:
    check_account_path(caller, account_id)
    return await _launch(request, caller, "launch", account_id)


@router.post(
    "/accounts/{account_id}/marketplace",
    summary="Marketplace: prepare the account, get a single-use connect page URL",
    openapi_extra=body_doc(LaunchIn),
    responses={200: {"model": MarketplaceOut}},
)
async def account_marketplace(
    request: Request, account_id: str = AccountPath, caller: Principal = Depends(principal)
) -> Response:
    check_account_path(caller, account_id)
    return await _launch(request, caller, "marketplace", account_id)


@router.post(
    "/users/launch",
    summary="LAUNCH for a user (AccountId and Username in the body)",
    openapi_extra=body_doc(LaunchIn, required=True),
    responses={200: {"model": LaunchOut}},
)
async def user_launch(request: Request, caller: Principal = Depends(principal)) -> Response:
    return await _launch(request, caller, "launch", None)


@router.post(
    "/users/marketplace",
    summary="Marketplace for a user (AccountId and Username in the body)",
    openapi_extra=body_doc(LaunchIn, required=True),
    responses={200: {"model": MarketplaceOut}},
)
async def user_marketplace(request: Request, caller: Principal = Depends(principal)) -> Response:
    return await _launch(request, caller, "marketplace", None)
