"""Shared helpers of the method, proxy and token tests: custom connectors whose API is a running
provider double, installed through the partner API with tokens the double issued."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import update

from tokenward.runtime import Runtime
from tokenward.store.tables import credentials
from tokenward.testing import ProviderDouble

GET_ME = "Get Me"
ECHO_ITEM = "Echo Item"
CREATE_ITEM = "Create Item"
CREATE_FORM = "Create Form"
PUT_ITEM = "Put Item"
SEND_XML = "Send Xml"
API_KEY = "canary-upstream-api-key"
BASIC_VALUE = base64.b64encode(b"user:pa ss").decode()

METHODS: list[dict[str, Any]] = [
    {"Name": GET_ME, "EndPoint": "/me"},
    {
        "Name": "Echo Item",
        "EndPoint": "/echo/items/{{ItemId}}",
        "Parameters": [
            {
                "Name": "ItemId",
                "TargetType": "MergeField",
                "IsOptional": False,
                "Pattern": "^[0-9]{1,10}$",
            },
            {"Name": "Filter", "TargetType": "QueryString", "TargetName": "filter"},
            {"Name": "Trace", "TargetType": "Header", "TargetName": "X-Trace"},
            {"Name": "Limit", "TargetType": "QueryString", "DataType": "Integer", "Default": "10"},
        ],
    },
    {
        "Name": "Create Item",
        "HttpMethod": "POST",
        "EndPoint": "/echo/items",
        "Parameters": [
            {"Name": "Kind", "TargetType": "Body", "TargetName": "kind", "IsOptional": False}
        ],
    },
    {
        "Name": "Create Form",
        "HttpMethod": "POST",
        "DataType": "Form",
        "EndPoint": "/echo/forms",
    },
    {
        "Name": "Put Item",
        "HttpMethod": "PUT",
        "EndPoint": "/echo/items/1",
    },
    {
        "Name": "Send Xml",
        "HttpMethod": "POST",
        "DataType": "Xml",
        "EndPoint": "/echo/xml",
    },
]


def oauth_entry(provider: ProviderDouble, **knobs: Any) -> dict[str, Any]:
    return {
        "AuthName": "OAuth 2.0",
        "AuthType": "OAuth2",
        "OAuth2Type": "AuthorisationCode",
        "AuthoriseUrl": f"{provider.url}/authorize",
        "AccessTokenUrl": f"{provider.url}/token",
        "ClientAuthMethod": "client_secret_basic",
        **knobs,
    }


def entry(auth_type: str, **knobs: Any) -> dict[str, Any]:
    """An ApiKey, Basic, None or OAuth1 entry (OAuth1 URLs are never called)."""
    found = {"AuthName": auth_type, "AuthType": auth_type, **knobs}
    if auth_type == "OAuth1":
        found.update(
            RequestTokenUrl="https://login.example.com/request",
            AuthorizeUrl="https://login.example.com/authorize",
            AccessTokenUrl="https://login.example.com/access",
        )
    return found


@dataclass(frozen=True)
class Installed:
    connector_id: int
    ac_id: int
    methods: dict[str, tuple[int, str]]  # method Name → (Id, MethodUniqueIdentifier)

    def method_id(self, name: str) -> int:
        return self.methods[name][0]

    def guid(self, name: str) -> str:
        return self.methods[name][1]


def create_connector(
    client: TestClient, auth: dict[str, str], base_url: str, auth_entry: dict[str, Any]
) -> dict[str, Any]:
    definition = {
        "Name": f"Double {auth_entry['AuthType']}",
        "Version": "1.0",
        "BaseUrl": base_url,
        "Authentication": [auth_entry],
        "Methods": METHODS,
    }
    response = client.post("/v1.0/connectors", json=definition, headers=auth)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def install(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    base_url: str,
    auth_entry: dict[str, Any],
    auth_value: str | None = None,
) -> Installed:
    """A custom connector on ``base_url`` installed in the account, with ``auth_value``."""
    connector = create_connector(client, auth, base_url, auth_entry)
    response = client.post(f"/v1.0/connectors/{connector['Id']}/install", headers=acct)
    assert response.status_code == 200, response.text
    ac_id = int(response.json()["Id"])
    if auth_value is not None:
        put_auth_value(client, acct, ac_id, auth_value)
    methods = {m["Name"]: (int(m["Id"]), m["MethodUniqueIdentifier"]) for m in connector["Methods"]}
    return Installed(int(connector["Id"]), ac_id, methods)


def put_auth_value(client: TestClient, acct: dict[str, str], ac_id: int, value: str) -> None:
    response = client.put(
        f"/v1.0/account/connectors/{ac_id}", json={"AuthValue": value}, headers=acct
    )
    assert response.status_code == 200, response.text


def register_client(client: TestClient, auth: dict[str, str], provider: ProviderDouble, cid: int):
    """The double's client as the connector's library entry (used to refresh)."""
    body = {
        "ClientId": provider.client.client_id,
        "ClientSecret": provider.client.client_secret,
        "Enabled": True,
    }
    response = client.put(f"/v1.0/applicationconnectors/{cid}", json=body, headers=auth)
    assert response.status_code == 200, response.text


def password_tokens(provider: ProviderDouble, scope: str = "read write") -> dict[str, Any]:
    """Tokens the double issues (password grant, with a refresh token)."""
    registered = provider.client
    response = httpx.post(
        f"{provider.url}/token",
        data={
            "grant_type": "password",
            "username": "alice",
            "password": "wonderland",
            "scope": scope,
        },
        auth=httpx.BasicAuth(
            quote_plus(registered.client_id), quote_plus(registered.client_secret)
        ),
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def auth_value(tokens: dict[str, Any], expires: datetime) -> str:
    return json.dumps(
        {
            "AccessToken": tokens["access_token"],
            "RefreshToken": tokens["refresh_token"],
            "Expires": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


@dataclass(frozen=True)
class Connected:
    installed: Installed
    tokens: dict[str, Any]

    @property
    def ac_id(self) -> int:
        return self.installed.ac_id

    def guid(self, name: str) -> str:
        return self.installed.guid(name)


def connect_oauth(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
    now: datetime,
    *,
    expires_in: timedelta = timedelta(hours=1),
    **knobs: Any,
) -> Connected:
    """An OAuth 2 account connector on the double's ``/api``, authenticated with the double's
    tokens (expiring ``expires_in`` from ``now``) and able to refresh."""
    tokens = password_tokens(provider)
    found = install(client, auth, acct, f"{provider.url}/api", oauth_entry(provider, **knobs))
    register_client(client, auth, provider, found.connector_id)
    put_auth_value(client, acct, found.ac_id, auth_value(tokens, now + expires_in))
    return Connected(found, tokens)


def revoke_access_token(provider: ProviderDouble, token: str) -> None:
    """The double answers 401 to ``token`` from now on (until a refresh gives a new one)."""
    with provider.state.lock:
        provider.state.access_tokens[token].revoked = True


def set_state(runtime: Runtime, ac_id: int, state: str) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(
            update(credentials)
            .where(credentials.c.account_connector_id == ac_id)
            .values(state=state)
        )


def close_transport(client: TestClient, runtime: Runtime) -> None:
    """Close the outbound pool inside the test client's event loop, where it was opened."""
    portal = client.portal
    assert portal is not None
    portal.call(runtime.ctx.transport.aclose)


def api_requests(provider: ProviderDouble) -> list[Any]:
    """What the double's API (not its token endpoint) received."""
    return [r for r in provider.requests if r.path.startswith("/api/")]
