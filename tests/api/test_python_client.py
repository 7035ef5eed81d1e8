"""The Python SDK ``tokenward.client`` against the real ASGI app, on SQLite and PostgreSQL: the
sync client through the test client's transport, the async one through ``httpx.ASGITransport``;
a provider double answers the method calls (docs/python-client.md; DESIGN.md §4)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from upstream_support import close_transport

from tokenward.client import (
    APIError,
    AsyncClient,
    AuthenticationFailed,
    BadRequest,
    Client,
    Conflict,
    MethodResponse,
    NotFound,
    TokenwardClientError,
    TransportError,
)
from tokenward.clock import FakeClock
from tokenward.runtime import Runtime
from tokenward.services import api_clients
from tokenward.testing import Failure, ProviderDouble

BASE = "http://127.0.0.1:8000"
ACCOUNT = "acme"


@pytest.fixture
def sent(client: TestClient, runtime: Runtime) -> Iterator[list[str]]:
    """The paths of every request the test client sends (an httpx event hook)."""
    paths: list[str] = []
    client.event_hooks["request"].append(lambda request: paths.append(request.url.path))
    yield paths
    close_transport(client, runtime)


@pytest.fixture
def tw(client: TestClient, api_client: tuple[str, str], sent: list[str]) -> Client:
    return Client(BASE, *api_client, http=client)


def _definition(provider: ProviderDouble) -> dict[str, Any]:
    """A client-credentials connector at the provider double with one method, ``Get Me``."""
    auth = {
        "AuthName": "OAuth 2.0",
        "AuthType": "OAuth2",
        "OAuth2Type": "ClientCredentials",
        "AccessTokenUrl": f"{provider.url}/token",
        "Scopes": ["read"],
    }
    return {
        "Name": "SDK double",
        "Version": "1.0",
        "BaseUrl": provider.url,
        "Parameters": [{"Name": "Region", "IsOptional": True}],
        "Authentication": [auth],
        "Methods": [{"Name": "Get Me", "HttpMethod": "GET", "EndPoint": "/api/me"}],
    }


def _connected(tw: Client, provider: ProviderDouble) -> tuple[int, int]:
    """The account, the connector and its library entry, installed with ``AuthValue "{}"``
    (authenticate at the first call); the account connector's Id and the method's Id."""
    tw.create_account("Acme", account_id=ACCOUNT)
    connector = tw.create_connector(_definition(provider))
    double = provider.client
    tw.update_application_connector(
        connector["Id"], client_id=double.client_id, client_secret=double.client_secret
    )
    installed = tw.install(ACCOUNT, connector["Id"], auth_value="{}")
    return installed["Id"], connector["Methods"][0]["Id"]


def test_sync_client_tour_install_method_call_token_properties_and_events(
    tw: Client, provider: ProviderDouble
) -> None:
    """One sync client goes through the partner API: accounts, a custom connector and its
    library entry, install, a method call that authenticates lazily (the provider's JSON comes
    back as a MethodResponse), a fresh access token, properties, events, de-authentication."""
    ac_id, get_me = _connected(tw, provider)
    assert [a["Id"] for a in tw.list_accounts()] == [ACCOUNT]
    assert tw.get_account(ACCOUNT)["Name"] == "Acme"
    answer = tw.call_method(ACCOUNT, ac_id, get_me, http_method="GET")
    assert isinstance(answer, MethodResponse)
    assert (answer.status_code, answer.json()["sub"]) == (200, provider.client.client_id)
    assert answer.headers["x-tokenward-upstream"] == "1"
    document = tw.get_account_connector(ACCOUNT, ac_id)
    assert (document["Authenticated"], document["AuthState"]) == (True, "active")
    assert tw.access_token(ACCOUNT, ac_id)["AccessToken"]
    added = tw.add_property(ACCOUNT, ac_id, "Region", "eu")
    tw.update_property(ACCOUNT, ac_id, added["Id"], "us")
    assert {p["Name"]: p["Value"] for p in tw.list_properties(ACCOUNT, ac_id)}["Region"] == "us"
    tw.delete_property(ACCOUNT, ac_id, added["Id"])
    assert "accountconnector.authenticated" in [e["Type"] for e in tw.list_events()]
    assert "de-authenticated" in tw.deauthenticate(ACCOUNT, ac_id)["Message"]
    assert tw.get_account_connector(ACCOUNT, ac_id)["Authenticated"] is False


def test_sync_client_auth_value_document_is_sent_as_the_json_string(
    tw: Client, provider: ProviderDouble
) -> None:
    """``set_auth_value`` with a mapping sends the serialized JSON string DESIGN.md §5 wants:
    the account connector is authenticated with that token and reads back masked."""
    ac_id, _ = _connected(tw, provider)
    tokens = {"AccessToken": "sdk-access", "Expires": "2031-01-01T00:00:00Z"}
    updated = tw.set_auth_value(ACCOUNT, ac_id, tokens)
    assert updated["Authenticated"] is True
    assert "sdk-access" not in json.dumps(updated)
    assert tw.access_token(ACCOUNT, ac_id)["AccessToken"] == "sdk-access"


def test_webflow_url_starts_a_flow_that_completes_by_redirect(
    tw: Client, client: TestClient, provider: ProviderDouble
) -> None:
    """``webflow_url`` mints a sign-in token and builds the start URL; the service accepts it
    (a client-credentials flow completes at once) and redirects to the registered target."""
    ac_id, _ = _connected(tw, provider)
    url = tw.webflow_url(
        ACCOUNT, ac_id, username="bob", target_origin="https://partner.example/done?x=1"
    )
    started = client.get(url, follow_redirects=False)
    assert started.status_code == 303, started.text
    assert started.headers["location"] == (
        f"https://partner.example/done?x=1&status=success&AccountConnectorId={ac_id}"
    )


def test_errors_are_one_tree_carrying_the_api_message_and_code(
    tw: Client, provider: ProviderDouble
) -> None:
    """Each error status is its own exception class under APIError (under
    TokenwardClientError), carrying the API's ``Message`` and ``Code`` as sent."""
    ac_id, get_me = _connected(tw, provider)
    with pytest.raises(BadRequest) as duplicate:
        tw.create_account("Again", account_id=ACCOUNT)
    assert (duplicate.value.status, duplicate.value.message) == (400, "ID already in use")
    with pytest.raises(NotFound) as missing:
        tw.get_account("nobody")
    assert isinstance(missing.value, APIError)
    assert isinstance(missing.value, TokenwardClientError)
    assert missing.value.code
    tw.deauthenticate(ACCOUNT, ac_id)
    with pytest.raises(Conflict) as refused:
        tw.call_method(ACCOUNT, ac_id, get_me, http_method="GET")
    assert (refused.value.status, refused.value.code) == (409, "not_authenticated")
    assert refused.value.message


def test_provider_answers_are_responses_not_exceptions(
    tw: Client, provider: ProviderDouble
) -> None:
    """A provider's own error status (relayed with ``X-Tokenward-Upstream: 1``; here a 429) is
    returned as a MethodResponse, never raised as one of tokenward's errors (RateLimited)."""
    ac_id, get_me = _connected(tw, provider)
    tw.call_method(ACCOUNT, ac_id, get_me, http_method="GET")
    provider.fail_next(Failure.http(429, retry_after=120, path="/api/me"))
    answer = tw.call_method(ACCOUNT, ac_id, get_me, http_method="GET")
    assert (answer.status_code, answer.ok, answer.text) == (429, False, "canned failure")
    assert answer.headers["retry-after"] == "120"


def test_bearer_token_is_fetched_once_and_cached(tw: Client, sent: list[str]) -> None:
    """Several calls share one bearer token from ``POST /oauth/token`` (cached until its
    ``.expires``)."""
    tw.create_account("Acme", account_id=ACCOUNT)
    tw.get_account(ACCOUNT)
    tw.list_accounts()
    assert sent.count("/oauth/token") == 1
    assert len(sent) == 4


def test_a_refused_bearer_token_is_replaced_once(
    tw: Client, client: TestClient, sent: list[str], clock: FakeClock
) -> None:
    """When tokenward answers 401 to the cached token (here: expired by the service's clock
    while the client still held it), the client fetches a new token and retries once."""
    tw.create_account("Acme", account_id=ACCOUNT)
    clock.advance(15 * 24 * 3600)  # past the 14-day lifetime on the service's side only
    client.app.state.principal_cache.clear()  # verified tokens are otherwise kept 5 seconds
    assert tw.get_account(ACCOUNT)["Id"] == ACCOUNT
    first = ["/oauth/token", "/v1.0/accounts"]
    assert sent == [*first, "/v1.0/accounts/acme", "/oauth/token", "/v1.0/accounts/acme"]


def test_a_second_refusal_is_raised(
    tw: Client,
    client: TestClient,
    runtime: Runtime,
    api_client: tuple[str, str],
    sent: list[str],
) -> None:
    """With its API client revoked the cached token is refused, the new-token request is
    refused too, and the client raises AuthenticationFailed with the token endpoint's error
    (no loop: one call, one token request)."""
    tw.create_account("Acme", account_id=ACCOUNT)
    api_clients.revoke_client(runtime.ctx, api_client[0])
    client.app.state.principal_cache.clear()  # verified tokens are otherwise kept 5 seconds
    with pytest.raises(AuthenticationFailed) as refused:
        tw.get_account(ACCOUNT)
    assert (refused.value.status, refused.value.code) == (401, "invalid_client")
    assert sent[2:] == ["/v1.0/accounts/acme", "/oauth/token"]


def test_wrong_client_secret_raises_authentication_failed(
    client: TestClient, api_client: tuple[str, str], sent: list[str]
) -> None:
    """Wrong client credentials: AuthenticationFailed with the token endpoint's description."""
    with (
        Client(BASE, api_client[0], "not-the-secret", http=client) as tw,
        pytest.raises(AuthenticationFailed) as refused,
    ):
        tw.list_accounts()
    assert refused.value.code == "invalid_client"
    assert refused.value.message


def test_unreachable_service_raises_transport_error() -> None:
    """No server listening: a TransportError (the client's own), not an httpx exception."""
    with (
        Client("http://127.0.0.1:9", "id", "secret", timeout=2) as tw,
        pytest.raises(TransportError),
    ):
        tw.list_accounts()


async def test_async_client_installs_calls_a_method_and_raises_the_same_errors(
    app: Any, runtime: Runtime, api_client: tuple[str, str], provider: ProviderDouble
) -> None:
    """The async client, in-process through ``httpx.ASGITransport``: install, a method call
    that authenticates lazily, a fresh token, and the same exception tree."""
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            httpx.AsyncClient(transport=transport) as http,
            AsyncClient(BASE, *api_client, http=http) as tw,
        ):
            await tw.create_account("Acme", account_id=ACCOUNT)
            connector = await tw.create_connector(_definition(provider))
            await tw.update_application_connector(
                connector["Id"],
                client_id=provider.client.client_id,
                client_secret=provider.client.client_secret,
            )
            installed = await tw.install(ACCOUNT, connector["Id"], auth_value="{}")
            get_me = connector["Methods"][0]["Id"]
            answer = await tw.call_method(ACCOUNT, installed["Id"], get_me, http_method="GET")
            assert (answer.status_code, answer.json()["sub"]) == (200, provider.client.client_id)
            assert (await tw.access_token(ACCOUNT, installed["Id"]))["AccessToken"]
            with pytest.raises(NotFound):
                await tw.get_account_connector(ACCOUNT, installed["Id"] + 1000)
    finally:
        await runtime.ctx.transport.aclose()
