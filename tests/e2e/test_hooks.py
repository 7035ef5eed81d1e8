"""The named hooks of catalog/hooks.py, one test each: the provider double behaves as the
providers the hook exists for, a connector definition names the hook, and the connect (and the
credential's later life) comes out right. Real sockets, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from lifecycle import renewal
from quirks_support import (
    Connector,
    call,
    connect,
    document,
    double,
    outcome,
    properties,
    stored,
    token,
)

from tokenward.clock import FakeClock
from tokenward.domain.models import AuthState
from tokenward.runtime import Runtime
from tokenward.services import credentials, revocation
from tokenward.services.credentials import Mode
from tokenward.testing import Failure, ProviderBehaviour, ProviderDouble

ID_PATTERN = "^[A-Za-z0-9-]{1,64}$"


@pytest.fixture
def behaviour() -> ProviderBehaviour:
    return ProviderBehaviour()


@pytest.fixture
def provider(behaviour: ProviderBehaviour, clock: FakeClock) -> Iterator[ProviderDouble]:
    yield from double(behaviour, clock)


@pytest.fixture
def connector(client: TestClient, auth: dict[str, str], acct: dict[str, str]) -> Connector:
    return Connector(client, auth, acct)


def _tenant_param() -> list[dict[str, object]]:
    return [{"Name": "TenantId", "IsOptional": True, "Pattern": ID_PATTERN}]


def test_hook_tenant_from_connections_picks_authEventId(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
) -> None:
    """Several tenants: the one whose ``authEventId`` matches the access token's
    ``authentication_event_id`` claim is kept as the TenantId property."""
    behaviour.access_token_claims = {"authentication_event_id": "event-2"}
    behaviour.api_documents["connections"] = [
        {"tenantId": "tenant-old", "authEventId": "event-1"},
        {"tenantId": "tenant-new", "authEventId": "event-2"},
    ]
    ac_id = connector.install(
        provider,
        parameters=_tenant_param(),
        Hook="tenant_from_connections",
        HookSettings={"Url": f"{provider.url}/api/doc/connections"},
    )
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    assert properties(client, acct, ac_id) == {"TenantId": "tenant-new"}


def test_hook_tenant_from_connections_refuses_an_ambiguous_answer(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
) -> None:
    """Several tenants and none of this authorisation: the connect fails (provider_error)
    rather than act on another organisation."""
    behaviour.api_documents["connections"] = [
        {"tenantId": "a", "authEventId": "event-1"},
        {"tenantId": "b", "authEventId": "event-3"},
    ]
    ac_id = connector.install(
        provider,
        parameters=_tenant_param(),
        Hook="tenant_from_connections",
        HookSettings={"Url": f"{provider.url}/api/doc/connections"},
    )
    assert outcome(connect(client, auth, ac_id)) == "provider_error"
    assert properties(client, acct, ac_id) == {}


def test_hook_cloud_id_from_accessible_resources(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
) -> None:
    """The site id read from the accessible-resources list fills ``{{CloudId}}`` in BaseUrl."""
    behaviour.api_documents["accessible-resources"] = [
        {"id": "1324a887-45db-1bf4-1e99-ef0ff456d421", "url": "https://x.example", "name": "x"}
    ]
    ac_id = connector.install(
        provider,
        parameters=[{"Name": "CloudId", "IsOptional": True, "Pattern": ID_PATTERN}],
        base_url=f"{provider.url}/api/echo/{{{{CloudId}}}}",
        Hook="cloud_id_from_accessible_resources",
        HookSettings={"Url": f"{provider.url}/api/doc/accessible-resources"},
    )
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    assert properties(client, acct, ac_id) == {"CloudId": "1324a887-45db-1bf4-1e99-ef0ff456d421"}
    echoed = call(connector, ac_id).json()
    assert echoed["path"].startswith("/api/echo/1324a887-45db-1bf4-1e99-ef0ff456d421/")


def test_hook_admin_consent_client_credentials(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    clock: FakeClock,
) -> None:
    """The callback carries ``tenant`` and ``admin_consent=True`` instead of a code: the
    tenant becomes a property filling the token URL, tokens come from the client credentials
    grant, and an expired one is re-minted the same way (there is no refresh token)."""
    behaviour.omit_code = True
    behaviour.callback_extras = {"tenant": "contoso-tenant", "admin_consent": "True"}
    ac_id = connector.install(
        provider,
        parameters=_tenant_param(),
        AccessTokenUrl=f"{provider.url}/token?tenant={{{{TenantId}}}}",
        Hook="admin_consent_client_credentials",
    )
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    assert properties(client, acct, ac_id) == {"TenantId": "contoso-tenant"}
    (minted,) = provider.requests_to("/token")
    assert minted.form["grant_type"] == "client_credentials"
    assert minted.query == {"tenant": "contoso-tenant"}
    assert document(runtime, ac_id).refresh_token is None
    clock.advance(3600)
    assert token(client, acct, ac_id).status_code == 200
    grants = [r.form["grant_type"] for r in provider.requests_to("/token")]
    assert grants == ["client_credentials", "client_credentials"]


def test_hook_admin_consent_client_credentials_refused_consent(
    client: TestClient,
    auth: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
) -> None:
    """``admin_consent=False``: provider_error, no token request."""
    behaviour.omit_code = True
    behaviour.callback_extras = {"tenant": "t", "admin_consent": "False"}
    ac_id = connector.install(
        provider, parameters=_tenant_param(), Hook="admin_consent_client_credentials"
    )
    assert outcome(connect(client, auth, ac_id)) == "provider_error"
    assert provider.requests_to("/token") == []


def test_hook_api_base_from_metadata(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
) -> None:
    """The data centre is read from a metadata endpoint (``Authorization: OAuth …``) and
    fills ``{{Dc}}`` in BaseUrl."""
    behaviour.api_documents["metadata"] = {"dc": "us6", "api_endpoint": "https://us6.example"}
    ac_id = connector.install(
        provider,
        parameters=[{"Name": "Dc", "IsOptional": True, "Pattern": "^[a-z]{2}[0-9]{1,2}$"}],
        base_url=f"{provider.url}/api/echo/{{{{Dc}}}}",
        Hook="api_base_from_metadata",
        HookSettings={
            "Url": f"{provider.url}/api/doc/metadata",
            "AuthPrefix": "OAuth",
            "Field": "dc",
            "Property": "Dc",
        },
    )
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    assert properties(client, acct, ac_id) == {"Dc": "us6"}
    assert (
        provider.requests_to("/api/doc/metadata")[0].headers["authorization"].startswith("OAuth ")
    )
    assert call(connector, ac_id).json()["path"].startswith("/api/echo/us6/")


def test_hook_api_base_from_metadata_userinfo_list_path(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    clock: FakeClock,
) -> None:
    """A userinfo document's ``accounts.0.account_id`` (list index in the path) is kept."""
    behaviour.api_documents["userinfo"] = {"accounts": [{"account_id": "acc-7"}]}
    ac_id = connector.install(
        provider,
        parameters=[{"Name": "AccountId", "IsOptional": True, "Pattern": ID_PATTERN}],
        Hook="api_base_from_metadata",
        HookSettings={
            "Url": f"{provider.url}/api/doc/userinfo",
            "Field": "accounts.0.account_id",
            "Property": "AccountId",
        },
    )
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    assert properties(client, acct, ac_id) == {"AccountId": "acc-7"}


# -- rotating_bot_and_user_tokens ------------------------------------------------------------

USER_METHOD = "0f6d2f4e-3c1b-4d57-9a0e-5b8f1c2d3e4a"
APP_METHOD = "7a1c9e2b-5d3f-4b6a-8c0e-1f2a3b4c5d6e"


def test_hook_rotating_bot_and_user_tokens_refresh_now_renews_both_sets(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
) -> None:
    """``POST …/refresh`` renews both sets, each with its own refresh token (two leases, two
    versions); no refresh token is sent twice."""
    ac_id = _rotating(connector, provider, behaviour)
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    before = document(runtime, ac_id)
    assert before.secondary is not None
    version = stored(runtime, ac_id).version
    path = f"/v1.0/account/connectors/{ac_id}/refresh"
    assert client.post(path, headers=connector.acct).status_code == 200
    after = document(runtime, ac_id)
    assert after.secondary is not None
    assert _refreshes(provider) == [before.refresh_token, before.secondary.refresh_token]
    assert after.refresh_token != before.refresh_token
    assert after.secondary.refresh_token != before.secondary.refresh_token
    assert stored(runtime, ac_id).version == version + 2


def test_hook_rotating_bot_and_user_tokens_both_sets_revoked_on_deauthenticate(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
) -> None:
    """De-authenticating queues the revocation of both sets (V-01): the app's refresh and
    access token, then the user's, each with its hint; all four are dead at the provider."""
    ac_id = _rotating(connector, provider, behaviour, RevokeUrl=f"{provider.url}/revoke")
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    doc = document(runtime, ac_id)
    assert doc.secondary is not None
    path = f"/v1.0/account/connectors/{ac_id}/deauthenticate"
    assert client.put(path, headers=connector.acct).status_code == 200

    async def revoke() -> list[str]:
        try:
            return await revocation.process_due(runtime.ctx, "worker-1")
        finally:
            await runtime.ctx.transport.aclose()  # the pool of this event loop

    assert anyio.run(revoke) == ["revoked"]
    sent = [(r.form["token"], r.form["token_type_hint"]) for r in provider.requests_to("/revoke")]
    user = doc.secondary
    assert sent == [
        (doc.refresh_token, "refresh_token"),
        (doc.access_token, "access_token"),
        (user.refresh_token, "refresh_token"),
        (user.access_token, "access_token"),
    ]


def _rotating(
    connector: Connector, provider: ProviderDouble, behaviour: ProviderBehaviour, **knobs: Any
) -> int:
    """A double issuing an app token (1 h) and a nested user token (2000 s), both rotating, each
    refresh token valid once (a reuse revokes the grant); a connector with the hook and a
    method per token set, both calling ``GET /api/me``."""
    behaviour.token_type = "bot"
    behaviour.secondary_token_nesting = "authed_user"
    behaviour.secondary_token_lifetime_seconds = 2000
    behaviour.reuse_revokes_grant = True
    methods = [
        {"Name": "Me", "MethodUniqueIdentifier": APP_METHOD, "EndPoint": "/api/me"},
        {
            "Name": "Me as user",
            "MethodUniqueIdentifier": USER_METHOD,
            "EndPoint": "/api/me",
            "TokenSet": "secondary",
        },
    ]
    return connector.install(
        provider,
        methods=methods,
        TokenTypes=["bot", "user"],
        Hook="rotating_bot_and_user_tokens",
        **knobs,
    )


def _me(connector: Connector, ac_id: int, method: str) -> dict[str, str]:
    url = f"/v1.0/account/connectors/{ac_id}/methods/{method}"
    response = connector.client.get(url, headers=connector.acct)
    assert response.status_code == 200, response.text
    answer: dict[str, str] = response.json()
    return answer


def _refreshes(provider: ProviderDouble) -> list[str]:
    """The refresh tokens sent to the double, in order."""
    return [
        r.form["refresh_token"]
        for r in provider.requests_to("/token")
        if r.form.get("grant_type") == "refresh_token"
    ]


def test_hook_rotating_bot_and_user_tokens_connect_keeps_both_sets(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    clock: FakeClock,
) -> None:
    """The connect keeps the top-level set and the nested one, each with its own refresh token
    and expiry, sealed (neither shows in the masked AuthValue); the refresher looks at the
    credential before the earlier expiry; a ``TokenSet: secondary`` method sends the user
    token, the others the app token."""
    ac_id = _rotating(connector, provider, behaviour)
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    doc = document(runtime, ac_id)
    assert doc.secondary is not None
    user = doc.secondary
    secrets_ = {doc.access_token, doc.refresh_token, user.access_token, user.refresh_token}
    assert None not in secrets_
    assert len(secrets_) == 4
    assert (doc.token_type, user.token_type) == ("bot", "user")
    assert doc.expires_utc == clock.now() + timedelta(seconds=3600)
    assert user.expires_utc == clock.now() + timedelta(seconds=2000)
    cred = stored(runtime, ac_id)
    assert "Secondary" not in (cred.masked or "")
    assert user.access_token not in (cred.masked or "")
    assert cred.next_refresh_utc is not None
    assert cred.next_refresh_utc <= user.expires_utc - timedelta(minutes=5)
    assert "token_set" not in _me(connector, ac_id, APP_METHOD)
    assert _me(connector, ac_id, USER_METHOD)["token_set"] == "secondary"
    sent = provider.requests_to("/api/me")[-1].headers["authorization"]
    assert sent == f"Bearer {user.access_token}"
    assert _refreshes(provider) == []


def test_hook_rotating_bot_and_user_tokens_each_refreshed_with_its_own_refresh_token(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    clock: FakeClock,
) -> None:
    """Each set is refreshed with its own (rotated) refresh token when it is due — on demand
    and by the background refresher — without touching the other; no refresh token is ever
    sent twice (the double revokes the grant on reuse) and both tokens keep working."""
    ac_id = _rotating(connector, provider, behaviour)
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    first = document(runtime, ac_id)
    assert first.secondary is not None
    clock.advance(1990)  # the user token is due (2000 s), the app token is not (3600 s)
    assert _me(connector, ac_id, USER_METHOD)["token_set"] == "secondary"
    second = document(runtime, ac_id)
    assert second.secondary is not None
    assert _refreshes(provider) == [first.secondary.refresh_token]
    assert (second.access_token, second.refresh_token) == (first.access_token, first.refresh_token)
    assert second.secondary.refresh_token != first.secondary.refresh_token
    clock.advance(1600)  # now the app token is due (3590 s of 3600), the user's is not
    assert "token_set" not in _me(connector, ac_id, APP_METHOD)
    third = document(runtime, ac_id)
    assert _refreshes(provider)[1:] == [first.refresh_token]
    assert third.secondary == second.secondary
    clock.advance(200)  # the user token is inside its margin: the background refresher acts
    anyio.run(_background, runtime, ac_id)
    fourth = document(runtime, ac_id)
    assert fourth.secondary is not None
    assert _refreshes(provider)[2:] == [second.secondary.refresh_token]
    assert (fourth.access_token, fourth.refresh_token) == (third.access_token, third.refresh_token)
    sent = _refreshes(provider)
    assert len(sent) == len(set(sent)) == 3
    assert not any(grant.revoked for grant in provider.state.grants.values())
    assert _me(connector, ac_id, USER_METHOD)["token_set"] == "secondary"
    assert "token_set" not in _me(connector, ac_id, APP_METHOD)
    assert len(_refreshes(provider)) == 3


async def _background(runtime: Runtime, ac_id: int) -> None:
    try:
        await credentials.renew(runtime.ctx, renewal(runtime, ac_id), mode=Mode.BACKGROUND)
    finally:
        await runtime.ctx.transport.aclose()


def test_hook_rotating_bot_and_user_tokens_user_token_refused_refreshes_it_alone(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
) -> None:
    """The provider refuses the user token (401): the user set alone is refreshed with its own
    refresh token and the call retried once with the new user token."""
    ac_id = _rotating(connector, provider, behaviour)
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    before = document(runtime, ac_id)
    assert before.secondary is not None
    assert before.secondary.access_token is not None
    with provider.state.lock:
        provider.state.access_tokens[before.secondary.access_token].revoked = True
    assert _me(connector, ac_id, USER_METHOD)["token_set"] == "secondary"
    after = document(runtime, ac_id)
    assert _refreshes(provider) == [before.secondary.refresh_token]
    assert (after.access_token, after.refresh_token) == (before.access_token, before.refresh_token)
    assert after.secondary is not None
    assert after.secondary.access_token != before.secondary.access_token


def test_hook_rotating_bot_and_user_tokens_refused_user_refresh_needs_reauth(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    clock: FakeClock,
) -> None:
    """The provider refuses the user set's refresh token (``invalid_grant``): the credential
    needs re-authentication (409 ``needs_reauth``) and no other refresh token is tried."""
    ac_id = _rotating(connector, provider, behaviour)
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    before = document(runtime, ac_id)
    assert before.secondary is not None
    clock.advance(1990)
    provider.fail_next(Failure.invalid_grant())
    url = f"/v1.0/account/connectors/{ac_id}/methods/{USER_METHOD}"
    refused = connector.client.get(url, headers=connector.acct)
    assert (refused.status_code, refused.json()["Code"]) == (409, "needs_reauth")
    assert _refreshes(provider) == [before.secondary.refresh_token]
    assert stored(runtime, ac_id).state is AuthState.NEEDS_REAUTH
