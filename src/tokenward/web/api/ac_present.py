"""Account connectors, properties and partner settings as Cyclr-shaped JSON."""

from __future__ import annotations

from typing import Any

from tokenward.catalog.schema import Connector, Parameter
from tokenward.services.account_connectors import AccountConnectorView
from tokenward.services.partner_settings import PartnerSettingsView
from tokenward.services.property_rules import PropertyView
from tokenward.web.api.present import utc

__all__ = ["account_connector", "partner_settings", "property_item"]


def property_item(view: PropertyView) -> dict[str, Any]:
    return {
        "Name": view.name,
        "Value": view.value,
        "Id": view.id,
        "AccountConnectorId": view.account_connector_id,
    }


def _parameter(param: Parameter) -> dict[str, Any]:
    return {
        "Id": param.Id,
        "Name": param.Name,
        "Description": param.Description,
        "IsAccountConnectorProperty": param.IsAccountConnectorProperty,
        "TargetType": param.TargetType,
        "TargetName": param.TargetName,
        "IsSensitive": param.IsSensitive,
        "IsOptional": param.IsOptional,
        "DataType": param.DataType,
        "Pattern": param.Pattern,
        "Values": list(param.Values),
    }


# The connector part of an account connector depends only on the (immutable) definition and the
# authentication chosen: built once per pair. A changed custom connector is a new object.
_CONNECTOR_VIEWS: dict[tuple[int, str | None], tuple[Connector, dict[str, Any]]] = {}


def _connector(
    connector_id: int, connector: Connector | None, auth_id: str | None
) -> dict[str, Any]:
    if connector is None:
        return _missing_connector(connector_id)
    key = (id(connector), auth_id)
    cached = _CONNECTOR_VIEWS.get(key)
    if cached is None or cached[0] is not connector:
        if len(_CONNECTOR_VIEWS) > 10_000:
            _CONNECTOR_VIEWS.clear()
        cached = (connector, _connector_view(connector, auth_id))
        _CONNECTOR_VIEWS[key] = cached
    return cached[1]


def _missing_connector(connector_id: int) -> dict[str, Any]:
    keys = ("Name", "Version", "Description", "Icon", "Status", "AuthType", "OAuth2Type")
    return {"Id": connector_id, **dict.fromkeys(keys), "AuthScheme": None, "Parameters": []}


def _connector_view(connector: Connector, auth_id: str | None) -> dict[str, Any]:
    entry = connector.auth(auth_id) or connector.default_auth
    return {
        "Id": connector.Id,
        "Name": connector.Name,
        "Version": connector.Version,
        "Description": connector.Description,
        "Icon": connector.Icon,
        "Status": connector.Status,
        "AuthType": entry.AuthType,
        "OAuth2Type": getattr(entry, "OAuth2Type", "Unknown"),
        "AuthScheme": entry.AuthScheme,
        "Parameters": [_parameter(p) for p in connector.Parameters],
    }


def account_connector(view: AccountConnectorView) -> dict[str, Any]:
    item, reading = view.item, view.credential
    error = {"Code": reading.error[0], "Message": reading.error[1]} if reading.error else None
    return {
        "Id": item.id,
        "Name": item.name,
        "Description": item.description,
        "Authenticated": reading.authenticated,
        "AuthValue": reading.auth_value,
        "AuthenticationId": item.authentication_id,
        "Connector": _connector(item.connector_id, view.connector, item.authentication_id),
        "Properties": [property_item(p) for p in view.properties],
        "IsPartnerIntegrationConnector": item.is_partner_integration,
        "AuthState": reading.state.value,
        "AuthError": error,
        "ExpiresUtc": utc(reading.expires_utc),
        "LastRefreshedUtc": utc(reading.last_refreshed_utc),
    }


def partner_settings(view: PartnerSettingsView) -> dict[str, Any]:
    return {
        "AllowedTargetOrigins": list(view.allowed_target_origins),
        "EffectiveAllowedTargetOrigins": list(view.effective_allowed_target_origins),
        "WebhookUrl": view.webhook_url,
        "WebhookSecret": view.webhook_secret,
        "ApiTokenLifetimeSeconds": view.api_token_lifetime_seconds,
        "SignInTokenLifetimeSeconds": view.signin_token_lifetime_seconds,
        "RevealPartnerAuthValue": view.reveal_partner_auth_value,
    }
