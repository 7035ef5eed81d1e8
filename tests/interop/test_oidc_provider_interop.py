"""tokenward's protocol engine against a real, OpenID-certified authorization server: panva's
``oidc-provider`` from npm on loopback (docs/testing.md). Requests are built by
``tokenward.oauth.requests``, sent by ``tokenward.outbound.transport.Transport`` and read by
``tokenward.oauth.responses``; only the browser is simulated (plain HTTP, its login and consent
forms). The server rotates the refresh token on every refresh and, like Auth0's breach detection,
revokes the whole grant when a rotated refresh token is presented again (SECURITY.md §4.2)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit

import pytest
from oidc_server import (
    AuthMethod,
    BrowserError,
    OidcClient,
    OidcProvider,
    callback_params,
    start_oidc_provider,
)

from tokenward.catalog.schema import OAuth2Auth
from tokenward.errors import Failure, OAuthError
from tokenward.oauth import pkce
from tokenward.oauth.requests import (
    HttpRequest,
    authorization_url,
    token_request_authorization_code,
    token_request_client_credentials,
    token_request_refresh,
)
from tokenward.oauth.responses import TokenSet, parse_token_response
from tokenward.outbound.transport import HttpResponse, Transport

METHODS: list[AuthMethod] = ["client_secret_basic", "client_secret_post"]


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    sender = Transport(allow_insecure_http=True)  # loopback http: the test mode of T-07
    yield sender
    await sender.aclose()


async def send(transport: Transport, request: HttpRequest) -> HttpResponse:
    return await transport.send(request, timeout=10)


async def tokens(
    transport: Transport, request: HttpRequest, previous_refresh_token: str | None = None
) -> TokenSet:
    answer = await send(transport, request)
    return parse_token_response(
        answer.status,
        answer.headers,
        answer.body,
        now=datetime.now(UTC),
        default_expires_in=None,
        previous_refresh_token=previous_refresh_token,
    )


def get(url: str, bearer: str | None = None) -> HttpRequest:
    headers = {"Accept": "application/json"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    return HttpRequest("GET", url, headers)


def client_auth(client: OidcClient) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """RFC 6749 §2.3.1 for the requests tokenward has no builder for yet (revocation, PAR)."""
    if client.auth_method == "client_secret_post":
        return {}, [("client_id", client.client_id), ("client_secret", client.client_secret)]
    pair = f"{quote_plus(client.client_id)}:{quote_plus(client.client_secret)}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}, []


def form_post(url: str, client: OidcClient, params: list[tuple[str, str]]) -> HttpRequest:
    headers, extra = client_auth(client)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    return HttpRequest("POST", url, headers, urlencode(params + extra).encode())


async def code_flow(
    provider: OidcProvider, transport: Transport, client: OidcClient | None = None
) -> tuple[OAuth2Auth, TokenSet]:
    """The authorization-code flow with PKCE S256, state and the RFC 9207 issuer check."""
    client = client or provider.client
    auth = provider.oauth2_auth(client)
    verifier, state = pkce.new_verifier(), secrets.token_urlsafe(32)
    url = authorization_url(
        auth,
        client_id=client.client_id,
        redirect_uri=client.redirect_uri,
        state=state,
        code_challenge=pkce.challenge_s256(verifier),
    )
    callback = provider.simulate_browser(url)
    assert callback.startswith(client.redirect_uri + "?")
    answer = callback_params(callback)
    assert answer["state"] == state
    assert answer["iss"] == auth.Issuer == provider.issuer  # C-04: simple string comparison
    exchange = token_request_authorization_code(
        auth,
        client_id=client.client_id,
        client_secret=client.client_secret,
        code=answer["code"],
        redirect_uri=client.redirect_uri,
        code_verifier=verifier,
    )
    return auth, await tokens(transport, exchange)


async def refresh(
    transport: Transport, auth: OAuth2Auth, client: OidcClient, refresh_token: str
) -> TokenSet:
    request = token_request_refresh(
        auth,
        client_id=client.client_id,
        client_secret=client.client_secret,
        refresh_token=refresh_token,
    )
    return await tokens(transport, request, previous_refresh_token=refresh_token)


async def call_api(provider: OidcProvider, transport: Transport, access_token: str) -> Any:
    """A "method call": the bearer-protected resource; None when it answers 401."""
    answer = await send(transport, get(provider.resource_url, access_token))
    if answer.status == 401:
        challenge = next(v for k, v in answer.headers.items() if k.lower() == "www-authenticate")
        assert "invalid_token" in challenge
        return None
    assert answer.status == 200, answer.body
    return json.loads(answer.body)


async def test_F10_metadata_at_the_rfc8414_path_names_the_issuer(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    answer = await send(transport, get(oidc_provider.metadata_url))
    assert answer.status == 200
    metadata = json.loads(answer.body)
    assert metadata["issuer"] == oidc_provider.issuer
    assert metadata["authorization_endpoint"] == oidc_provider.authorization_endpoint
    assert metadata["token_endpoint"] == oidc_provider.token_endpoint
    assert metadata["revocation_endpoint"] == oidc_provider.revocation_endpoint
    assert metadata["pushed_authorization_request_endpoint"] == oidc_provider.par_endpoint
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert "require_pushed_authorization_requests" not in metadata
    assert set(METHODS) <= set(metadata["token_endpoint_auth_methods_supported"])
    # The OpenID Connect location serves the same document.
    oidc = await send(transport, get(oidc_provider.openid_configuration_url))
    assert json.loads(oidc.body) == metadata


@pytest.mark.parametrize("method", METHODS)
async def test_F04_C04_code_flow_with_pkce_state_and_iss_then_a_method_call(
    oidc_provider: OidcProvider, transport: Transport, method: AuthMethod
) -> None:
    client = oidc_provider.client_for(method)
    before = datetime.now(UTC)
    _, token_set = await code_flow(oidc_provider, transport, client)

    assert token_set.token_type.lower() == "bearer"
    assert token_set.refresh_token
    assert token_set.scope is not None
    assert set(token_set.scope.split()) == {"openid", "profile"}
    assert token_set.expires_at is not None
    lifetime = token_set.expires_at - before
    assert timedelta(seconds=55) <= lifetime <= timedelta(seconds=65)
    assert "id_token" in token_set.raw  # unknown members kept (T-05)

    me = await call_api(oidc_provider, transport, token_set.access_token)
    assert me == {
        "sub": "interop-user",
        "client_id": client.client_id,
        "scope": "openid profile",
        "kind": "AccessToken",
    }
    userinfo = await send(transport, get(oidc_provider.userinfo_endpoint, token_set.access_token))
    assert userinfo.status == 200
    assert json.loads(userinfo.body) == {"sub": "interop-user", "name": "Interop User"}


async def test_F04_a_wrong_code_verifier_is_invalid_grant(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    client = oidc_provider.client
    auth = oidc_provider.oauth2_auth()
    verifier = pkce.new_verifier()
    url = authorization_url(
        auth,
        client_id=client.client_id,
        redirect_uri=client.redirect_uri,
        state="st",
        code_challenge=pkce.challenge_s256(verifier),
    )
    code = callback_params(oidc_provider.simulate_browser(url))["code"]
    exchange = token_request_authorization_code(
        auth,
        client_id=client.client_id,
        client_secret=client.client_secret,
        code=code,
        redirect_uri=client.redirect_uri,
        code_verifier=pkce.new_verifier(),
    )
    with pytest.raises(OAuthError) as caught:
        await tokens(transport, exchange)
    assert (caught.value.error, caught.value.failure) == ("invalid_grant", Failure.PERMANENT)


async def test_F04_the_server_refuses_an_authorization_request_without_pkce(
    oidc_provider: OidcProvider,
) -> None:
    auth = oidc_provider.oauth2_auth(Pkce="none")
    client = oidc_provider.client
    url = authorization_url(
        auth,
        client_id=client.client_id,
        redirect_uri=client.redirect_uri,
        state="st",
        code_challenge=None,
    )
    answer = callback_params(oidc_provider.simulate_browser(url))
    assert answer["error"] == "invalid_request"
    assert answer["iss"] == oidc_provider.issuer


async def test_T06_a_wrong_client_secret_is_a_config_error(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    client = oidc_provider.client
    request = token_request_refresh(
        oidc_provider.oauth2_auth(),
        client_id=client.client_id,
        client_secret="not-the-secret",
        refresh_token="whatever",
    )
    with pytest.raises(OAuthError) as caught:
        await tokens(transport, request)
    assert (caught.value.error, caught.value.failure) == ("invalid_client", Failure.CONFIG)


@pytest.mark.parametrize("method", METHODS)
async def test_RT02_every_refresh_rotates_the_refresh_token(
    oidc_provider: OidcProvider, transport: Transport, method: AuthMethod
) -> None:
    client = oidc_provider.client_for(method)
    auth, current = await code_flow(oidc_provider, transport, client)
    seen_refresh, seen_access = {current.refresh_token}, {current.access_token}
    for _ in range(3):
        assert current.refresh_token is not None
        current = await refresh(transport, auth, client, current.refresh_token)
        assert current.refresh_token not in seen_refresh  # a new one every time
        assert current.access_token not in seen_access
        seen_refresh.add(current.refresh_token)
        seen_access.add(current.access_token)
        assert (await call_api(oidc_provider, transport, current.access_token))["sub"]
    assert current.scope is not None
    assert set(current.scope.split()) == {"openid", "profile"}


async def test_RT01_a_refresh_may_narrow_the_scope(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    client = oidc_provider.client
    auth, first = await code_flow(oidc_provider, transport, client)
    assert first.refresh_token is not None
    request = token_request_refresh(
        auth,
        client_id=client.client_id,
        client_secret=client.client_secret,
        refresh_token=first.refresh_token,
        scopes=["openid"],
        granted_scope=first.scope,
    )
    narrowed = await tokens(transport, request, previous_refresh_token=first.refresh_token)
    assert narrowed.scope == "openid"
    assert (await call_api(oidc_provider, transport, narrowed.access_token))["scope"] == "openid"


async def test_RT03_reusing_a_rotated_refresh_token_revokes_the_whole_grant(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    """Strict rotation: what R-01's single flight must never trigger."""
    client = oidc_provider.client
    auth, first = await code_flow(oidc_provider, transport, client)
    assert first.refresh_token is not None
    second = await refresh(transport, auth, client, first.refresh_token)
    assert second.refresh_token is not None
    assert await call_api(oidc_provider, transport, second.access_token) is not None

    with pytest.raises(OAuthError) as reused:
        await refresh(transport, auth, client, first.refresh_token)
    assert (reused.value.error, reused.value.failure) == ("invalid_grant", Failure.PERMANENT)

    # The newest refresh token and access token went with the grant.
    with pytest.raises(OAuthError) as newest:
        await refresh(transport, auth, client, second.refresh_token)
    assert (newest.value.error, newest.value.failure) == ("invalid_grant", Failure.PERMANENT)
    assert await call_api(oidc_provider, transport, second.access_token) is None


async def test_revoking_the_access_token_revokes_every_token_of_the_grant(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    """oidc-provider 9 revokes the grant's tokens (the refresh token too) with its access token."""
    client = oidc_provider.post_client
    auth, first = await code_flow(oidc_provider, transport, client)
    params = [("token", first.access_token), ("token_type_hint", "access_token")]
    answer = await send(transport, form_post(oidc_provider.revocation_endpoint, client, params))
    assert answer.status == 200  # RFC 7009 §2.2
    assert await call_api(oidc_provider, transport, first.access_token) is None

    assert first.refresh_token is not None
    with pytest.raises(OAuthError) as caught:
        await refresh(transport, auth, client, first.refresh_token)
    assert (caught.value.error, caught.value.failure) == ("invalid_grant", Failure.PERMANENT)


async def test_revoking_the_refresh_token_ends_the_grant(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    client = oidc_provider.client
    auth, first = await code_flow(oidc_provider, transport, client)
    assert first.refresh_token is not None
    params = [("token", first.refresh_token), ("token_type_hint", "refresh_token")]
    answer = await send(transport, form_post(oidc_provider.revocation_endpoint, client, params))
    assert answer.status == 200

    with pytest.raises(OAuthError) as caught:
        await refresh(transport, auth, client, first.refresh_token)
    assert caught.value.error == "invalid_grant"
    assert await call_api(oidc_provider, transport, first.access_token) is None
    # Revoking an unknown or already revoked token is still 200 (RFC 7009 §2.2).
    again = await send(transport, form_post(oidc_provider.revocation_endpoint, client, params))
    assert again.status == 200


async def test_client_credentials_token_calls_the_resource(
    oidc_provider: OidcProvider, transport: Transport
) -> None:
    client = oidc_provider.post_client
    auth = oidc_provider.oauth2_auth(client, OAuth2Type="ClientCredentials", Scopes=[])
    request = token_request_client_credentials(
        auth, client_id=client.client_id, client_secret=client.client_secret
    )
    token_set = await tokens(transport, request)
    assert token_set.refresh_token is None
    me = await call_api(oidc_provider, transport, token_set.access_token)
    assert me["sub"] is None
    assert (me["client_id"], me["kind"]) == (client.client_id, "ClientCredentials")


async def test_F09_pushed_authorization_request_when_the_server_requires_it(
    transport: Transport,
) -> None:
    with start_oidc_provider(require_par=True) as provider:
        metadata = json.loads((await send(transport, get(provider.metadata_url))).body)
        assert metadata["require_pushed_authorization_requests"] is True
        client = provider.client
        auth = provider.oauth2_auth()
        verifier = pkce.new_verifier()
        url = authorization_url(
            auth,
            client_id=client.client_id,
            redirect_uri=client.redirect_uri,
            state="st-par",
            code_challenge=pkce.challenge_s256(verifier),
        )
        # Without PAR the server refuses the request (an error redirect to the client).
        refused = callback_params(provider.simulate_browser(url))
        assert (refused["error"], refused["state"]) == ("invalid_request", "st-par")
        assert "code" not in refused

        # RFC 9126 §2.1: the same parameters, pushed with client authentication.
        params = parse_qsl(urlsplit(url).query)
        pushed = await send(transport, form_post(provider.par_endpoint, client, params))
        assert pushed.status == 201  # §2.2
        answer = json.loads(pushed.body)
        assert answer["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
        assert answer["expires_in"] > 0
        short = f"{provider.authorization_endpoint}?" + urlencode(
            {"client_id": client.client_id, "request_uri": answer["request_uri"]}
        )
        callback = callback_params(provider.simulate_browser(short))
        assert (callback["state"], callback["iss"]) == ("st-par", provider.issuer)
        exchange = token_request_authorization_code(
            auth,
            client_id=client.client_id,
            client_secret=client.client_secret,
            code=callback["code"],
            redirect_uri=client.redirect_uri,
            code_verifier=verifier,
        )
        assert (await tokens(transport, exchange)).refresh_token


async def test_an_unknown_client_gets_an_error_page_and_no_redirect(
    oidc_provider: OidcProvider,
) -> None:
    """RFC 6749 §4.1.2.1: with an unverifiable client the server must not redirect."""
    client = oidc_provider.client
    url = authorization_url(
        oidc_provider.oauth2_auth(),
        client_id="no-such-client",
        redirect_uri=client.redirect_uri,
        state="st",
        code_challenge=pkce.challenge_s256(pkce.new_verifier()),
    )
    with pytest.raises(BrowserError, match=r"HTTP 400 .*invalid_client"):
        oidc_provider.simulate_browser(url)
