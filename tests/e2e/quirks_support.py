"""Helpers of the quirk and hook tests: a custom connector with the knobs under test, pointing at a
provider double (sharing the test's fake clock) over a real socket, installed and connected
through the partner API and the browser webflow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
from fastapi.testclient import TestClient
from webflow_support import REDIRECT_URI, Flow, script_values, signin_token, start

from tokenward.clock import FakeClock
from tokenward.crypto.fields import credential_aad
from tokenward.runtime import Runtime
from tokenward.services.credential_documents import TokenDocument, read_document
from tokenward.testing import ProviderBehaviour, ProviderDouble, RegisteredClient

__all__ = [
    "Connector",
    "call",
    "connect",
    "document",
    "double",
    "outcome",
    "properties",
    "stored",
    "token",
]


def double(behaviour: ProviderBehaviour, clock: FakeClock) -> Iterator[ProviderDouble]:
    """A provider double on loopback that knows tokenward's redirect URI and the test clock."""
    clients = [RegisteredClient(redirect_uri=REDIRECT_URI)]
    with ProviderDouble(behaviour, clients=clients, clock=clock) as running:
        yield running


class Connector:
    """Create one custom connector with knobs, its library entry, and install it."""

    def __init__(self, client: TestClient, auth: dict[str, str], acct: dict[str, str]) -> None:
        self.client, self.auth, self.acct = client, auth, acct
        self.count = 0

    def install(
        self,
        provider: ProviderDouble,
        *,
        parameters: list[dict[str, Any]] | None = None,
        base_url: str | None = None,
        properties: dict[str, str] | None = None,
        methods: list[dict[str, Any]] | None = None,
        **knobs: Any,
    ) -> int:
        entry = {
            "AuthName": "OAuth 2.0",
            "AuthType": "OAuth2",
            "OAuth2Type": "AuthorisationCode",
            "AuthoriseUrl": f"{provider.url}/authorize",
            "AccessTokenUrl": f"{provider.url}/token",
            "Scopes": ["read", "write"],
            **knobs,
        }
        self.count += 1
        definition = {
            "Name": f"Quirky {self.count}",
            "Version": "1.0",
            "BaseUrl": base_url or provider.url,
            "Parameters": parameters or [],
            "Authentication": [entry],
            "Methods": methods
            or [{"Name": "Echo", "HttpMethod": "GET", "EndPoint": "/api/echo/x"}],
        }
        created = self.client.post("/v1.0/connectors", json=definition, headers=self.auth)
        assert created.status_code == 200, created.text
        connector_id = created.json()["Id"]
        self.method_id = created.json()["Methods"][0]["Id"]
        library = {
            "ClientId": provider.client.client_id,
            "ClientSecret": provider.client.client_secret,
        }
        put = self.client.put(
            f"/v1.0/applicationconnectors/{connector_id}", json=library, headers=self.auth
        )
        assert put.status_code == 200, put.text
        body = {"Properties": [{"Name": k, "Value": v} for k, v in (properties or {}).items()]}
        installed = self.client.post(
            f"/v1.0/connectors/{connector_id}/install", json=body, headers=self.acct
        )
        assert installed.status_code == 200, installed.text
        return int(installed.json()["Id"])


def call(connector: Connector, ac_id: int) -> httpx.Response:
    """Call the connector's first method through the partner API."""
    url = f"/v1.0/account/connectors/{ac_id}/methods/{connector.method_id}"
    return connector.client.get(url, headers=connector.acct)


def connect(client: TestClient, auth: dict[str, str], ac_id: int) -> Flow:
    """Start the webflow, let the double answer, arrive at the callback (not completed)."""
    started = start(client, ac_id, signin_token(client, auth))
    assert started.status_code == 303, started.text
    flow = Flow(client, None, started)  # type: ignore[arg-type]
    flow.back()
    return flow


def outcome(flow: Flow) -> str:
    """``"connected!"`` on success, else the error code the partner's page is given."""
    page = flow.complete()
    message = script_values(page.text)[0]
    return "connected!" if message == "connected!" else str(json.loads(message)["error"])


def stored(runtime: Runtime, ac_id: int) -> Any:
    with runtime.db.read() as tx:
        return tx.credentials.get(ac_id)


def document(runtime: Runtime, ac_id: int) -> TokenDocument:
    cred = stored(runtime, ac_id)
    assert cred is not None
    assert cred.secret_sealed is not None
    opened = runtime.ctx.sealer.open(cred.secret_sealed, credential_aad(ac_id))
    return read_document("OAuth2", opened)


def properties(client: TestClient, acct: dict[str, str], ac_id: int) -> dict[str, str]:
    """The account connector's properties as the partner API shows them."""
    response = client.get(f"/v1.0/account/connectors/{ac_id}/properties", headers=acct)
    assert response.status_code == 200, response.text
    return {p["Name"]: p["Value"] for p in response.json()}


def token(client: TestClient, acct: dict[str, str], ac_id: int) -> httpx.Response:
    """``GET …/token``: a fresh access token, refreshed on demand."""
    return client.get(f"/v1.0/account/connectors/{ac_id}/token", headers=acct)
