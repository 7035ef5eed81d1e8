"""Starting the webflow (DESIGN.md §7 steps 1-2; SECURITY.md K-02, L-05, W-01, W-02, W-08,
C-10, F-01, F-04, F-05, F-06, F-08): every refusal changes nothing and leaves the sign-in token
unused; a concurrent second use gets the 403 page. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import threading
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from webflow_support import (
    APIKEY,
    CODE,
    PARTNER,
    PASSWORD,
    QUERY,
    REDIRECT_URI,
    REQUIRED,
    START,
    flow_rows,
    install,
    provider_double,
    query_of,
    signin_token,
    start,
    with_catalog,
)

from tokenward.clock import FakeClock
from tokenward.crypto.fields import auth_session_aad
from tokenward.errors import Forbidden
from tokenward.oauth.pkce import challenge_s256
from tokenward.runtime import Runtime
from tokenward.services import webflow
from tokenward.settings import Settings
from tokenward.store.tables import auth_sessions
from tokenward.testing import ProviderDouble
from tokenward.web.app import create_app
from tokenward.web.webflow.ratelimit import RateLimiter

provider = provider_double()
FORBIDDEN = "403 - Forbidden: Access is denied."


@pytest.fixture
def runtime(runtime: Runtime, provider: ProviderDouble) -> Runtime:
    return with_catalog(runtime, provider)


@pytest.fixture
def code_ac(client: TestClient, acct: dict[str, str]) -> int:
    return install(client, acct, CODE)


def _csp(response: Any) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    parts = [p.strip().split(" ", 1) for p in policy.split(";")]
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


def _still_works(client: TestClient, ac_id: int, token: str) -> None:
    """The token was left unused: a good start with it succeeds now."""
    response = start(client, ac_id, token)
    assert response.status_code == 303, response.text


def test_K02_fifty_concurrent_uses_of_one_token_give_exactly_one_flow(
    runtime: Runtime, client: TestClient, auth: dict[str, str], code_ac: int
) -> None:
    """50 threads start a flow with the same sign-in token at once: one flow, 49 refusals."""
    token = signin_token(client, auth)
    params = webflow.FlowParams(str(code_ac), token, PARTNER, "done", None)
    barrier, lock = threading.Barrier(50), threading.Lock()
    outcomes: list[str] = []

    def use() -> None:
        barrier.wait()
        try:
            asyncio.run(webflow.start_flow(runtime.ctx, params))
            outcome = "flow"
        except Forbidden:
            outcome = "403"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=use) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["403"] * 49 + ["flow"]
    assert len(flow_rows(runtime)["auth_sessions"]) == 1


def test_K02_used_or_expired_or_unknown_token_gets_the_403_page(
    client: TestClient, auth: dict[str, str], code_ac: int, clock: FakeClock
) -> None:
    """A used, an expired and an unknown token each get Cyclr's 403 page."""
    token = signin_token(client, auth)
    assert start(client, code_ac, token).status_code == 303
    used = start(client, code_ac, token)
    expired_token = signin_token(client, auth)
    clock.advance(301)
    expired = start(client, code_ac, expired_token)
    unknown = start(client, code_ac, "not-a-token")
    missing = client.get(START, params={"id": code_ac, "targetOrigin": PARTNER})
    for response in (used, expired, unknown, missing):
        assert response.status_code == 403
        assert FORBIDDEN in response.text
        assert response.headers["content-type"].startswith("text/html")


def test_refusals_change_nothing_and_leave_the_token_unused(
    runtime: Runtime, client: TestClient, auth: dict[str, str], acct: dict[str, str], code_ac: int
) -> None:
    """Another account's connector (404), a bad id (404), an unregistered target (400, W-02),
    missing properties (400) and a non-OAuth connector (400): nothing changes, and the token
    then still starts a flow."""
    client.post("/v1.0/accounts", json={"Id": "other", "Name": "Other"}, headers=auth)
    foreign = install(client, {**auth, "X-Cyclr-Account": "other"}, CODE)
    required = install(client, acct, REQUIRED)
    apikey = client.post(f"/v1.0/connectors/{APIKEY}/install", headers=acct).json()["Id"]
    token = signin_token(client, auth)
    before = flow_rows(runtime)
    refusals = [
        (start(client, foreign, token), 404, "not found"),
        (start(client, "12x", token), 404, "not found"),
        (start(client, code_ac, token, "https://evil.example"), 400, "allowed target origins"),
        (start(client, code_ac, token, None), 400, "targetOrigin is required"),
        (start(client, required, token), 400, "Tenant"),
        (start(client, apikey, token), 400, "not in the browser"),
        (start(client, code_ac, token, message="x" * 5000), 400, "callbackMessage"),
    ]
    for response, status, words in refusals:
        assert response.status_code == status, response.text
        assert words in response.text
    assert flow_rows(runtime) == before
    _still_works(client, code_ac, token)


def test_missing_properties_are_all_named(
    client: TestClient, auth: dict[str, str], acct: dict[str, str]
) -> None:
    """The 400 page names every required property that is not set, the client ones included."""
    password = install(client, acct, PASSWORD, client_secret="")
    response = start(client, password, signin_token(client, auth))
    assert response.status_code == 400
    assert "Username, Password, ClientSecret" in response.text


def test_W01_matrix_at_start_in_both_modes(
    client: TestClient, auth: dict[str, str], code_ac: int
) -> None:
    """Every non-registered target is refused at the start (400), in postMessage mode and in
    redirect mode; the token survives them all."""
    token = signin_token(client, auth)
    bad = [
        "https://partner.example.evil.com",
        "https://evil.com/partner.example",
        "https://partner.example@evil.com",
        "https://partner.example:8443",
        "http://partner.example",
        "null",
        "*",
        "javascript:alert(1)",
        "data:text/html,hi",
    ]
    for target in bad:
        for message in ("done", None):
            response = start(client, code_ac, token, target, message)
            assert response.status_code == 400, (target, message)
            assert "location" not in response.headers
    _still_works(client, code_ac, token)


def test_L05_token_consumed_on_first_get_then_303_without_it_and_never_logged(
    client: TestClient, auth: dict[str, str], code_ac: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The start answers 303 to a URL without the token, under no-referrer and no-store; the
    access log never holds the token."""
    token = signin_token(client, auth)
    with caplog.at_level(logging.INFO):
        response = start(client, code_ac, token)
    assert response.status_code == 303
    assert token not in response.headers["location"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert start(client, code_ac, token).status_code == 403
    ours = [r for r in caplog.records if r.name.startswith("tokenward")]  # not the test client's
    logged = " ".join(f"{r.getMessage()} {vars(r)}" for r in ours)
    assert "tokenward.access" in {r.name for r in ours}
    assert token not in logged


def test_W08_every_start_page_carries_csp_and_frame_ancestors(
    client: TestClient, auth: dict[str, str], code_ac: int
) -> None:
    """403, 404 and 400 pages: default-src 'none', a nonce for style, frame-ancestors = the
    partner's registered origins, no-referrer, no-store."""
    token = signin_token(client, auth)
    pages = [
        start(client, code_ac, "nope"),
        start(client, 999_999, token),
        start(client, code_ac, token, "https://evil.example"),
    ]
    for page in pages:
        csp = _csp(page)
        assert csp["default-src"] == "'none'"
        assert csp["frame-ancestors"] == PARTNER
        assert csp["style-src"].startswith("'nonce-")
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        assert "x-frame-options" not in page.headers  # framing by the partner is allowed
        nonce = csp["style-src"][len("'nonce-") : -1]
        assert f'<style nonce="{nonce}">' in page.text


def test_path_and_names_are_case_insensitive_and_post_is_accepted(
    client: TestClient, auth: dict[str, str], code_ac: int
) -> None:
    """Cyclr's documented spellings: any path case, any parameter case, GET or POST (query or
    form); a POST is answered with 303 so the browser continues with a GET."""
    query = (
        f"ID={code_ac}&Token={signin_token(client, auth)}&TARGETORIGIN={PARTNER}&callbackmessage=ok"
    )
    by_post = client.post(
        f"/ConnectorAuth/UpdateAccountConnectorOAuth?{query}", follow_redirects=False
    )
    form = {"id": str(code_ac), "token": signin_token(client, auth), "targetOrigin": PARTNER}
    by_form = client.post(START, data={**form, "callbackMessage": "ok"}, follow_redirects=False)
    assert by_post.status_code == by_form.status_code == 303


def test_unencoded_token_and_target_are_tolerated(
    client: TestClient, auth: dict[str, str], code_ac: int
) -> None:
    """Cyclr's own samples do not encode the token or targetOrigin (redirect mode with a query
    of its own): the start still works."""
    token = signin_token(client, auth)
    url = f"{START}?id={code_ac}&token={token}&targetOrigin={PARTNER}/done?a=1&b=2"
    response = client.get(url, follow_redirects=False)
    assert response.status_code == 303, response.text


def test_C10_start_callback_and_completion_are_rate_limited_per_address(
    client: TestClient, auth: dict[str, str], code_ac: int
) -> None:
    """Over its budget a client gets 429 with Retry-After before any lookup."""
    client.app.state.webflow_limiter = RateLimiter(2)  # type: ignore[attr-defined]
    token = signin_token(client, auth)
    answers = [start(client, code_ac, token, "https://evil.example") for _ in range(2)]
    limited = [
        start(client, code_ac, token),
        client.get("/connector/callback?state=x&code=y"),
        client.get("/connector/complete?flow=x"),
    ]
    assert [a.status_code for a in answers] == [400, 400]
    for response in limited:
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1


def test_C10_start_is_rate_limited_per_account_connector_across_addresses(
    client: TestClient, auth: dict[str, str], code_ac: int
) -> None:
    """Sign-ins for one account connector from many addresses share one budget: over it,
    429 with Retry-After before any lookup; another account connector is not affected."""
    app: Any = client.app
    app.state.webflow_tenant_limiter = RateLimiter(2)
    token = signin_token(client, auth)
    browsers = [
        TestClient(app, base_url=str(client.base_url), client=(f"198.51.100.{n}", 40000))
        for n in range(1, 5)
    ]
    answers = [start(browser, code_ac, token, "https://evil.example") for browser in browsers]
    assert [a.status_code for a in answers] == [400, 400, 429, 429]
    assert int(answers[2].headers["retry-after"]) >= 1
    other = start(browsers[0], code_ac + 1000, token, "https://evil.example")
    assert other.status_code != 429


def test_F01_flows_get_distinct_256_bit_states(
    client: TestClient, auth: dict[str, str], code_ac: int
) -> None:
    """20 flows (1,000 in the unit test of the generator): distinct, 32 random bytes each,
    each from the CSPRNG."""
    states = [
        query_of(start(client, code_ac, signin_token(client, auth)).headers["location"])["state"]
        for _ in range(20)
    ]
    assert len(set(states)) == 20
    for state in states:
        assert len(base64.urlsafe_b64decode(state + "=")) == 32


def test_F04_F05_F06_authorization_request_has_challenge_not_verifier(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
) -> None:
    """The browser sees the S256 challenge of the stored verifier, the exact redirect URI and
    the scopes; the verifier itself is only in the sealed flow record."""
    response = start(client, code_ac, signin_token(client, auth))
    location = response.headers["location"]
    params = query_of(location)
    assert location.startswith(f"{provider.url}/authorize?")
    assert params["response_type"] == "code"
    assert params["code_challenge_method"] == "S256"
    assert params["redirect_uri"] == REDIRECT_URI
    assert params["scope"] == "read write"
    assert params["client_id"] == "tokenward-client"
    with runtime.engine.connect() as conn:
        row = conn.execute(select(auth_sessions)).one()
    sealed = runtime.ctx.sealer.open(row.sealed, auth_session_aad(row.state_hash))
    verifier = json.loads(sealed)["verifier"]
    assert challenge_s256(verifier) == params["code_challenge"]
    assert verifier not in location
    assert verifier not in row.sealed
    assert verifier not in row.completion
    assert "code_verifier" not in location


def test_F08_existing_query_of_the_authorization_endpoint_is_kept(
    client: TestClient, auth: dict[str, str], acct: dict[str, str], provider: ProviderDouble
) -> None:
    """A configured authorization endpoint with a query keeps it; ours is appended, encoded."""
    ac_id = install(client, acct, QUERY)
    location = start(client, ac_id, signin_token(client, auth)).headers["location"]
    assert location.startswith(f"{provider.url}/authorize?tenant=t1&response_type=code&")
    assert urlsplit(location).query.count("redirect_uri=http%3A%2F%2F127.0.0.1%3A8000") == 1


def test_F02_https_service_sets_a_host_prefixed_secure_cross_site_cookie(
    settings: Settings, runtime: Runtime, auth: dict[str, str], acct: dict[str, str]
) -> None:
    """With an https SERVICE_URL the binding cookie is ``__Host-tw_flow``: Secure, HttpOnly,
    SameSite=None, Path=/, no Domain, ten minutes; a custom name comes from the setting."""
    for name, expected in ((None, "__Host-tw_flow"), ("__Host-other", "__Host-other")):
        https = settings.model_copy(
            update={"service_url": "https://auth.example.com", "flow_cookie_name": name}
        )
        runtime.ctx = dataclasses.replace(runtime.ctx, service_url=https.service_url)
        with TestClient(create_app(https, runtime=runtime), base_url=https.service_url) as browser:
            ac_id = install(browser, acct, CODE)
            response = start(browser, ac_id, signin_token(browser, auth))
        assert response.status_code == 303
        assert query_of(response.headers["location"])["redirect_uri"] == (
            "https://auth.example.com/connector/callback"
        )
        cookie = response.headers["set-cookie"]
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert cookie.startswith(f"{expected}=")
        assert {"secure", "httponly", "path", "max-age", "samesite"} <= attributes
        assert "domain" not in attributes
        assert "samesite=none" in cookie.lower()
        assert "path=/;" in cookie.lower() or cookie.lower().endswith("path=/")
