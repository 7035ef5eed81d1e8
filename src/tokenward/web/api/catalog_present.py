"""Connectors, methods and library entries in Cyclr's shapes, and their OpenAPI models.

The catalog item shape is Cyclr's (``Id, Name, Version, Description, Icon, Status, AuthType,
OAuth2Type, AuthScheme, AuthDescription, Categories, IsSystemConnector, Parameters[],
Authentication[]``). tokenward's own knobs (token URLs, PKCE, hooks, patterns…) stay out of it;
the whole definition is returned only to the partner who writes a custom connector.
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel

from tokenward.catalog.schema import Connector, Method, MethodParameter, Parameter
from tokenward.domain.authvalue import MASK
from tokenward.services.application_connectors import ApplicationConnectorView
from tokenward.services.catalog import is_custom

__all__ = [
    "ApplicationConnectorOut",
    "AuthenticationOut",
    "ConnectorOut",
    "MethodOut",
    "ParameterOut",
    "application_connector",
    "connector",
    "definition",
    "method",
]

_ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">'
    '<rect width="64" height="64" rx="12" fill="#6b7280"/><text x="32" y="41" '
    'font-family="sans-serif" font-size="28" font-weight="bold" fill="#fff" '
    'text-anchor="middle">{letter}</text></svg>'
)


def default_icon(name: str) -> str:
    """A plain letter tile for connectors without an icon (Cyclr always sends a data URI)."""
    letter = next((ch.upper() for ch in name if ch.isascii() and ch.isalnum()), "?")
    svg = _ICON_SVG.format(letter=letter).encode()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def _auth_scheme(entry: Any) -> str | None:
    if entry.AuthType == "None":
        return None
    return str(entry.AuthScheme or "Authorization")


def _oauth2_type(entry: Any) -> str:
    return str(entry.OAuth2Type) if entry.AuthType == "OAuth2" else "Unknown"


def _parameter(item: Parameter) -> dict[str, Any]:
    return {
        "Id": item.Id,
        "Name": item.Name,
        "Description": item.Description,
        "IsAccountConnectorProperty": item.IsAccountConnectorProperty,
        "TargetType": item.TargetType,
        "TargetName": item.property_name,
        "IsSensitive": item.IsSensitive,
        "IsOptional": item.IsOptional,
        "DataType": item.DataType,
        "TriggerName": None,
        "Values": list(item.Values),
    }


def _authentication(entry: Any) -> dict[str, Any]:
    return {
        "Id": str(entry.Id),
        "AuthName": entry.AuthName,
        "AuthDescription": entry.AuthDescription,
        "AuthType": entry.AuthType,
        "OAuth2Type": _oauth2_type(entry),
        "AuthScheme": _auth_scheme(entry),
    }


def connector(item: Connector) -> dict[str, Any]:
    """A catalog item (``GET /v1.0/connectors``)."""
    default = item.default_auth
    return {
        "Id": item.Id,
        "Name": item.Name,
        "Version": item.Version,
        "Description": item.Description,
        "Icon": item.Icon or default_icon(item.Name),
        "Status": item.Status,
        "AuthType": default.AuthType,
        "OAuth2Type": _oauth2_type(default),
        "AuthScheme": _auth_scheme(default),
        "AuthDescription": default.AuthDescription,
        "Categories": list(item.Categories),
        "IsSystemConnector": not is_custom(item),
        "Parameters": [_parameter(p) for p in item.Parameters],
        "Authentication": [_authentication(entry) for entry in item.Authentication],
    }


def _method_parameter(item: MethodParameter) -> dict[str, Any]:
    return {
        "Id": item.Id,
        "Name": item.Name,
        "Description": item.Description,
        "TargetType": item.TargetType,
        "TargetName": item.TargetName or item.Name,
        "IsOptional": item.IsOptional,
        "DataType": item.DataType,
    }


def method(owner: Connector, item: Method) -> dict[str, Any]:
    """A method (``GET /v1.0/connectors/{ref}/methods``, ``GET /v1.0/methods/{id}``)."""
    return {
        "Id": item.Id,
        "Name": item.Name,
        "Description": item.Description,
        "MethodUniqueIdentifier": str(item.MethodUniqueIdentifier),
        "Category": item.Category,
        "MethodType": "Action",
        "HttpMethod": item.HttpMethod,
        "EndPoint": item.EndPoint,
        "ConnectorId": owner.Id,
        "Parameters": [_method_parameter(p) for p in item.Parameters],
    }


def definition(item: Connector) -> dict[str, Any]:
    """A custom connector's whole definition, with the Ids tokenward assigned."""
    return item.model_dump(mode="json", exclude_none=True)


def application_connector(view: ApplicationConnectorView) -> dict[str, Any]:
    """A library entry; ``ClientSecret`` only says whether one is set."""
    return {
        "ConnectorId": view.connector_id,
        "ConnectorName": view.connector.Name if view.connector else None,
        "ConnectorVersion": view.connector.Version if view.connector else None,
        "ClientId": view.client_id,
        "ClientSecret": MASK if view.has_client_secret else None,
        "Scopes": list(view.scopes) if view.scopes is not None else None,
        "Settings": dict(view.settings),
        "Enabled": view.enabled,
    }


class ParameterOut(BaseModel):
    Id: int | None
    Name: str
    Description: str | None
    IsAccountConnectorProperty: bool
    TargetType: str
    TargetName: str
    IsSensitive: bool
    IsOptional: bool
    DataType: str
    TriggerName: str | None
    Values: list[str]


class AuthenticationOut(BaseModel):
    Id: str
    AuthName: str
    AuthDescription: str | None
    AuthType: str
    OAuth2Type: str
    AuthScheme: str | None


class ConnectorOut(BaseModel):
    Id: int
    Name: str
    Version: str
    Description: str | None
    Icon: str
    Status: str
    AuthType: str
    OAuth2Type: str
    AuthScheme: str | None
    AuthDescription: str | None
    Categories: list[str]
    IsSystemConnector: bool
    Parameters: list[ParameterOut]
    Authentication: list[AuthenticationOut]


class MethodParameterOut(BaseModel):
    Id: int
    Name: str
    Description: str | None
    TargetType: str
    TargetName: str
    IsOptional: bool
    DataType: str


class MethodOut(BaseModel):
    Id: int
    Name: str
    Description: str | None
    MethodUniqueIdentifier: str
    Category: str | None
    MethodType: str
    HttpMethod: str
    EndPoint: str
    ConnectorId: int
    Parameters: list[MethodParameterOut]


class ApplicationConnectorOut(BaseModel):
    ConnectorId: int
    ConnectorName: str | None
    ConnectorVersion: str | None
    ClientId: str | None
    ClientSecret: str | None
    Scopes: list[str] | None
    Settings: dict[str, str]
    Enabled: bool
