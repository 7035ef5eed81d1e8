"""Shared helpers of the account connector tests: a small catalog of test connectors (no YAML),
installing through HTTP, and snapshots of the stored rows for "bad input changes nothing"."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from tokenward.catalog.registry import Catalog
from tokenward.catalog.schema import Connector
from tokenward.runtime import Runtime
from tokenward.store.tables import account_connectors, audit_log, credentials, properties

APIKEY = 9001
BASIC = 9002
OAUTH = 9003
OAUTH_V2 = 9004
DRAFT = 9005
OAUTH1 = 9006
NOAUTH = 9007
APIKEY_AUTH = "0b7d4e4a-1c4f-4c39-9f0e-7a1f0f3e0001"
BASIC_AUTH = "0b7d4e4a-1c4f-4c39-9f0e-7a1f0f3e0002"
CODE_AUTH = "0b7d4e4a-1c4f-4c39-9f0e-7a1f0f3e0003"
CLIENT_CREDENTIALS_AUTH = "0b7d4e4a-1c4f-4c39-9f0e-7a1f0f3e0004"
CODE_AUTH_V2 = "0b7d4e4a-1c4f-4c39-9f0e-7a1f0f3e0005"
MASK = "********"

_PARAMETERS = [
    {"Name": "Subdomain", "Pattern": "^[a-z0-9-]{1,63}$"},
    {"Name": "Region", "IsOptional": True},
    {"Name": "Signing Secret", "TargetName": "SigningSecret", "IsSensitive": True},
    {"Name": "EndpointUrl", "IsAccountConnectorProperty": False},
]


def _connector(connector_id: int, name: str, auth: list[dict[str, Any]], **extra: Any) -> Connector:
    return Connector.model_validate(
        {
            "Id": connector_id,
            "Name": name,
            "Version": "1.0",
            "Description": f"{name} for tests",
            "BaseUrl": "https://api.example.com",
            "Parameters": _PARAMETERS,
            "Authentication": auth,
            **extra,
        }
    )


def _oauth2(auth_id: str, grant: str) -> dict[str, Any]:
    return {
        "Id": auth_id,
        "AuthName": f"OAuth 2.0 {grant}",
        "AuthType": "OAuth2",
        "OAuth2Type": grant,
        "AuthoriseUrl": "https://login.example.com/authorize",
        "AccessTokenUrl": "https://login.example.com/token",
    }


def build_catalog() -> Catalog:
    apikey = {
        "Id": APIKEY_AUTH,
        "AuthName": "API key",
        "AuthType": "ApiKey",
        "AuthScheme": "X-API-Key",
    }
    oauth1 = {
        "Id": "0b7d4e4a-1c4f-4c39-9f0e-7a1f0f3e0006",
        "AuthName": "OAuth 1.0a",
        "AuthType": "OAuth1",
        "RequestTokenUrl": "https://login.example.com/request",
        "AuthorizeUrl": "https://login.example.com/authorize",
        "AccessTokenUrl": "https://login.example.com/access",
    }
    none = {"Id": "0b7d4e4a-1c4f-4c39-9f0e-7a1f0f3e0007", "AuthName": "None", "AuthType": "None"}
    return Catalog(
        [
            _connector(APIKEY, "Test ApiKey", [apikey]),
            _connector(
                BASIC, "Test Basic", [{"Id": BASIC_AUTH, "AuthName": "Basic", "AuthType": "Basic"}]
            ),
            _connector(
                OAUTH,
                "Test OAuth",
                [
                    _oauth2(CODE_AUTH, "AuthorisationCode"),
                    _oauth2(CLIENT_CREDENTIALS_AUTH, "ClientCredentials"),
                ],
            ),
            _connector(
                OAUTH_V2, "Test OAuth", [_oauth2(CODE_AUTH_V2, "AuthorisationCode")], Version="2.0"
            ),
            _connector(DRAFT, "Test Draft", [apikey], Status="Draft"),
            _connector(OAUTH1, "Test OAuth1", [oauth1]),
            _connector(NOAUTH, "Test NoAuth", [none]),
        ]
    )


def with_test_catalog(runtime: Runtime) -> Runtime:
    """The runtime whose service context serves :func:`build_catalog` only."""
    runtime.ctx = dataclasses.replace(runtime.ctx, catalog=build_catalog())
    return runtime


def install(
    client: TestClient, headers: dict[str, str], ref: str | int, body: Any = None
) -> Response:
    if body is None:
        return client.post(f"/v1.0/connectors/{ref}/install", headers=headers)
    return client.post(f"/v1.0/connectors/{ref}/install", json=body, headers=headers)


def installed(
    client: TestClient, headers: dict[str, str], ref: str | int, body: Any = None
) -> dict[str, Any]:
    response = install(client, headers, ref, body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def rows(runtime: Runtime, table: Any) -> list[tuple[Any, ...]]:
    with runtime.engine.connect() as conn:
        ordered = select(table).order_by(*table.primary_key.columns)
        return [tuple(row) for row in conn.execute(ordered)]


def snapshot(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row an account connector call may touch (audit included)."""
    tables = {
        "account_connectors": account_connectors,
        "credentials": credentials,
        "properties": properties,
        "audit_log": audit_log,
    }
    return {name: rows(runtime, table) for name, table in tables.items()}


def credential_row(runtime: Runtime, ac_id: int) -> Any:
    with runtime.engine.connect() as conn:
        query = select(credentials).where(credentials.c.account_connector_id == ac_id)
        return conn.execute(query).first()


def audit_actions(runtime: Runtime) -> list[str]:
    runtime.ctx.audit.flush()
    with runtime.engine.connect() as conn:
        return [row.action for row in conn.execute(select(audit_log).order_by(audit_log.c.id))]


def restricted_headers(
    client: TestClient, api_client: tuple[str, str], account_id: str
) -> dict[str, str]:
    """Bearer headers of a token restricted to ``account_id`` (``scope=account:{id}``)."""
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": api_client[0],
            "client_secret": api_client[1],
            "scope": f"account:{account_id}",
        },
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
