"""The whole of tokenward against oidc-provider (a real, certified authorization server from
npm): the browser webflow (simulated over HTTP), method calls, refresh with strict rotation and
revocation, through the partner API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from oidc_server import OidcProvider

from tokenward.clock import FakeClock

PARTNER = "https://partner.example"  # allowed by the test settings
START = "/connectorauth/updateaccountconnectoroauth"


@pytest.fixture
def installed(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    oidc_provider: OidcProvider,
) -> tuple[int, int]:
    """(account connector Id, method Id) of a custom connector for oidc-provider."""
    entry = oidc_provider.oauth2_auth().model_dump(mode="json", exclude_none=True)
    definition = {
        "Name": "oidc-provider",
        "Version": "9",
        "BaseUrl": oidc_provider.issuer,
        "Authentication": [entry],
        "Methods": [{"Name": "Who am I", "HttpMethod": "GET", "EndPoint": "/api/me"}],
    }
    created = client.post("/v1.0/connectors", json=definition, headers=auth)
    assert created.status_code == 200, created.text
    connector = created.json()
    secret = {
        "ClientId": oidc_provider.client.client_id,
        "ClientSecret": oidc_provider.client.client_secret,
    }
    put = client.put(f"/v1.0/applicationconnectors/{connector['Id']}", json=secret, headers=auth)
    assert put.status_code == 200, put.text
    made = client.post(f"/v1.0/connectors/{connector['Id']}/install", json={}, headers=acct)
    assert made.status_code == 200, made.text
    methods = client.get(f"/v1.0/connectors/{connector['Id']}/methods", headers=auth).json()
    return int(made.json()["Id"]), int(methods[0]["Id"])


def _connect(
    client: TestClient, auth: dict[str, str], oidc_provider: OidcProvider, ac_id: int
) -> str:
    """Run the webflow as a browser would; the completion page's HTML."""
    signin = client.post("/v1.0/accounts/acme/signintoken", json={"Username": "ann"}, headers=auth)
    assert signin.status_code == 200, signin.text
    params = {
        "id": str(ac_id),
        "token": signin.json()["Token"],
        "targetOrigin": PARTNER,
        "callbackMessage": "connected",
    }
    started = client.get(START, params=params, follow_redirects=False)
    assert started.status_code in {302, 303}, started.text
    callback = oidc_provider.simulate_browser(started.headers["location"])
    parts = urlsplit(callback)
    assert parts.path == "/connector/callback"
    answered = client.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    assert answered.status_code == 303, answered.text
    assert "code=" not in answered.headers["location"]  # C-09
    page = client.get(answered.headers["location"])
    assert page.status_code == 200
    return page.text


def _token(client: TestClient, acct: dict[str, str], ac_id: int) -> dict[str, Any]:
    answer = client.get(f"/v1.0/account/connectors/{ac_id}/token", headers=acct)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_interop_webflow_method_call_and_rotating_refresh(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    oidc_provider: OidcProvider,
    installed: tuple[int, int],
    clock: FakeClock,
) -> None:
    ac_id, method_id = installed
    page = _connect(client, auth, oidc_provider, ac_id)
    assert "connected" in page
    item = client.get(f"/v1.0/account/connectors/{ac_id}", headers=acct).json()
    assert item["Authenticated"] is True
    assert item["AuthState"] == "active"

    called = client.get(f"/v1.0/account/connectors/{ac_id}/methods/{method_id}", headers=acct)
    assert called.status_code == 200, called.text
    assert called.headers["X-Tokenward-Upstream"] == "1"
    assert called.json()["sub"] == "interop-user"

    seen = {_token(client, acct, ac_id)["AccessToken"]}
    for _ in range(3):  # forced refreshes: each rotates the refresh token at the server
        refreshed = client.post(f"/v1.0/account/connectors/{ac_id}/refresh", headers=acct)
        assert refreshed.status_code == 200, refreshed.text
        seen.add(_token(client, acct, ac_id)["AccessToken"])
    clock.advance(3600)  # expired for tokenward: the next read refreshes on demand
    seen.add(_token(client, acct, ac_id)["AccessToken"])
    assert len(seen) == 5
    again = client.get(f"/v1.0/account/connectors/{ac_id}/methods/{method_id}", headers=acct)
    assert again.status_code == 200, again.text
    item = client.get(f"/v1.0/account/connectors/{ac_id}", headers=acct).json()
    assert item["AuthState"] == "active"  # strict rotation never saw a reused refresh token


def test_interop_deauthenticate_revokes_at_the_server(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    oidc_provider: OidcProvider,
    installed: tuple[int, int],
    runtime: Any,
) -> None:
    import anyio

    from tokenward.services.revocation import process_due

    ac_id, _ = installed
    _connect(client, auth, oidc_provider, ac_id)
    access = _token(client, acct, ac_id)["AccessToken"]
    assert oidc_provider.bearer_get(oidc_provider.resource_url, access).status_code == 200
    dropped = client.put(f"/v1.0/account/connectors/{ac_id}/deauthenticate", headers=acct)
    assert dropped.status_code == 200, dropped.text
    assert client.get(f"/v1.0/account/connectors/{ac_id}/token", headers=acct).status_code == 409

    async def revoke() -> None:
        try:
            outcomes = await process_due(runtime.ctx, "interop-test")
            assert outcomes, "nothing was queued for revocation"
        finally:
            await runtime.ctx.transport.aclose()

    anyio.run(revoke)
    assert oidc_provider.bearer_get(oidc_provider.resource_url, access).status_code == 401
