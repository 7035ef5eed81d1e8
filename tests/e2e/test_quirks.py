"""Every provider behaviour of QUIRKS.md, one test each: the provider double behaves that way and
a connector definition's knob handles it. Real sockets, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
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
from webflow_support import query_of, signin_token, start

from tokenward.clock import FakeClock
from tokenward.runtime import Runtime
from tokenward.services import revocation
from tokenward.testing import Failure, ProviderBehaviour, ProviderDouble


@pytest.fixture
def behaviour() -> ProviderBehaviour:
    return ProviderBehaviour()


@pytest.fixture
def provider(behaviour: ProviderBehaviour, clock: FakeClock) -> Iterator[ProviderDouble]:
    yield from double(behaviour, clock)


@pytest.fixture
def connector(client: TestClient, auth: dict[str, str], acct: dict[str, str]) -> Connector:
    return Connector(client, auth, acct)


def _authorize_query(client: TestClient, auth: dict[str, str], ac_id: int) -> dict[str, str]:
    started = start(client, ac_id, signin_token(client, auth))
    assert started.status_code == 303, started.text
    return query_of(started.headers["location"])


def test_quirk_ScopeSeparator_comma_unencoded(
    client: TestClient, auth: dict[str, str], connector: Connector, provider: ProviderDouble
) -> None:
    """Scopes joined with a literal comma (not %2C) and the flow still completes."""
    ac_id = connector.install(
        provider, Scopes=["a.read", "b:write"], ScopeSeparator="comma", ScopeEncoding="unencoded"
    )
    flow = connect(client, auth, ac_id)
    assert "scope=a.read,b:write&" in flow.authorize_url
    assert outcome(flow) == "connected!"


def test_quirk_AuthoriseParams_TokenParams_RefreshParams(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    clock: FakeClock,
) -> None:
    """Extra parameters reach the authorization request, the code exchange and the refresh."""
    ac_id = connector.install(
        provider,
        AuthoriseParams={"access_type": "offline", "prompt": "consent"},
        TokenParams={"audience": "api.example"},
        RefreshParams={"expiring": "1"},
    )
    flow = connect(client, auth, ac_id)
    assert query_of(flow.authorize_url)["access_type"] == "offline"
    assert outcome(flow) == "connected!"
    clock.advance(3600)
    assert token(client, acct, ac_id).status_code == 200
    exchange, refresh = provider.requests_to("/token")
    assert exchange.form["audience"] == "api.example"
    assert (refresh.form["grant_type"], refresh.form["expiring"]) == ("refresh_token", "1")


def test_quirk_ClientAuthMethod_and_TokenBodyFormat_basic_with_json(
    client: TestClient, auth: dict[str, str], connector: Connector, provider: ProviderDouble
) -> None:
    """Basic client authentication and a JSON body, independently chosen, in one request."""
    ac_id = connector.install(
        provider, ClientAuthMethod="client_secret_basic", TokenBodyFormat="json"
    )
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    (exchange,) = provider.requests_to("/token")
    assert exchange.headers["authorization"].startswith("Basic ")
    assert exchange.headers["content-type"] == "application/json"
    assert exchange.json["grant_type"] == "authorization_code"


def test_quirk_Pkce_none(
    client: TestClient, auth: dict[str, str], connector: Connector, provider: ProviderDouble
) -> None:
    """``Pkce: none`` sends no challenge and no verifier; S256 is the default."""
    ac_id = connector.install(provider, Pkce="none")
    flow = connect(client, auth, ac_id)
    assert "code_challenge" not in query_of(flow.authorize_url)
    assert outcome(flow) == "connected!"
    assert "code_verifier" not in provider.requests_to("/token")[0].form


def test_quirk_CodeParam(
    client: TestClient,
    auth: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
) -> None:
    """The provider names the code ``spapi_oauth_code``; the connector says so and connects."""
    behaviour.code_param = "spapi_oauth_code"
    plain = connector.install(provider)
    assert outcome(connect(client, auth, plain)) == "invalid_callback"
    ac_id = connector.install(provider, CodeParam="spapi_oauth_code")
    assert outcome(connect(client, auth, ac_id)) == "connected!"


def test_quirk_AuthoriseUrlRenames(
    client: TestClient, auth: dict[str, str], connector: Connector, provider: ProviderDouble
) -> None:
    """Standard authorization-request names are renamed (``client_key``, ``redirectUri``)."""
    ac_id = connector.install(
        provider, AuthoriseUrlRenames={"client_id": "client_key", "redirect_uri": "redirectUri"}
    )
    query = _authorize_query(client, auth, ac_id)
    assert query["client_key"] == provider.client.client_id
    assert query["redirectUri"].endswith("/connector/callback")
    assert "client_id" not in query
    assert "redirect_uri" not in query


def test_quirk_CallbackMetadata_kept_as_property_and_merge_field(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
) -> None:
    """``realmId`` from the callback becomes a visible property and fills ``{{realmId}}``."""
    behaviour.callback_extras = {"realmId": "4620816365"}
    ac_id = connector.install(
        provider,
        parameters=[{"Name": "realmId", "IsOptional": True, "Pattern": "^[0-9]{1,20}$"}],
        base_url=f"{provider.url}/api/echo/{{{{realmId}}}}",
        CallbackMetadata=["realmId"],
    )
    before = call(connector, ac_id)
    assert before.status_code == 409
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    assert properties(client, acct, ac_id)["realmId"] == "4620816365"
    called = call(connector, ac_id)
    assert called.status_code == 200, called.text
    assert called.json()["path"] == "/api/echo/4620816365/api/echo/x"


def test_quirk_TokenMetadata_kept_with_dotted_paths(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
) -> None:
    """Token-response members (``workspace_id``, ``team.id``) become properties."""
    behaviour.extra_token_fields = {"workspace_id": "ws-42", "team": {"id": "T123"}}
    pattern = "^[A-Za-z0-9-]{1,40}$"
    ac_id = connector.install(
        provider,
        parameters=[
            {"Name": "workspace_id", "IsOptional": True, "Pattern": pattern},
            {"Name": "team_id", "IsOptional": True, "Pattern": pattern},
        ],
        base_url=f"{provider.url}/api/echo/{{{{workspace_id}}}}",
        TokenMetadata=["workspace_id", "team.id"],
    )
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    assert properties(client, acct, ac_id) == {"workspace_id": "ws-42", "team_id": "T123"}
    called = call(connector, ac_id)
    assert called.json()["path"] == "/api/echo/ws-42/api/echo/x"


def test_quirk_TokenMetadata_value_outside_its_pattern_fails_the_connect(
    runtime: object,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
) -> None:
    """P-01: a provider value that would move a URL (``../``, ``@host``) is refused: the
    connect fails with provider_error and neither property nor credential is stored."""
    behaviour.extra_token_fields = {"workspace_id": "x@evil.example/"}
    ac_id = connector.install(
        provider,
        parameters=[{"Name": "workspace_id", "IsOptional": True, "Pattern": "^[a-z0-9-]{1,40}$"}],
        base_url=f"{provider.url}/api/echo/{{{{workspace_id}}}}",
        TokenMetadata=["workspace_id"],
    )
    assert outcome(connect(client, auth, ac_id)) == "provider_error"
    assert properties(client, acct, ac_id) == {}
    assert stored(runtime, ac_id) is None  # type: ignore[arg-type]


def test_quirk_AccessTokenPath_nested_token(
    runtime: object,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    clock: FakeClock,
) -> None:
    """The token sits under ``authed_user``; its refresh token and expiry are read beside it."""
    behaviour.token_nesting = "authed_user"
    ac_id = connector.install(provider, AccessTokenPath="authed_user.access_token")
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    doc = document(runtime, ac_id)  # type: ignore[arg-type]
    assert doc.access_token is not None
    assert doc.refresh_token is not None
    assert doc.expires_utc == clock.now() + timedelta(hours=1)
    clock.advance(3600)
    fresh = token(client, acct, ac_id)
    assert fresh.status_code == 200, fresh.text
    assert provider.refresh_count == 1


def test_quirk_ExpiresInUnit_milliseconds(
    runtime: object,
    client: TestClient,
    auth: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    clock: FakeClock,
) -> None:
    """``expires_in`` of 3600000 (ms) is one hour, not 41 days (nor refused as out of range)."""
    behaviour.expires_in_scale = 1000
    ac_id = connector.install(provider, ExpiresInUnit="milliseconds")
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    assert document(runtime, ac_id).expires_utc == clock.now() + timedelta(hours=1)  # type: ignore[arg-type]


def test_quirk_DefaultExpiresIn_when_expires_in_is_missing(
    runtime: object,
    client: TestClient,
    auth: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    clock: FakeClock,
) -> None:
    """No ``expires_in``: the connector's default lifetime is used."""
    behaviour.omit_expires_in = True
    ac_id = connector.install(provider, DefaultExpiresIn=900)
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    assert document(runtime, ac_id).expires_utc == clock.now() + timedelta(seconds=900)  # type: ignore[arg-type]


def test_quirk_RefreshTokenUrl(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    clock: FakeClock,
) -> None:
    """Refreshes go to ``RefreshTokenUrl``; the double refuses them at the token endpoint."""
    behaviour.refresh_path = "/refresh"
    ac_id = connector.install(provider, RefreshTokenUrl=f"{provider.url}/refresh")
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    clock.advance(3600)
    assert token(client, acct, ac_id).status_code == 200
    assert [r.form["grant_type"] for r in provider.requests_to("/refresh")] == ["refresh_token"]


def test_quirk_RefreshMargin_schedules_no_earlier_than_the_provider_allows(
    runtime: object,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    clock: FakeClock,
) -> None:
    """Ten-minute tokens that may be refreshed only in their last 30 seconds: the background
    refresh is due exactly 30 s before expiry (the default margin would be 5 minutes, which
    the double refuses), and a refresh then succeeds."""
    behaviour.token_lifetime_seconds = 600
    behaviour.min_refresh_interval_seconds = 570
    ac_id = connector.install(provider, RefreshMargin=30)
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    cred = stored(runtime, ac_id)  # type: ignore[arg-type]
    assert cred.next_refresh_utc == clock.now() + timedelta(seconds=570)
    clock.advance(575)
    assert token(client, acct, ac_id).status_code == 200
    assert provider.refresh_count == 1


def test_quirk_RefreshExpiresInField(
    runtime: object,
    client: TestClient,
    auth: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    clock: FakeClock,
) -> None:
    """``x_refresh_token_expires_in`` is kept as the refresh token's expiry and scheduled
    against (a refresh token used before it lapses)."""
    behaviour.refresh_token_lifetime_seconds = 8_640_000
    behaviour.refresh_expires_field = "x_refresh_token_expires_in"
    ac_id = connector.install(provider, RefreshExpiresInField="x_refresh_token_expires_in")
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    expected = clock.now() + timedelta(days=100)
    assert document(runtime, ac_id).refresh_expires_utc == expected  # type: ignore[arg-type]
    assert stored(runtime, ac_id).refresh_expires_utc == expected  # type: ignore[arg-type]


def test_quirk_NoRefresh_needs_reauth_at_expiry(
    runtime: object,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    clock: FakeClock,
) -> None:
    """A refresh token is never used with ``NoRefresh``: an expired token means needs_reauth."""
    ac_id = connector.install(provider, NoRefresh=True)
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    assert token(client, acct, ac_id).status_code == 200
    clock.advance(3600)
    refused = token(client, acct, ac_id)
    assert refused.status_code == 409
    assert provider.refresh_attempts == 0
    assert stored(runtime, ac_id).state.value == "needs_reauth"  # type: ignore[arg-type]


def test_quirk_ReauthOnExpiry_is_looked_at_when_the_token_expires(
    runtime: object,
    client: TestClient,
    auth: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    clock: FakeClock,
) -> None:
    """With ``ReauthOnExpiry`` an unrenewable credential is due for the background refresher
    at its expiry (to report needs_reauth then), not never."""
    ac_id = connector.install(provider, NoRefresh=True, ReauthOnExpiry=True)
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    assert stored(runtime, ac_id).next_refresh_utc == clock.now() + timedelta(hours=1)  # type: ignore[arg-type]


def test_quirk_merge_fields_in_urls_validated_by_pattern(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
) -> None:
    """``{{Shop}}`` in the authorization and token URLs: a value outside the Pattern is
    refused (no host or path injection, P-01); a valid one is used."""
    shop = {"Name": "Shop", "Pattern": "^[a-z0-9-]{1,63}$"}
    ac_id = connector.install(
        provider,
        parameters=[shop],
        properties={"Shop": "acme"},
        AuthoriseUrl=f"{provider.url}/authorize?shop={{{{Shop}}}}",
        AccessTokenUrl=f"{provider.url}/token?shop={{{{Shop}}}}",
    )
    assert _authorize_query(client, auth, ac_id)["shop"] == "acme"
    bad = client.post(
        f"/v1.0/account/connectors/{ac_id}/properties",
        json={"Name": "Shop", "Value": "evil.example/x"},
        headers=acct,
    )
    assert bad.status_code == 400


def test_quirk_AuthScheme_and_AuthFormat(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
) -> None:
    """The token travels in a custom header with a custom template."""
    ac_id = connector.install(provider, AuthScheme="X-Access-Token", AuthFormat="{token}")
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    echoed = call(connector, ac_id).json()
    assert "authorization" not in echoed["headers"]
    assert echoed["headers"]["x-access-token"]
    assert not echoed["headers"]["x-access-token"].startswith("Bearer")


def test_quirk_ErrorInBody_200_carrying_invalid_grant(
    runtime: object,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    clock: FakeClock,
) -> None:
    """A refresh answered ``200 {"error": "invalid_grant"}`` is a refusal: needs_reauth."""
    ac_id = connector.install(provider)
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    clock.advance(3600)
    provider.fail_next(Failure.oauth_error("invalid_grant", status=200))
    assert token(client, acct, ac_id).status_code == 409
    assert stored(runtime, ac_id).state.value == "needs_reauth"  # type: ignore[arg-type]


def test_quirk_ErrorInBody_rule_reclassifies_an_error(
    runtime: object,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    clock: FakeClock,
) -> None:
    """A rule says a 200 or 401 carrying ``rate_limited`` is temporary: the credential stays
    usable and is retried, instead of being sent to re-authorisation."""
    rule = {"Status": [200, 401], "ErrorField": "error", "Values": ["rate_limited"]}
    ac_id = connector.install(provider, ErrorInBody=[{**rule, "Outcome": "temporary"}])
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    clock.advance(3600)
    provider.fail_next(*[Failure.oauth_error("rate_limited", status=401)] * 5)
    assert token(client, acct, ac_id).status_code == 503
    assert stored(runtime, ac_id).state.value != "needs_reauth"  # type: ignore[arg-type]


def test_quirk_RevokeUrl_on_deauthenticate(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
) -> None:
    """De-authenticating revokes the tokens at ``RevokeUrl`` (RFC 7009)."""
    ac_id = connector.install(provider, RevokeUrl=f"{provider.url}/revoke")
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    done = client.put(f"/v1.0/account/connectors/{ac_id}/deauthenticate", headers=acct)
    assert done.status_code == 200, done.text
    assert client.portal is not None
    assert client.portal.call(revocation.process_due, runtime.ctx, "worker-1") == ["revoked"]
    hints = [r.form.get("token_type_hint") for r in provider.requests_to("/revoke")]
    assert "refresh_token" in hints


def test_quirk_Issuer_metadata_and_iss_check(
    client: TestClient,
    auth: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
) -> None:
    """``Issuer`` enables RFC 8414 metadata and the RFC 9207 ``iss`` check: a callback from
    another issuer is refused."""
    behaviour.send_iss = True
    ac_id = connector.install(provider, Issuer=provider.url)
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    behaviour.issuer_override = "https://mix-up.example"
    again = connector.install(provider, Issuer=provider.url)
    started = start(client, again, signin_token(client, auth))
    location = started.headers.get("location", "")
    assert not location.startswith(f"{provider.url}/authorize")  # F-10: metadata refused


def test_generic_refresh_without_refresh_token_keeps_the_previous_one(
    runtime: object,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    clock: FakeClock,
) -> None:
    """RT-02: a refresh answer without ``refresh_token`` keeps the one we had."""
    behaviour.rotate_refresh_tokens = False
    ac_id = connector.install(provider)
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    first = document(runtime, ac_id).refresh_token  # type: ignore[arg-type]
    clock.advance(3600)
    assert token(client, acct, ac_id).status_code == 200
    assert document(runtime, ac_id).refresh_token == first  # type: ignore[arg-type]


def test_generic_callback_error_reaches_the_page(
    client: TestClient,
    auth: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
) -> None:
    """The provider's ``error`` on the callback reaches the partner's page as access_denied."""
    behaviour.deny_authorization = True
    ac_id = connector.install(provider)
    assert outcome(connect(client, auth, ac_id)) == "access_denied"


def test_generic_missing_expires_in_is_never_valid_forever(
    runtime: object,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    clock: FakeClock,
) -> None:
    """No ``expires_in`` and no default: the expiry is unknown (not forever), and the
    provider's 401 on a call makes tokenward refresh once and retry."""
    behaviour.omit_expires_in = True
    ac_id = connector.install(
        provider, methods=[{"Name": "Echo", "HttpMethod": "GET", "EndPoint": "/api/me"}]
    )
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    assert document(runtime, ac_id).expires_utc is None  # type: ignore[arg-type]
    clock.advance(7200)  # the double's token has expired
    called = call(connector, ac_id)
    assert called.status_code == 200, called.text
    assert provider.refresh_count == 1


def test_generic_invalid_grant_is_reported_as_needs_reauth(
    runtime: object,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    connector: Connector,
    provider: ProviderDouble,
    clock: FakeClock,
) -> None:
    """A refresh token lost at the provider (testing-mode apps, token-pair limits) ends as
    needs_reauth with the provider's code, reported in the AuthError."""
    ac_id = connector.install(provider)
    assert outcome(connect(client, auth, ac_id)) == "connected!"
    clock.advance(3600)
    provider.fail_next(Failure.invalid_grant())
    assert token(client, acct, ac_id).status_code == 409
    cred = stored(runtime, ac_id)  # type: ignore[arg-type]
    assert (cred.state.value, cred.error_code) == ("needs_reauth", "invalid_grant")
