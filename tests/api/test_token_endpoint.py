"""``GET /v1.0/account/connectors/{id}/token`` through HTTP against a provider double, on SQLite
and PostgreSQL (DESIGN.md §4; SECURITY.md L-04, K-03)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from ac_support import audit_actions, credential_row, restricted_headers, rows
from fastapi.testclient import TestClient
from upstream_support import (
    API_KEY,
    Connected,
    close_transport,
    connect_oauth,
    entry,
    install,
    set_state,
)

from tokenward.clock import FakeClock
from tokenward.runtime import Runtime
from tokenward.store.tables import audit_log
from tokenward.testing import ProviderDouble


@pytest.fixture
def api(client: TestClient, runtime: Runtime) -> Iterator[TestClient]:
    yield client
    close_transport(client, runtime)


@pytest.fixture
def connected(
    api: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
    clock: FakeClock,
) -> Connected:
    return connect_oauth(api, auth, acct, provider, clock.now())


def token_url(ac_id: int) -> str:
    return f"/v1.0/account/connectors/{ac_id}/token"


def test_L04_valid_token_is_returned_uncached_with_one_read_and_no_write(
    api: TestClient,
    acct: dict[str, str],
    connected: Connected,
    provider: ProviderDouble,
    runtime: Runtime,
    clock: FakeClock,
) -> None:
    """The stored token as {AccessToken, TokenType, Expires, Scopes}, Cache-Control no-store;
    the provider is not called and nothing is written (the audit entry waits for its batch)."""
    stored = credential_row(runtime, connected.ac_id)
    audited = rows(runtime, audit_log)
    requests = len(provider.requests)
    response = api.get(token_url(connected.ac_id), headers=acct)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"AccessToken", "TokenType", "Expires", "Scopes"}
    assert body["AccessToken"] == connected.tokens["access_token"]
    assert body["TokenType"] == "Bearer"
    expected = (clock.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert body["Expires"].startswith(expected)
    assert body["Expires"].endswith("Z")
    assert isinstance(body["Scopes"], list)
    assert len(provider.requests) == requests
    assert credential_row(runtime, connected.ac_id) == stored
    assert rows(runtime, audit_log) == audited


def test_token_reads_are_audited_in_batches(
    api: TestClient, acct: dict[str, str], connected: Connected, runtime: Runtime
) -> None:
    """Each read is queued as credential.token_read and written by the next flush."""
    for _ in range(3):
        assert api.get(token_url(connected.ac_id), headers=acct).status_code == 200
    assert audit_actions(runtime).count("credential.token_read") == 3


def test_an_expired_token_is_refreshed_first(
    api: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
    clock: FakeClock,
) -> None:
    """An expired stored token is refreshed at the provider once; the new one is returned with
    the scopes the provider granted."""
    found = connect_oauth(api, auth, acct, provider, clock.now(), expires_in=timedelta(hours=-1))
    response = api.get(token_url(found.ac_id), headers=acct)
    assert response.status_code == 200, response.text
    body = response.json()
    assert provider.refresh_count == 1
    assert body["AccessToken"] != found.tokens["access_token"]
    assert sorted(body["Scopes"]) == ["read", "write"]
    again = api.get(token_url(found.ac_id), headers=acct).json()
    assert again["AccessToken"] == body["AccessToken"]
    assert provider.refresh_count == 1


def test_409_with_code_when_not_authenticated_or_needs_reauth(
    api: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
    connected: Connected,
    runtime: Runtime,
) -> None:
    """No credential → 409 not_authenticated; needs_reauth → 409 needs_reauth, no provider
    call; errors carry no token."""
    bare = install(api, auth, acct, f"{provider.url}/api", entry("ApiKey"))
    set_state(runtime, connected.ac_id, "needs_reauth")
    requests = len(provider.requests)
    unauthenticated = api.get(token_url(bare.ac_id), headers=acct)
    reauth = api.get(token_url(connected.ac_id), headers=acct)
    assert (unauthenticated.status_code, unauthenticated.json()["Code"]) == (
        409,
        "not_authenticated",
    )
    assert (reauth.status_code, reauth.json()["Code"]) == (409, "needs_reauth")
    assert connected.tokens["access_token"] not in reauth.text
    assert len(provider.requests) == requests


def test_K03_account_rules(
    api: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    api_client: tuple[str, str],
    connected: Connected,
) -> None:
    """No account header → 401; a token restricted to another account → 403; another
    account's connector → 404; an unknown id → 404."""
    api.post("/v1.0/accounts", json={"Id": "other", "Name": "Other"}, headers=auth)
    restricted = {**restricted_headers(api, api_client, "other"), "X-Cyclr-Account": "acme"}
    url = token_url(connected.ac_id)
    assert api.get(url, headers=auth).status_code == 401
    assert api.get(url, headers=restricted).status_code == 403
    assert api.get(url, headers={**auth, "X-Cyclr-Account": "other"}).status_code == 404
    assert api.get(token_url(424242), headers=acct).status_code == 404
    assert api.get(url).status_code == 401


def test_api_key_and_no_auth_connectors(
    api: TestClient, auth: dict[str, str], acct: dict[str, str], provider: ProviderDouble
) -> None:
    """An API key connector hands out its key; a connector without authentication has no token
    to hand out (409 not_supported)."""
    keyed = install(api, auth, acct, f"{provider.url}/api", entry("ApiKey"), API_KEY)
    open_api = install(api, auth, acct, f"{provider.url}/api", entry("None"))
    key = api.get(token_url(keyed.ac_id), headers=acct)
    none = api.get(token_url(open_api.ac_id), headers=acct)
    assert key.status_code == 200, key.text
    assert key.json()["AccessToken"] == API_KEY
    assert key.json()["Expires"] is None
    assert (none.status_code, none.json()["Code"]) == (409, "not_supported")
