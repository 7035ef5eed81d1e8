"""The provider double's authorization side over real sockets: authorization requests, the code
exchange with PKCE, strict client authentication, PAR and the metadata document."""

from __future__ import annotations

from dataclasses import replace

import httpx
from oauth_calls import authorize, basic, code_tokens, exchange, pkce_pair, redirect_params

from tokenward.testing import (
    ProviderBehaviour,
    ProviderDouble,
    RegisteredClient,
    provider_fixture,
)

provider = provider_fixture()
PAR = ProviderBehaviour(enable_par=True, require_pkce=True)


def test_f04_code_flow_with_pkce_right_verifier_gets_tokens(provider: ProviderDouble) -> None:
    """The full code flow with an S256 challenge and its verifier yields bearer tokens, and the
    stored challenge is the one sent."""
    tokens = code_tokens(provider)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert {"access_token", "refresh_token"} <= tokens.keys()
    assert tokens["scope"] == "read write"


def test_f04_wrong_verifier_is_invalid_grant(provider: ProviderDouble) -> None:
    """The double recomputes S256 from the verifier: a wrong or missing one is invalid_grant."""
    _, challenge = pkce_pair()
    code = redirect_params(
        authorize(provider, code_challenge=challenge, code_challenge_method="S256")
    )
    wrong = exchange(provider, code["code"], code_verifier=pkce_pair()[0])
    missing = exchange(provider, code["code"])
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_grant")


def test_f04_verifier_without_challenge_is_refused(provider: ProviderDouble) -> None:
    """A verifier sent for a code issued without a challenge is refused (PKCE downgrade)."""
    code = redirect_params(authorize(provider))["code"]
    response = exchange(provider, code, code_verifier=pkce_pair()[0])
    assert response.json()["error"] == "invalid_grant"


def test_f04_required_pkce_and_plain_method_are_refused_by_redirect() -> None:
    """With PKCE required, no challenge or method=plain redirect back with invalid_request."""
    with ProviderDouble(ProviderBehaviour(require_pkce=True)) as double:
        missing = redirect_params(authorize(double))
        plain = redirect_params(
            authorize(double, code_challenge="x" * 43, code_challenge_method="plain")
        )
    assert missing["error"] == plain["error"] == "invalid_request"
    assert missing["state"] == "st-1"
    assert "code" not in missing


def test_t02_code_reuse_is_invalid_grant_and_revokes_its_tokens(provider: ProviderDouble) -> None:
    """A code works once; the replay is invalid_grant and kills the tokens it had issued."""
    code = redirect_params(authorize(provider))["code"]
    first = exchange(provider, code).json()
    replay = exchange(provider, code)
    me = httpx.get(
        f"{provider.url}/api/me", headers={"Authorization": f"Bearer {first['access_token']}"}
    )
    assert replay.json()["error"] == "invalid_grant"
    assert me.status_code == 401


def test_t02_redirect_uri_must_be_identical_at_the_token_endpoint(provider: ProviderDouble) -> None:
    """A redirect_uri differing from the authorization request's is invalid_grant."""
    code = redirect_params(authorize(provider))["code"]
    response = exchange(provider, code, redirect_uri=provider.client.redirect_uri + "/")
    assert response.json()["error"] == "invalid_grant"


def test_authorize_never_redirects_to_an_unregistered_uri(provider: ProviderDouble) -> None:
    """An unregistered redirect_uri or unknown client gets a 400 page, not a redirect."""
    wrong_uri = authorize(provider, redirect_uri="http://127.0.0.1/evil")
    unknown = authorize(provider, client_id="nobody")
    assert wrong_uri.status_code == unknown.status_code == 400
    assert "location" not in wrong_uri.headers


def test_c04_iss_sent_and_advertised_when_configured() -> None:
    """With send_iss the redirect carries iss = issuer and the metadata advertises it."""
    with ProviderDouble(ProviderBehaviour(send_iss=True)) as double:
        answer = redirect_params(authorize(double))
        meta = httpx.get(f"{double.url}/.well-known/oauth-authorization-server").json()
    assert answer["iss"] == double.url == meta["issuer"]
    assert meta["authorization_response_iss_parameter_supported"] is True


def test_authorize_denied_switch_and_unsupported_response_type(provider: ProviderDouble) -> None:
    """deny_authorization answers access_denied; response_type=token is refused; state kept."""
    bad_type = redirect_params(authorize(provider, response_type="token"))
    provider.behaviour.deny_authorization = True
    denied = redirect_params(authorize(provider))
    assert (denied["error"], denied["state"]) == ("access_denied", "st-1")
    assert bad_type["error"] == "unsupported_response_type"


def test_t01_basic_secret_with_colon_plus_percent_space_is_decoded_strictly(
    provider: ProviderDouble,
) -> None:
    """A secret with ':' '+' '%' and space authenticates when form-encoded and is refused raw."""
    assert all(ch in provider.client.client_secret for ch in ":+% ")
    form = {"grant_type": "client_credentials"}
    url = f"{provider.url}/token"
    good = httpx.post(url, data=form, auth=basic(provider.client))
    raw = httpx.post(
        url, data=form, auth=(provider.client.client_id, provider.client.client_secret)
    )
    assert good.status_code == 200
    assert (raw.status_code, raw.json()["error"]) == (401, "invalid_client")
    assert raw.headers["www-authenticate"].startswith("Basic")


def test_t01_client_secret_post_only_when_registered(provider: ProviderDouble) -> None:
    """A Basic-registered client using client_secret_post, two methods at once, or a secret in
    the query string is refused."""
    client, url = provider.client, f"{provider.url}/token"
    creds = {"client_id": client.client_id, "client_secret": client.client_secret}
    post = httpx.post(url, data={"grant_type": "client_credentials", **creds})
    both = httpx.post(url, data={"grant_type": "client_credentials", **creds}, auth=basic(client))
    query = httpx.post(
        url, params=creds, data={"grant_type": "client_credentials"}, auth=basic(client)
    )
    assert post.json()["error"] == "invalid_client"
    assert both.json()["error"] == query.json()["error"] == "invalid_request"


def test_t01_client_secret_post_client_and_json_bodies() -> None:
    """A client registered for client_secret_post authenticates in the body, form or JSON."""
    client = RegisteredClient(client_id="poster", auth_method="client_secret_post")
    body = {
        "grant_type": "client_credentials",
        "client_id": "poster",
        "client_secret": client.client_secret,
    }
    with ProviderDouble(clients=[client]) as double:
        form = httpx.post(f"{double.url}/token", data=body)
        as_json = httpx.post(f"{double.url}/token", json=body)
        recorded = double.requests
    assert form.status_code == as_json.status_code == 200
    assert recorded[1].json == body
    assert recorded[0].form == body


def test_password_grant_and_unsupported_grant_type(provider: ProviderDouble) -> None:
    """The password grant checks the user; an unknown grant_type is unsupported_grant_type."""
    url, auth = f"{provider.url}/token", basic(provider.client)
    good = httpx.post(
        url,
        data={"grant_type": "password", "username": "alice", "password": "wonderland"},
        auth=auth,
    )
    bad = httpx.post(
        url, data={"grant_type": "password", "username": "alice", "password": "x"}, auth=auth
    )
    other = httpx.post(url, data={"grant_type": "urn:x"}, auth=auth)
    assert "refresh_token" in good.json()
    assert bad.json()["error"] == "invalid_grant"
    assert other.json()["error"] == "unsupported_grant_type"


def test_f10_metadata_document_and_issuer_override() -> None:
    """The RFC 8414 document lists the endpoints and S256; issuer_override changes the issuer."""
    with ProviderDouble(replace(PAR, issuer_override="https://elsewhere.example")) as double:
        meta = httpx.get(f"{double.url}/.well-known/oauth-authorization-server").json()
    assert meta["issuer"] == "https://elsewhere.example"
    assert meta["token_endpoint"] == f"{double.url}/token"
    assert meta["revocation_endpoint"] == f"{double.url}/revoke"
    assert meta["pushed_authorization_request_endpoint"] == f"{double.url}/par"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is False


def test_f09_par_returns_201_and_request_uri_works_once() -> None:
    """PAR answers 201 with request_uri; authorize with only client_id + request_uri redirects
    with a code that exchanges; the request_uri is single use."""
    verifier, challenge = pkce_pair()
    with ProviderDouble(PAR) as double:
        client = double.client
        pushed = httpx.post(
            f"{double.url}/par",
            data={
                "response_type": "code",
                "redirect_uri": client.redirect_uri,
                "state": "p",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            auth=basic(client),
        )
        only = {"client_id": client.client_id, "request_uri": pushed.json()["request_uri"]}
        first = httpx.get(f"{double.url}/authorize", params=only)
        again = httpx.get(f"{double.url}/authorize", params=only)
        tokens = exchange(double, redirect_params(first)["code"], code_verifier=verifier)
    assert (pushed.status_code, pushed.json()["expires_in"]) == (201, 60)
    assert redirect_params(first)["state"] == "p"
    assert tokens.status_code == 200
    assert (again.status_code, again.json()["error"]) == (400, "invalid_request_uri")


def test_f09_par_required_refuses_plain_requests_and_disabled_par_is_404(
    provider: ProviderDouble,
) -> None:
    """require_par refuses an authorization request without request_uri; PAR off → 404."""
    off = httpx.post(f"{provider.url}/par", data={}, auth=basic(provider.client))
    with ProviderDouble(ProviderBehaviour(require_par=True)) as double:
        plain = authorize(double)
        meta = httpx.get(f"{double.url}/.well-known/oauth-authorization-server").json()
    assert off.status_code == 404
    assert plain.status_code == 400
    assert meta["require_pushed_authorization_requests"] is True


def test_every_request_is_recorded(provider: ProviderDouble) -> None:
    """Method, path, query, lower-cased headers, form body and a monotonic time are recorded."""
    code = redirect_params(authorize(provider))["code"]
    exchange(provider, code)
    get, post = provider.requests
    assert (get.method, get.path, get.query["state"], get.form) == ("GET", "/authorize", "st-1", {})
    assert (post.method, post.path, post.form["code"], post.json) == ("POST", "/token", code, None)
    assert post.headers["authorization"].startswith("Basic ")
    assert get.at <= post.at
    assert provider.requests_to("/token") == [post]


def test_repeated_parameter_or_non_object_json_is_invalid_request(provider: ProviderDouble) -> None:
    """RFC 6749 §3.2: a parameter sent twice, or a JSON body that is not an object, is refused."""
    url, auth = f"{provider.url}/token", basic(provider.client)
    twice = httpx.post(
        url,
        content="grant_type=password&grant_type=password",
        auth=auth,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    array = httpx.post(url, json=["grant_type"], auth=auth)
    assert twice.json()["error"] == array.json()["error"] == "invalid_request"
    assert len(provider.requests) == 2
