"""OAuth 1.0a end to end (SECURITY.md O-02…O-06): tokenward through its ASGI app, an OAuth 1.0a
provider built on oauthlib's ``WebApplicationServer`` over a real socket, the browser simulated
over HTTP; on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select
from webflow_support import (
    PARTNER,
    REDIRECT_URI,
    credential,
    flow_rows,
    query_of,
    script_values,
    signin_token,
    start,
)

from tokenward.catalog.registry import Catalog
from tokenward.catalog.schema import Connector
from tokenward.oauth.oauth1 import authorization_params
from tokenward.runtime import Runtime
from tokenward.store.tables import events, metadata
from tokenward.testing.oauth1_provider import Consumer1, OAuth1ProviderDouble

CONNECTOR = 9201
GET_ME, CREATE_FORM = 920101, 920102
GET_ME_GUID = "5d1e7a10-0000-4000-8000-000000920101"
ACCT = {"X-Cyclr-Account": "acme"}
KEYS = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_PEM = KEYS.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
PUBLIC_PEM = (
    KEYS.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    .decode()
)


def _consumer(method: str) -> Consumer1:
    if method == "RSA-SHA1":
        return Consumer1(callback=REDIRECT_URI, signature_method=method, rsa_public_key=PUBLIC_PEM)
    return Consumer1(callback=REDIRECT_URI, signature_method=method)


@pytest.fixture(params=["HMAC-SHA1"])
def method(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def provider(method: str) -> Iterator[OAuth1ProviderDouble]:
    with OAuth1ProviderDouble(_consumer(method)) as double:
        yield double


def _catalog(url: str, method: str) -> Catalog:
    methods = [
        {
            "Id": GET_ME,
            "Name": "Get Me",
            "MethodUniqueIdentifier": GET_ME_GUID,
            "EndPoint": "/me",
            "Parameters": [
                {"Id": 9201011, "Name": "Q", "TargetType": "QueryString", "TargetName": "q"}
            ],
        },
        {
            "Id": CREATE_FORM,
            "Name": "Create Form",
            "MethodUniqueIdentifier": "5d1e7a10-0000-4000-8000-000000920102",
            "HttpMethod": "POST",
            "DataType": "Form",
            "EndPoint": "/items",
        },
    ]
    auth = {
        "Id": "5d1e7a10-0000-4000-8000-000000000001",
        "AuthName": "OAuth 1.0a",
        "AuthType": "OAuth1",
        "RequestTokenUrl": f"{url}/oauth/request_token",
        "AuthorizeUrl": f"{url}/oauth/authorize",
        "AccessTokenUrl": f"{url}/oauth/access_token",
        "SignatureMethod": method,
    }
    connector = {
        "Id": CONNECTOR,
        "Name": "OAuth1 Double",
        "Version": "1.0",
        "BaseUrl": f"{url}/api",
        "Authentication": [auth],
        "Methods": methods,
    }
    return Catalog([Connector.model_validate(connector)])


@pytest.fixture
def runtime(runtime: Runtime, provider: OAuth1ProviderDouble, method: str) -> Runtime:
    runtime.ctx = dataclasses.replace(runtime.ctx, catalog=_catalog(provider.url, method))
    return runtime


@pytest.fixture
def api(client: TestClient, runtime: Runtime) -> Iterator[TestClient]:
    yield client
    portal = client.portal  # close the outbound pool in the loop that opened it
    assert portal is not None
    portal.call(runtime.ctx.transport.aclose)


@pytest.fixture
def ac_id(
    api: TestClient, auth: dict[str, str], acct: dict[str, str], provider: OAuth1ProviderDouble
) -> int:
    """The connector installed, its consumer key and secret in the application connector."""
    consumer = provider.consumer
    # a secret is one line: the PEM key with its line breaks as spaces
    rsa_secret = PRIVATE_PEM.replace("\n", " ")
    secret = rsa_secret if consumer.signature_method == "RSA-SHA1" else consumer.secret
    body = {"ClientId": consumer.key, "ClientSecret": secret, "Enabled": True}
    response = api.put(f"/v1.0/applicationconnectors/{CONNECTOR}", json=body, headers=auth)
    assert response.status_code == 200, response.text
    installed = api.post(f"/v1.0/connectors/{CONNECTOR}/install", headers=acct)
    assert installed.status_code == 200, installed.text
    return int(installed.json()["Id"])


def _start(client: TestClient, auth: dict[str, str], ac: int) -> str:
    """Start a flow; the provider's authorize URL the browser is sent to."""
    started = start(client, ac, signin_token(client, auth))
    assert started.status_code == 303, started.text
    return started.headers["location"]


def _authorize(authorize_url: str) -> str:
    """The user signs in on the provider's page (GET, then the form POST): the callback URL."""
    page = httpx.get(authorize_url)
    assert page.status_code == 200
    assert 'name="oauth_token"' in page.text
    base = f"{urlsplit(authorize_url).scheme}://{urlsplit(authorize_url).netloc}"
    token = query_of(authorize_url)["oauth_token"]
    form = {"oauth_token": token, "username": "alice", "password": "wonderland"}
    answer = httpx.post(f"{base}/oauth/authorize", data=form)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def _connect(client: TestClient, auth: dict[str, str], ac: int) -> httpx.Response:
    """A whole flow; the completion page."""
    callback = client.get(_authorize(_start(client, auth, ac)), follow_redirects=False)
    assert callback.status_code == 303, callback.text
    return client.get(callback.headers["location"], follow_redirects=False)


def _dump(runtime: Runtime) -> str:
    with runtime.engine.connect() as conn:
        return repr([list(conn.execute(select(t))) for t in metadata.sorted_tables])


def _issued(provider: OAuth1ProviderDouble) -> tuple[str, str]:
    with provider.state.lock:
        [(token, found)] = provider.state.access.items()
        return token, found.secret


def _signed_by_oauth(seen: Any) -> dict[str, str]:
    return dict(authorization_params(seen.headers["authorization"]))


@pytest.mark.parametrize("method", ["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1"], indirect=True)
def test_O03_O04_O06_oauth1_flow_connects_and_seals_the_token(
    runtime: Runtime,
    api: TestClient,
    auth: dict[str, str],
    ac_id: int,
    provider: OAuth1ProviderDouble,
    method: str,
) -> None:
    """Temporary credentials with oauth_callback, the authorize page, the callback, the token
    request: the credential is active, sealed (no token or secret in any row), read back
    masked, one event; each signature method is accepted by oauthlib's server."""
    page = _connect(api, auth, ac_id)
    assert script_values(page.text) == ("connected!", PARTNER)
    [initiate] = provider.requests_to("/oauth/request_token")
    assert _signed_by_oauth(initiate)["oauth_callback"] == REDIRECT_URI
    assert _signed_by_oauth(initiate)["oauth_signature_method"] == method
    [exchange] = provider.requests_to("/oauth/access_token")
    assert "oauth_verifier" in _signed_by_oauth(exchange)
    assert credential(runtime, ac_id).state == "active"
    token, secret = _issued(provider)
    dump = _dump(runtime)
    assert token not in dump
    assert secret not in dump
    assert provider.consumer.secret not in dump  # O-06: the consumer secret is sealed too
    read = api.get(f"/v1.0/account/connectors/{ac_id}", headers={**auth, **ACCT}).json()
    assert read["Authenticated"] is True
    assert json.loads(read["AuthValue"]) == {
        "AccessToken": "********",
        "AccessTokenSecret": "********",
    }
    with runtime.engine.connect() as conn:
        assert [row.type for row in conn.execute(select(events))] == [
            "accountconnector.authenticated"
        ]


@pytest.mark.parametrize("method", ["HMAC-SHA1", "RSA-SHA1"], indirect=True)
def test_O02_O05_method_and_proxy_calls_are_signed_and_accepted(
    api: TestClient, auth: dict[str, str], ac_id: int, provider: OAuth1ProviderDouble
) -> None:
    """A method call (query string), a form method call and a proxy call (query and form body)
    are signed so that oauthlib's server accepts them, each with a fresh nonce and a current
    timestamp."""
    _connect(api, auth, ac_id)
    base = f"/v1.0/account/connectors/{ac_id}"
    headers = {**auth, **ACCT}
    me = api.post(
        f"{base}/methods/{GET_ME_GUID}", json={"Parameters": {"Q": "a b&c"}}, headers=headers
    )
    assert me.status_code == 200, me.text
    assert me.json()["user"] == "alice"
    assert me.json()["query"] == [["q", "a b&c"]]
    form = api.post(
        f"{base}/methods/{CREATE_FORM}", json={"Fields": {"name": "Jørn", "n": 1}}, headers=headers
    )
    assert form.status_code == 200, form.text
    assert form.json()["path"] == "/api/items"
    proxied = api.post(
        f"{base}/proxy/things/1?tag=x%20y&tag=z",
        content=b"note=caf%C3%A9&n=2",
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert proxied.status_code == 200, proxied.text
    assert proxied.json() == {
        "user": "alice",
        "method": "POST",
        "path": "/api/things/1",
        "query": [["tag", "x y"], ["tag", "z"]],
        "body": "note=caf%C3%A9&n=2",
    }
    calls = [r for r in provider.requests if r.path.startswith("/api/")]
    signed = [_signed_by_oauth(r) for r in calls]
    assert len({s["oauth_nonce"] for s in signed}) == len(calls) == 3
    assert all(abs(int(s["oauth_timestamp"]) - time.time()) < 60 for s in signed)
    assert all("oauth_token" in s for s in signed)


def test_oauth1_auth_value_written_through_the_api_signs_calls(
    api: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    ac_id: int,
    provider: OAuth1ProviderDouble,
) -> None:
    """An AuthValue {"AccessToken","AccessTokenSecret"} written through the API is used to sign
    calls; GET …/token stays 409 (OAuth 1.0a has no bearer token to hand out)."""
    _connect(api, auth, ac_id)
    token, secret = _issued(provider)
    other = api.post(f"/v1.0/connectors/{CONNECTOR}/install", headers=acct)
    other_id = int(other.json()["Id"])
    value = json.dumps({"AccessToken": token, "AccessTokenSecret": secret})
    written = api.put(
        f"/v1.0/account/connectors/{other_id}", json={"AuthValue": value}, headers=acct
    )
    assert written.status_code == 200, written.text
    me = api.get(f"/v1.0/account/connectors/{other_id}/methods/{GET_ME}", headers=acct)
    assert me.status_code == 200, me.text
    assert me.json()["user"] == "alice"
    assert api.get(f"/v1.0/account/connectors/{other_id}/token", headers=acct).status_code == 409


def _no_exchange(provider: OAuth1ProviderDouble) -> bool:
    return provider.requests_to("/oauth/access_token") == []


@pytest.mark.parametrize(
    "query",
    [
        {"oauth_token": "not-a-token-we-issued", "oauth_verifier": "v"},
        {"oauth_verifier": "v"},
        {"oauth_token": "", "oauth_verifier": "v"},
    ],
)
def test_O04_wrong_or_missing_oauth_token_is_400_and_changes_nothing(
    runtime: Runtime,
    api: TestClient,
    auth: dict[str, str],
    ac_id: int,
    provider: OAuth1ProviderDouble,
    query: dict[str, str],
) -> None:
    """A callback whose oauth_token is not the one of this browser's flow (or is missing): a
    plain 400 page, no token request, no row changed; the real callback still works after."""
    real = _authorize(_start(api, auth, ac_id))
    before = flow_rows(runtime)
    refused = api.get("/connector/callback", params=query, follow_redirects=False)
    assert refused.status_code == 400
    assert flow_rows(runtime) == before
    assert _no_exchange(provider)
    assert api.get(real, follow_redirects=False).status_code == 303


def test_O04_reused_callback_is_400_and_changes_nothing(
    runtime: Runtime,
    api: TestClient,
    auth: dict[str, str],
    ac_id: int,
    provider: OAuth1ProviderDouble,
) -> None:
    """The callback replayed after it succeeded: 400, one token request only, the credential
    as the first callback left it."""
    callback_url = _authorize(_start(api, auth, ac_id))
    assert api.get(callback_url, follow_redirects=False).status_code == 303
    first = credential(runtime, ac_id)
    assert api.get(callback_url, follow_redirects=False).status_code == 400
    assert len(provider.requests_to("/oauth/access_token")) == 1
    assert credential(runtime, ac_id) == first


def test_O04_callback_in_another_browser_is_400_and_stores_nothing(
    runtime: Runtime,
    api: TestClient,
    auth: dict[str, str],
    ac_id: int,
    provider: OAuth1ProviderDouble,
) -> None:
    """The right oauth_token arriving without this flow's binding cookie: 400, the flow is
    spent, no token request, no credential."""
    callback_url = _authorize(_start(api, auth, ac_id))
    api.cookies.clear()
    assert api.get(callback_url, follow_redirects=False).status_code == 400
    assert _no_exchange(provider)
    assert credential(runtime, ac_id) is None or credential(runtime, ac_id).secret_sealed is None


def test_O04_callback_without_verifier_fails_the_flow(
    runtime: Runtime,
    api: TestClient,
    auth: dict[str, str],
    ac_id: int,
    provider: OAuth1ProviderDouble,
) -> None:
    """The flow's oauth_token without oauth_verifier: 400, the partner's page is told
    invalid_callback, no token request, nothing stored; the flow cannot be retried."""
    authorize_url = _start(api, auth, ac_id)
    token = query_of(authorize_url)["oauth_token"]
    answer = api.get("/connector/callback", params={"oauth_token": token}, follow_redirects=False)
    assert answer.status_code == 400
    message, _ = script_values(answer.text)
    assert json.loads(message)["error"] == "invalid_callback"
    assert _no_exchange(provider)
    assert credential(runtime, ac_id) is None or credential(runtime, ac_id).secret_sealed is None
    again = api.get(_authorize(authorize_url), follow_redirects=False)
    assert again.status_code == 400


def test_O03_missing_callback_confirmed_aborts_the_flow(
    runtime: Runtime,
    api: TestClient,
    auth: dict[str, str],
    ac_id: int,
    provider: OAuth1ProviderDouble,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A provider answering without oauth_callback_confirmed=true (OAuth 1.0): the browser is
    never sent to it, the partner's page is told provider_error, the log says why, no session
    waits for a callback."""
    provider.state.confirm_callback = False
    with caplog.at_level(logging.WARNING, logger="tokenward.webflow"):
        started = start(api, ac_id, signin_token(api, auth))
    assert started.status_code == 303
    assert started.headers["location"].startswith("http://127.0.0.1:8000/connector/complete?")
    assert provider.requests_to("/oauth/authorize") == []
    [record] = [r for r in caplog.records if r.getMessage() == "webflow_start_failed"]
    assert record.reason == "OAuthError:callback_not_confirmed"  # type: ignore[attr-defined]
    assert record.code == "provider_error"  # type: ignore[attr-defined]
    page = api.get(started.headers["location"], follow_redirects=False)
    message, _ = script_values(page.text)
    assert json.loads(message)["error"] == "provider_error"
    assert [row for row in flow_rows(runtime)["auth_sessions"] if row[-1] is None] == []


@pytest.mark.parametrize("method", ["PLAINTEXT"], indirect=True)
def test_O02_plaintext_is_refused_over_http(
    api: TestClient, auth: dict[str, str], ac_id: int, provider: OAuth1ProviderDouble
) -> None:
    """A PLAINTEXT connector whose endpoints are not https: nothing is sent, the flow fails."""
    started = start(api, ac_id, signin_token(api, auth))
    assert started.status_code == 303
    assert "/connector/complete?" in started.headers["location"]
    assert provider.requests == []
