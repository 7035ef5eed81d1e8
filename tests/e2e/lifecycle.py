"""Helpers of the credential lifecycle tests: a custom connector pointing at the provider
double, installed and authenticated through the partner API, and the stored rows to assert on."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from tokenward.domain.authvalue import format_utc
from tokenward.domain.models import Credential, Event
from tokenward.runtime import Runtime
from tokenward.services.context import LifecyclePolicy, ServiceContext
from tokenward.services.credentials import Renewal
from tokenward.store.repos.lifecycle import credential_from_row
from tokenward.store.tables import credentials
from tokenward.testing import ProviderDouble

__all__ = [
    "FAST",
    "connector_definition",
    "fast_context",
    "install_double",
    "renewal",
    "stored",
    "stored_events",
    "write_auth_value",
]

#: short timeouts and backoff, so failure tests take milliseconds instead of seconds
FAST = LifecyclePolicy(provider_timeout=2.0, attempts=3, backoff_base=0.01, backoff_cap=0.05)


def fast_context(runtime: Runtime, **changes: Any) -> ServiceContext:
    return replace(runtime.ctx, lifecycle=replace(FAST, **changes))


def connector_definition(provider: ProviderDouble, **auth: Any) -> dict[str, Any]:
    entry = {
        "AuthName": "OAuth 2.0",
        "AuthType": "OAuth2",
        "OAuth2Type": "AuthorisationCode",
        "AuthoriseUrl": f"{provider.url}/authorize",
        "AccessTokenUrl": f"{provider.url}/token",
        "Scopes": ["read", "write"],
        **auth,
    }
    return {
        "Name": "Double",
        "Version": "1.0",
        "BaseUrl": provider.url,
        "Authentication": [entry],
        "Methods": [{"Name": "Get Me", "HttpMethod": "GET", "EndPoint": "/api/me"}],
    }


def install_double(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
    **entry: Any,
) -> int:
    """Create the connector, its library entry (the double's client) and install it."""
    created = client.post(
        "/v1.0/connectors", json=connector_definition(provider, **entry), headers=auth
    )
    assert created.status_code == 200, created.text
    connector_id = created.json()["Id"]
    library = {"ClientId": provider.client.client_id, "ClientSecret": provider.client.client_secret}
    put = client.put(f"/v1.0/applicationconnectors/{connector_id}", json=library, headers=auth)
    assert put.status_code == 200, put.text
    installed = client.post(f"/v1.0/connectors/{connector_id}/install", json={}, headers=acct)
    assert installed.status_code == 200, installed.text
    return int(installed.json()["Id"])


def write_auth_value(
    client: TestClient,
    acct: dict[str, str],
    ac_id: int,
    tokens: dict[str, Any] | str,
    expires: datetime | None = None,
) -> None:
    if isinstance(tokens, str):
        value = tokens
    else:
        document: dict[str, str] = {}
        if tokens.get("access_token"):
            document["AccessToken"] = tokens["access_token"]
        if tokens.get("refresh_token"):
            document["RefreshToken"] = tokens["refresh_token"]
        if expires is not None:
            document["Expires"] = format_utc(expires)
        value = json.dumps(document)
    response = client.put(
        f"/v1.0/account/connectors/{ac_id}", json={"AuthValue": value}, headers=acct
    )
    assert response.status_code == 200, response.text


def stored(runtime: Runtime, ac_id: int) -> Credential:
    with runtime.engine.connect() as conn:
        row = conn.execute(
            select(credentials).where(credentials.c.account_connector_id == ac_id)
        ).one()
    return credential_from_row(row)


def stored_events(runtime: Runtime) -> list[Event]:
    with runtime.db.read() as tx:
        found, _ = tx.events.page(offset=0, limit=1000)
    return sorted(found, key=lambda e: e.created_utc)


def renewal(runtime: Runtime, ac_id: int, account_id: str = "acme") -> Renewal:
    with runtime.db.read() as tx:
        account = tx.accounts.get(account_id)
        assert account is not None
    return Renewal(account.id, account.pk, ac_id, stored(runtime, ac_id).version)
