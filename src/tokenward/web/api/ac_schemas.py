"""Request and response shapes of installs, account connectors and their properties."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tokenward.domain.binding import CyclrModel, LaxText
from tokenward.services.account_connectors import AccountConnectorChanges
from tokenward.services.install import InstallRequest
from tokenward.services.property_rules import PropertyInput

__all__ = [
    "AccountConnectorIn",
    "AccountConnectorOut",
    "AuthErrorOut",
    "ConnectorSummaryOut",
    "InstallIn",
    "PropertyIn",
    "PropertyOut",
    "as_id",
]

MAX_DB_ID = 2**31 - 1


def as_id(text: str) -> int:
    """A path id; 0 (which no row has, so the service answers 404) when not a valid integer."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return 0
    number = int(text)
    return number if number <= MAX_DB_ID else 0


class PropertyIn(CyclrModel):
    """``{Name, Value}``; ``Id`` and ``AccountConnectorId`` are accepted and ignored."""

    Name: LaxText | None = None
    Value: LaxText | None = None
    Id: Any = Field(None, description="ignored (Cyclr clients send 0)")
    AccountConnectorId: Any = Field(None, description="ignored")

    def to_input(self) -> PropertyInput:
        return PropertyInput(self.Name, self.Value)


class InstallIn(CyclrModel):
    Name: LaxText | None = Field(None, description="default: the connector's name")
    Description: LaxText | None = None
    AuthenticationId: LaxText | None = Field(None, description="an Authentication[].Id")
    AuthValue: LaxText | None = Field(None, description="a string; see docs/account-connectors")
    Properties: list[PropertyIn] | None = None
    IsPartnerIntegrationConnector: bool | None = None

    def to_request(self) -> InstallRequest:
        return InstallRequest(
            name=self.Name,
            description=self.Description,
            authentication_id=self.AuthenticationId,
            auth_value=self.AuthValue,
            properties=tuple(p.to_input() for p in self.Properties or ()),
            is_partner_integration=self.IsPartnerIntegrationConnector,
        )


class AccountConnectorIn(InstallIn):
    """A partial update: absent or null fields stay as they are."""

    def to_changes(self) -> AccountConnectorChanges:
        return AccountConnectorChanges(
            name=self.Name,
            description=self.Description,
            authentication_id=self.AuthenticationId,
            auth_value=self.AuthValue,
            properties=None
            if self.Properties is None
            else tuple(p.to_input() for p in self.Properties),
            is_partner_integration=self.IsPartnerIntegrationConnector,
        )


class PropertyOut(BaseModel):
    Name: str
    Value: str | None = Field(description='"********" for a set sensitive value')
    Id: int
    AccountConnectorId: int


class AuthErrorOut(BaseModel):
    Code: str
    Message: str


class ConnectorSummaryOut(BaseModel):
    Id: int
    Name: str | None
    Version: str | None
    Description: str | None
    Icon: str | None
    Status: str | None
    AuthType: str | None
    OAuth2Type: str | None
    AuthScheme: str | None
    Parameters: list[dict[str, Any]]


class AccountConnectorOut(BaseModel):
    Id: int
    Name: str
    Description: str | None
    Authenticated: bool
    AuthValue: str | None = Field(description="masked, or revealed (RevealPartnerAuthValue)")
    AuthenticationId: str | None
    Connector: ConnectorSummaryOut
    Properties: list[PropertyOut]
    IsPartnerIntegrationConnector: bool
    AuthState: str
    AuthError: AuthErrorOut | None
    ExpiresUtc: str | None
    LastRefreshedUtc: str | None
