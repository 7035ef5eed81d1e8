"""The partner API's calls as :class:`~tokenward.client._call.Call` builders, shared by the sync
and the async client (DESIGN.md §4; docs/partner-api.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from tokenward.client._call import (
    Call,
    as_json,
    as_method_response,
    nothing,
    paging,
    present,
    segment,
)
from tokenward.client.models import (
    Account,
    AccountConnector,
    ApplicationConnector,
    Connector,
    CredentialToken,
    Event,
    Method,
    MethodResponse,
    PartnerSettings,
    Property,
    SignInToken,
)

__all__ = ["AuthValue", "webflow_url"]

#: an AuthValue as a string (API key, base64 Basic, serialized JSON) or a JSON document
AuthValue = str | Mapping[str, Any]

_AC = "/v1.0/account/connectors"


def _auth_value(value: AuthValue | None) -> str | None:
    """AuthValue is always a string on the wire; a document is serialized (DESIGN.md §5)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(dict(value))


def _properties(values: Mapping[str, str] | None) -> list[dict[str, str]] | None:
    if values is None:
        return None
    return [{"Name": name, "Value": value} for name, value in values.items()]


def webflow_url(
    service_url: str,
    account_connector_id: int,
    token: str,
    target_origin: str,
    callback_message: str | None = None,
    error_callback_message: str | None = None,
) -> str:
    """The webflow's start URL (docs/webflow.md §1), every value URL-encoded.

    With ``callback_message`` the flow completes by postMessage to ``target_origin`` (an
    origin); without it, by a redirect to ``target_origin`` (a URL).
    """
    params = {"id": str(account_connector_id), "token": token, "targetOrigin": target_origin}
    if callback_message is not None:
        params["callbackMessage"] = callback_message
    if error_callback_message is not None:
        params["errorCallbackMessage"] = error_callback_message
    base = service_url.rstrip("/")
    return f"{base}/connectorauth/updateaccountconnectoroauth?{urlencode(params)}"


# -- accounts ----------------------------------------------------------------------------------


def create_account(
    name: str,
    account_id: str | None,
    description: str | None,
    timezone: str | None,
    idempotency_key: str | None,
) -> Call[Account]:
    body = present({"Id": account_id, "Name": name, "Description": description})
    body.update(present({"Timezone": timezone}))
    return Call("POST", "/v1.0/accounts", as_json, body=body, idempotency_key=idempotency_key)


def list_accounts(page: int | None, page_size: int | None) -> Call[list[Account]]:
    return Call("GET", "/v1.0/accounts", as_json, params=paging(page, page_size))


def get_account(account_id: str) -> Call[Account]:
    return Call("GET", f"/v1.0/accounts/{segment(account_id)}", as_json)


def update_account(account_id: str, changes: Mapping[str, Any]) -> Call[Account]:
    return Call("PUT", f"/v1.0/accounts/{segment(account_id)}", as_json, body=present(changes))


def delete_account(account_id: str) -> Call[None]:
    return Call("DELETE", f"/v1.0/accounts/{segment(account_id)}", nothing)


def signin_token(account_id: str, username: str) -> Call[SignInToken]:
    path = f"/v1.0/accounts/{segment(account_id)}/signintoken"
    return Call("POST", path, as_json, body={"Username": username})


# -- connectors and the library ----------------------------------------------------------------


def list_connectors(
    query: str | None, page: int | None, page_size: int | None
) -> Call[list[Connector]]:
    params = paging(page, page_size, query=query, includeCustomConnectors="true")
    return Call("GET", "/v1.0/connectors", as_json, params=params)


def get_connector(ref: int | str) -> Call[Any]:
    return Call("GET", f"/v1.0/connectors/{segment(ref)}", as_json)


def connector_methods(ref: int | str) -> Call[list[Method]]:
    return Call("GET", f"/v1.0/connectors/{segment(ref)}/methods", as_json)


def create_connector(definition: Mapping[str, Any]) -> Call[Connector]:
    return Call("POST", "/v1.0/connectors", as_json, body=dict(definition))


def update_connector(connector_id: int, definition: Mapping[str, Any]) -> Call[Connector]:
    path = f"/v1.0/connectors/{segment(connector_id)}"
    return Call("PUT", path, as_json, body=dict(definition))


def list_application_connectors() -> Call[list[ApplicationConnector]]:
    return Call("GET", "/v1.0/applicationconnectors", as_json)


def get_application_connector(connector_id: int) -> Call[ApplicationConnector]:
    return Call("GET", f"/v1.0/applicationconnectors/{segment(connector_id)}", as_json)


def update_application_connector(
    connector_id: int, changes: Mapping[str, Any]
) -> Call[ApplicationConnector]:
    path = f"/v1.0/applicationconnectors/{segment(connector_id)}"
    return Call("PUT", path, as_json, body=present(changes))


def get_partner_settings() -> Call[PartnerSettings]:
    return Call("GET", "/v1.0/partner/settings", as_json)


def update_partner_settings(changes: Mapping[str, Any]) -> Call[PartnerSettings]:
    return Call("PUT", "/v1.0/partner/settings", as_json, body=present(changes))


# -- account connectors ------------------------------------------------------------------------


def install(
    account_id: str,
    connector: int | str,
    fields: Mapping[str, Any],
    auth_value: AuthValue | None,
    properties: Mapping[str, str] | None,
    idempotency_key: str | None,
) -> Call[AccountConnector]:
    body = present({**fields, "AuthValue": _auth_value(auth_value)})
    body.update(present({"Properties": _properties(properties)}))
    path = f"/v1.0/connectors/{segment(connector)}/install"
    return Call(
        "POST", path, as_json, account=account_id, body=body, idempotency_key=idempotency_key
    )


def list_account_connectors(account_id: str) -> Call[list[AccountConnector]]:
    return Call("GET", _AC, as_json, account=account_id)


def get_account_connector(account_id: str, ac_id: int) -> Call[AccountConnector]:
    return Call("GET", f"{_AC}/{ac_id}", as_json, account=account_id)


def update_account_connector(
    account_id: str,
    ac_id: int,
    fields: Mapping[str, Any],
    auth_value: AuthValue | None,
    properties: Mapping[str, str] | None,
) -> Call[AccountConnector]:
    body = present({**fields, "AuthValue": _auth_value(auth_value)})
    body.update(present({"Properties": _properties(properties)}))
    return Call("PUT", f"{_AC}/{ac_id}", as_json, account=account_id, body=body)


def delete_account_connector(account_id: str, ac_id: int) -> Call[None]:
    return Call("DELETE", f"{_AC}/{ac_id}", nothing, account=account_id)


def deauthenticate(account_id: str, ac_id: int) -> Call[dict[str, Any]]:
    return Call("PUT", f"{_AC}/{ac_id}/deauthenticate", as_json, account=account_id)


def refresh(account_id: str, ac_id: int) -> Call[AccountConnector]:
    return Call("POST", f"{_AC}/{ac_id}/refresh", as_json, account=account_id)


def access_token(account_id: str, ac_id: int) -> Call[CredentialToken]:
    return Call("GET", f"{_AC}/{ac_id}/token", as_json, account=account_id)


def list_properties(account_id: str, ac_id: int) -> Call[list[Property]]:
    return Call("GET", f"{_AC}/{ac_id}/properties", as_json, account=account_id)


def add_property(account_id: str, ac_id: int, name: str, value: str) -> Call[Property]:
    body = {"Name": name, "Value": value}
    return Call("POST", f"{_AC}/{ac_id}/properties", as_json, account=account_id, body=body)


def update_property(account_id: str, ac_id: int, property_id: int, value: str) -> Call[Property]:
    path = f"{_AC}/{ac_id}/properties/{property_id}"
    return Call("PUT", path, as_json, account=account_id, body={"Value": value})


def delete_property(account_id: str, ac_id: int, property_id: int) -> Call[None]:
    path = f"{_AC}/{ac_id}/properties/{property_id}"
    return Call("DELETE", path, nothing, account=account_id)


def call_method(
    account_id: str,
    ac_id: int,
    method: int | str,
    parameters: Mapping[str, Any] | None,
    fields: Mapping[str, Any] | None,
    http_method: str,
) -> Call[MethodResponse]:
    path = f"{_AC}/{ac_id}/methods/{segment(method)}"
    if http_method == "GET":  # the method's Parameters travel in the query
        query = {name: str(value) for name, value in (parameters or {}).items()}
        return Call(
            "GET", path, as_method_response, account=account_id, params=query, upstream=True
        )
    body = present({"Parameters": parameters, "Fields": fields})
    return Call("POST", path, as_method_response, account=account_id, body=body, upstream=True)


# -- events ------------------------------------------------------------------------------------


def list_events(page: int | None, page_size: int | None) -> Call[list[Event]]:
    return Call("GET", "/v1.0/events", as_json, params=paging(page, page_size))


def redeliver_event(event_id: str) -> Call[Event]:
    return Call("POST", f"/v1.0/events/{segment(event_id)}/redeliver", as_json)
