"""Partner settings (``GET/PUT /v1.0/partner/settings``): partner-level, no account header; a
token restricted to one account gets 403."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, Field

from tokenward.domain.binding import CyclrModel, LaxText
from tokenward.services import partner_settings as svc
from tokenward.services.context import Principal
from tokenward.web.api import ac_present as present
from tokenward.web.body import read_model
from tokenward.web.deps import context, partner_principal, run
from tokenward.web.responses import body_doc, errors, ok

__all__ = ["PartnerSettingsIn", "PartnerSettingsOut", "router"]

router = APIRouter(prefix="/v1.0/partner", tags=["partner"], responses=errors())


def _split(value: Any) -> Any:
    """One comma-separated string is accepted where a list of origins is expected."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class PartnerSettingsIn(CyclrModel):
    """A partial update: fields named change (null resets), others stay."""

    AllowedTargetOrigins: Annotated[list[LaxText] | None, BeforeValidator(_split)] = Field(
        None, description="origins scheme://host[:port]"
    )
    WebhookUrl: LaxText | None = None
    WebhookSecret: LaxText | None = Field(None, description="write-only")
    ApiTokenLifetimeSeconds: int | None = None
    SignInTokenLifetimeSeconds: int | None = None
    RevealPartnerAuthValue: bool | None = None

    def to_changes(self) -> svc.PartnerSettingsChanges:
        names = {
            "AllowedTargetOrigins": "allowed_target_origins",
            "WebhookUrl": "webhook_url",
            "WebhookSecret": "webhook_secret",
            "ApiTokenLifetimeSeconds": "api_token_lifetime_seconds",
            "SignInTokenLifetimeSeconds": "signin_token_lifetime_seconds",
            "RevealPartnerAuthValue": "reveal_partner_auth_value",
        }
        origins = self.AllowedTargetOrigins
        return svc.PartnerSettingsChanges(
            given=frozenset(names[n] for n in self.model_fields_set if n in names),
            allowed_target_origins=None if origins is None else tuple(origins),
            webhook_url=self.WebhookUrl,
            webhook_secret=self.WebhookSecret,
            api_token_lifetime_seconds=self.ApiTokenLifetimeSeconds,
            signin_token_lifetime_seconds=self.SignInTokenLifetimeSeconds,
            reveal_partner_auth_value=self.RevealPartnerAuthValue,
        )


class PartnerSettingsOut(BaseModel):
    AllowedTargetOrigins: list[str]
    EffectiveAllowedTargetOrigins: list[str]
    WebhookUrl: str | None
    WebhookSecret: str | None = Field(description='"********" when set')
    ApiTokenLifetimeSeconds: int
    SignInTokenLifetimeSeconds: int
    RevealPartnerAuthValue: bool


@router.get("/settings", summary="Partner settings", responses={200: {"model": PartnerSettingsOut}})
async def get_settings(
    request: Request, _caller: Principal = Depends(partner_principal)
) -> Response:
    return ok(present.partner_settings(await run(svc.get_partner_settings, context(request))))


@router.put(
    "/settings",
    summary="Change partner settings (partial)",
    openapi_extra=body_doc(PartnerSettingsIn),
    responses={200: {"model": PartnerSettingsOut}},
)
async def update_settings(
    request: Request, caller: Principal = Depends(partner_principal)
) -> Response:
    changes = (await read_model(request, PartnerSettingsIn)).to_changes()
    view = await run(svc.update_partner_settings, context(request), caller, changes)
    return ok(present.partner_settings(view))
