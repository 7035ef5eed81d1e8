"""Helpers of the webflow tests: connectors pointing at a provider double on loopback, installing
them, sign-in tokens, and walking a browser through start → provider → callback → completion
(the app through Starlette's TestClient, the provider over a real socket)."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from tokenward.catalog.registry import Catalog
from tokenward.catalog.schema import Connector
from tokenward.runtime import Runtime
from tokenward.store.tables import auth_sessions, credentials, events, signin_tokens
from tokenward.testing import (
    ProviderBehaviour,
    ProviderDouble,
    RegisteredClient,
    provider_fixture,
)

__all__ = [
    "APIKEY",
    "CC",
    "CODE",
    "HAND_TYPED",
    "ISSUER",
    "PARTNER",
    "PASSWORD",
    "QUERY",
    "REDIRECT_URI",
    "REQUIRED",
    "START",
    "Flow",
    "build_catalog",
    "credential",
    "flow_rows",
    "install",
    "provider_double",
    "query_of",
    "script_values",
    "signin_token",
    "start",
    "with_catalog",
]

PARTNER = "https://partner.example"  # the allowed target origin of the test settings
REDIRECT_URI = "http://127.0.0.1:8000/connector/callback"
START = "/connectorauth/updateaccountconnectoroauth"
CLIENT_ID = "tokenward-client"
CLIENT_SECRET = "s3cret: +%value"  # ':' '+' '%' and a space (T-01)

CODE, ISSUER, CC, PASSWORD, REQUIRED, APIKEY, QUERY = 9101, 9102, 9103, 9104, 9105, 9106, 9107
HAND_TYPED = 9108  # wrong hand-typed endpoints, a correct Issuer: metadata must win (F-11)


def _oauth2(url: str, grant: str, index: int, **knobs: Any) -> dict[str, Any]:
    return {
        "Id": f"7a1f0f3e-0000-4000-8000-{index:012d}",
        "AuthName": f"OAuth 2.0 {grant}",
        "AuthType": "OAuth2",
        "OAuth2Type": grant,
        "AuthoriseUrl": f"{url}/authorize",
        "AccessTokenUrl": f"{url}/token",
        "Scopes": ["read", "write"],
        **knobs,
    }


def _connector(
    connector_id: int, auth: dict[str, Any], parameters: list[dict[str, Any]] | None = None
) -> Connector:
    return Connector.model_validate(
        {
            "Id": connector_id,
            "Name": f"Webflow {connector_id}",
            "Version": "1.0",
            "BaseUrl": "https://api.example.com",
            "Parameters": parameters or [{"Name": "Region", "IsOptional": True}],
            "Authentication": [auth],
        }
    )


def build_catalog(url: str) -> Catalog:
    """The test connectors, every endpoint on the provider double at ``url``."""
    credentials_params = [
        {"Name": "Username"},
        {"Name": "Password", "IsSensitive": True},
    ]
    apikey = {"Id": "7a1f0f3e-0000-4000-8000-000000000099", "AuthName": "Key", "AuthType": "ApiKey"}
    return Catalog(
        [
            _connector(CODE, _oauth2(url, "AuthorisationCode", 1)),
            _connector(ISSUER, _oauth2(url, "AuthorisationCode", 2, Issuer=url)),
            _connector(CC, _oauth2(url, "ClientCredentials", 3)),
            _connector(PASSWORD, _oauth2(url, "PasswordCredentials", 4), credentials_params),
            _connector(
                REQUIRED,
                _oauth2(url, "AuthorisationCode", 5),
                [{"Name": "Tenant"}, {"Name": "Team", "IsOptional": True}],
            ),
            _connector(APIKEY, apikey),
            _connector(
                QUERY,
                _oauth2(url, "AuthorisationCode", 7, AuthoriseUrl=f"{url}/authorize?tenant=t1"),
            ),
            _connector(
                HAND_TYPED,
                _oauth2(
                    url,
                    "AuthorisationCode",
                    8,
                    AuthoriseUrl=f"{url}/not-here",
                    AccessTokenUrl=f"{url}/not-here-either",
                    Issuer=url,
                ),
            ),
        ]
    )


def provider_double() -> Any:
    """A pytest fixture: a provider double that knows tokenward's one redirect URI."""
    return provider_fixture(
        ProviderBehaviour, clients=[RegisteredClient(redirect_uri=REDIRECT_URI)]
    )


def with_catalog(runtime: Runtime, provider: ProviderDouble) -> Runtime:
    runtime.ctx = dataclasses.replace(runtime.ctx, catalog=build_catalog(provider.url))
    return runtime


def install(
    client: TestClient,
    acct: dict[str, str],
    connector_id: int,
    properties: dict[str, str] | None = None,
    *,
    client_secret: str = CLIENT_SECRET,
) -> int:
    """Install a test connector with the double's client credentials; its account connector Id."""
    props = {"ClientId": CLIENT_ID, "ClientSecret": client_secret, **(properties or {})}
    body = {"Properties": [{"Name": k, "Value": v} for k, v in props.items()]}
    response = client.post(f"/v1.0/connectors/{connector_id}/install", json=body, headers=acct)
    assert response.status_code == 200, response.text
    return int(response.json()["Id"])


def signin_token(client: TestClient, auth: dict[str, str], account: str = "acme") -> str:
    response = client.post(
        f"/v1.0/accounts/{account}/signintoken", json={"Username": "alice"}, headers=auth
    )
    assert response.status_code == 200, response.text
    return str(response.json()["Token"])


def start(
    client: TestClient,
    ac_id: int | str,
    token: str,
    target: str | None = PARTNER,
    message: str | None = "connected!",
    **extra: str,
) -> httpx.Response:
    """GET the webflow's start URL (not following redirects)."""
    params: dict[str, str] = {"id": str(ac_id), "token": token, **extra}
    if target is not None:
        params["targetOrigin"] = target
    if message is not None:
        params["callbackMessage"] = message
    return client.get(START, params=params, follow_redirects=False)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


@dataclasses.dataclass
class Flow:
    """One browser's walk through a code flow."""

    client: TestClient
    provider: ProviderDouble
    started: httpx.Response
    answer: httpx.Response | None = None  # the provider's redirect back
    callback: httpx.Response | None = None

    @property
    def authorize_url(self) -> str:
        assert self.started.status_code == 303, self.started.text
        return self.started.headers["location"]

    @property
    def state(self) -> str:
        return query_of(self.authorize_url)["state"]

    def authorize(self) -> str:
        """Send the browser to the provider; the callback URL it redirects back to."""
        self.answer = httpx.get(self.authorize_url, follow_redirects=False)
        assert self.answer.status_code == 302, self.answer.text
        return self.answer.headers["location"]

    def back(self, url: str | None = None) -> httpx.Response:
        """The provider's redirect arriving at tokenward (with this browser's cookies)."""
        self.callback = self.client.get(url or self.authorize(), follow_redirects=False)
        return self.callback

    def complete(self) -> httpx.Response:
        """Follow the callback's 303 to the completion page."""
        assert self.callback is not None
        assert self.callback.status_code == 303
        return self.client.get(self.callback.headers["location"], follow_redirects=False)


def script_values(html: str) -> tuple[Any, Any]:
    """(message, targetOrigin) as the completion page's script holds them."""
    message = re.search(r"var message = (.*);\n", html)
    target = re.search(r"var targetOrigin = (.*);\n", html)
    assert message is not None, html
    assert target is not None, html
    return json.loads(message.group(1)), json.loads(target.group(1))


def credential(runtime: Runtime, ac_id: int) -> Any:
    with runtime.engine.connect() as conn:
        query = select(credentials).where(credentials.c.account_connector_id == ac_id)
        return conn.execute(query).first()


def flow_rows(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """The rows a webflow may touch: sessions, sign-in tokens, credentials, events."""
    out = {}
    with runtime.engine.connect() as conn:
        for table in (auth_sessions, signin_tokens, credentials, events):
            ordered = select(table).order_by(*table.primary_key.columns)
            out[table.name] = [tuple(row) for row in conn.execute(ordered)]
    return out
