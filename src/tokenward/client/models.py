"""What the partner API answers, as typed dictionaries (the API's own PascalCase names), and the
two answers that are not plain JSON documents: a method call's upstream response and the bearer
token of ``POST /oauth/token``.

The dictionaries are the parsed JSON itself (``total=False``: the service may add fields), so a
``dict`` read from the API needs no conversion and code written against Cyclr's JSON keeps its
field names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypedDict

import httpx

__all__ = [
    "Account",
    "AccountConnector",
    "ApplicationConnector",
    "BearerToken",
    "Connector",
    "CredentialToken",
    "Event",
    "Method",
    "MethodResponse",
    "PartnerSettings",
    "Property",
    "SignInToken",
]


class Account(TypedDict, total=False):
    Id: str
    Name: str
    Description: str | None
    Timezone: str | None
    CreatedDate: str


class SignInToken(TypedDict):
    Token: str
    ExpiresAtUtc: str


class Property(TypedDict, total=False):
    Id: int
    Name: str
    Value: str | None
    AccountConnectorId: int


class AuthError(TypedDict):
    Code: str
    Message: str


class AccountConnector(TypedDict, total=False):
    Id: int
    Name: str
    Description: str | None
    Authenticated: bool
    AuthValue: str | None
    AuthenticationId: str | None
    Connector: dict[str, Any]
    Properties: list[Property]
    IsPartnerIntegrationConnector: bool
    AuthState: str
    AuthError: AuthError | None
    ExpiresUtc: str | None
    LastRefreshedUtc: str | None


class Connector(TypedDict, total=False):
    Id: int
    Name: str
    Version: str
    Description: str | None
    AuthType: str | None
    OAuth2Type: str | None
    Categories: list[str]
    Parameters: list[dict[str, Any]]
    Authentication: list[dict[str, Any]]
    Methods: list[Method]


class Method(TypedDict, total=False):
    Id: int
    Name: str
    MethodUniqueIdentifier: str
    Category: str | None
    HttpMethod: str
    EndPoint: str
    Parameters: list[dict[str, Any]]


class CredentialToken(TypedDict, total=False):
    AccessToken: str
    TokenType: str
    Expires: str | None
    Scopes: list[str] | str | None


class ApplicationConnector(TypedDict, total=False):
    ConnectorId: int
    ClientId: str | None
    ClientSecret: str | None
    Scopes: Any
    Settings: dict[str, Any]
    Enabled: bool


class PartnerSettings(TypedDict, total=False):
    AllowedTargetOrigins: list[str]
    WebhookUrl: str | None
    WebhookSecret: str | None
    RevealPartnerAuthValue: bool


class Event(TypedDict, total=False):
    Id: str
    Type: str
    CreatedUtc: str
    AccountId: str | None
    AccountConnectorId: int | None
    Data: dict[str, Any]
    Status: str
    Attempts: int
    LastStatus: int | None
    LastError: str | None


@dataclass(frozen=True)
class MethodResponse:
    """The third-party API's answer to a method call, as tokenward relayed it (whatever its
    status: a provider's 404 is data, not a tokenward error)."""

    status_code: int
    headers: httpx.Headers
    content: bytes = field(repr=False)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` if it is not JSON)."""
        return json.loads(self.content)

    @property
    def ok(self) -> bool:
        return self.status_code < 400


# A token is renewed this long before its ``.expires``, so a request never leaves with a token
# that expires on the way.
_EARLY = timedelta(seconds=60)


@dataclass(frozen=True)
class BearerToken:
    """A partner API bearer token and the moment it stops being used."""

    access_token: str = field(repr=False)
    expires: datetime

    def usable(self, now: datetime) -> bool:
        return now < self.expires - _EARLY

    @classmethod
    def from_answer(cls, body: dict[str, Any], now: datetime) -> BearerToken:
        """Read ``POST /oauth/token``'s answer: ``.expires`` (RFC 1123), else ``expires_in``."""
        expires: datetime | None = None
        stamp = body.get(".expires")
        if isinstance(stamp, str):
            try:
                expires = parsedate_to_datetime(stamp)
            except (TypeError, ValueError):
                expires = None
        if expires is None or expires.tzinfo is None:
            expires = now + timedelta(seconds=float(body.get("expires_in") or 0))
        return cls(str(body["access_token"]), expires.astimezone(UTC))
