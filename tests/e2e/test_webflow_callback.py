"""The authorization-code webflow end to end, callback side (SECURITY.md §1.2, §1.3, §1.6):
tokenward through its ASGI app, the provider double over a real socket, on SQLite and
PostgreSQL. Each test names the statement it proves."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from webflow_support import (
    CODE,
    HAND_TYPED,
    ISSUER,
    PARTNER,
    REDIRECT_URI,
    Flow,
    build_catalog,
    credential,
    flow_rows,
    install,
    provider_double,
    query_of,
    script_values,
    signin_token,
    start,
    with_catalog,
)

from tokenward.clock import FakeClock
from tokenward.runtime import Runtime
from tokenward.store.tables import auth_sessions, events
from tokenward.testing import Failure, ProviderDouble, RegisteredClient

provider = provider_double()


@pytest.fixture
def runtime(runtime: Runtime, provider: ProviderDouble) -> Runtime:
    return with_catalog(runtime, provider)


@pytest.fixture
def code_ac(client: TestClient, acct: dict[str, str]) -> int:
    return install(client, acct, CODE)


def _flow(
    client: TestClient,
    auth: dict[str, str],
    provider: ProviderDouble,
    ac_id: int,
    target: str | None = PARTNER,
    message: str | None = "connected!",
    **extra: str,
) -> Flow:
    return Flow(
        client, provider, start(client, ac_id, signin_token(client, auth), target, message, **extra)
    )


def _token_requests(provider: ProviderDouble) -> list[dict[str, str]]:
    return [r.form for r in provider.requests_to("/token")]


def _outcomes(runtime: Runtime) -> list[str | None]:
    with runtime.engine.connect() as conn:
        query = select(auth_sessions.c.outcome).where(
            (auth_sessions.c.outcome != "completion") | auth_sessions.c.outcome.is_(None)
        )
        return [row[0] for row in conn.execute(query)]


def _without(url: str, *names: str) -> str:
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k not in names]
    return f"{parts.path}?{urlencode(kept)}"


def _with(url: str, **params: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}&{urlencode(params)}"


def test_code_flow_connects_stores_tokens_and_emits_one_event(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
) -> None:
    """Start → provider → callback → completion: the credential is active, one
    ``accountconnector.authenticated`` event is in the outbox, the partner's page is told."""
    flow = _flow(client, auth, provider, code_ac)
    assert flow.back().status_code == 303
    page = flow.complete()
    assert page.status_code == 200
    assert script_values(page.text) == ("connected!", PARTNER)
    assert credential(runtime, code_ac).state == "active"
    with runtime.engine.connect() as conn:
        types = [row.type for row in conn.execute(select(events))]
    assert types == ["accountconnector.authenticated"]
    listed = client.get(
        f"/v1.0/account/connectors/{code_ac}", headers={**auth, "X-Cyclr-Account": "acme"}
    )
    assert listed.json()["Authenticated"] is True


def test_reauthentication_keeps_the_account_connector_id(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
) -> None:
    """Running the flow again on an authenticated connector re-authenticates it in place."""
    for _ in range(2):
        flow = _flow(client, auth, provider, code_ac)
        assert flow.back().status_code == 303
    row = credential(runtime, code_ac)
    assert (row.state, row.version) == ("active", 2)


def test_C01_unknown_state_is_400_with_no_token_request_and_no_change(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
) -> None:
    """A state we never issued: plain 400, nothing sent to the token endpoint, no row changed,
    no redirect anywhere."""
    flow = _flow(client, auth, provider, code_ac)
    callback_url = flow.authorize()
    before = flow_rows(runtime)
    forged = _with(_without(callback_url, "state"), state="forged-" + "x" * 40)
    response = client.get(forged, follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "postMessage" not in response.text
    assert _token_requests(provider) == []
    assert flow_rows(runtime) == before


def test_C02_missing_state_is_400_with_no_side_effect(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
) -> None:
    """No state at all (or a state sent twice): the same side-effect-free 400."""
    flow = _flow(client, auth, provider, code_ac)
    callback_url = flow.authorize()
    before = flow_rows(runtime)
    missing = client.get(_without(callback_url, "state"), follow_redirects=False)
    twice = client.get(_with(callback_url, state=flow.state), follow_redirects=False)
    assert missing.status_code == twice.status_code == 400
    assert _token_requests(provider) == []
    assert flow_rows(runtime) == before


def test_C03_replayed_callback_is_400_and_the_first_result_stands(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
) -> None:
    """The same callback twice: the second is 400, with no second code exchange."""
    flow = _flow(client, auth, provider, code_ac)
    callback_url = flow.authorize()
    assert flow.back(callback_url).status_code == 303
    first = credential(runtime, code_ac)
    replay = client.get(callback_url, follow_redirects=False)
    assert replay.status_code == 400
    assert len(_token_requests(provider)) == 1
    assert credential(runtime, code_ac) == first


@pytest.mark.parametrize("cookie", [None, "A" * 43])
def test_F02_callback_without_the_binding_cookie_is_400_and_fails_the_flow(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
    cookie: str | None,
) -> None:
    """A valid state arriving in another browser (no cookie, or another one): 400, no token
    request, the flow marked failed and its state spent."""
    flow = _flow(client, auth, provider, code_ac)
    assert "tw_flow" in flow.started.headers["set-cookie"]
    assert "httponly" in flow.started.headers["set-cookie"].lower()
    assert "samesite=lax" in flow.started.headers["set-cookie"].lower()
    callback_url = flow.authorize()
    client.cookies.clear()
    if cookie is not None:
        client.cookies.set("tw_flow", cookie)
    response = client.get(callback_url, follow_redirects=False)
    assert response.status_code == 400
    assert "same browser" in response.text
    assert _token_requests(provider) == []
    assert _outcomes(runtime) == ["invalid_callback"]
    assert credential(runtime, code_ac) is None


def test_F02_flows_in_two_tabs_of_one_browser_both_complete(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
) -> None:
    """The browser's binding is reused by its next flow, so a second tab does not break the
    first one's callback."""
    first_ac, second_ac = install(client, acct, CODE), install(client, acct, CODE)
    first, second = (
        _flow(client, auth, provider, first_ac),
        _flow(client, auth, provider, second_ac),
    )
    assert "set-cookie" in first.started.headers
    assert first.back().status_code == second.back().status_code == 303
    assert credential(runtime, first_ac).state == credential(runtime, second_ac).state == "active"


def test_F03_everything_about_a_flow_is_server_side_keyed_by_the_state_hash(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
) -> None:
    """The state is opaque randomness; the session row found by its SHA-256 holds the account
    connector, the binding hash, the sealed secrets and the completion."""
    flow = _flow(client, auth, provider, code_ac)
    with runtime.engine.connect() as conn:
        row = conn.execute(select(auth_sessions)).one()
    assert row.state_hash == hashlib.sha256(flow.state.encode()).hexdigest()
    assert row.account_connector_id == code_ac
    assert row.sealed.startswith("tw1.")
    assert json.loads(row.completion)["targetOrigin"] == PARTNER
    assert flow.state not in json.dumps([str(v) for v in row])


def test_F12_callback_after_ten_minutes_is_400_and_tells_the_page_expired(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
    clock: FakeClock,
) -> None:
    """An expired flow: 400, no token request, the partner's page told ``expired``."""
    flow = _flow(client, auth, provider, code_ac)
    callback_url = flow.authorize()
    clock.advance(601)
    response = client.get(callback_url, follow_redirects=False)
    assert response.status_code == 400
    message, target = script_values(response.text)
    assert json.loads(message)["error"] == "expired"
    assert target == PARTNER
    assert _token_requests(provider) == []
    assert _outcomes(runtime) == ["expired"]


def test_C04_advertised_iss_must_be_present_and_equal(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
) -> None:
    """With ``authorization_response_iss_parameter_supported``: a response without ``iss`` or
    with another one fails as invalid_callback with no token request; the right one passes."""
    provider.behaviour.send_iss = True
    ac_id = install(client, acct, ISSUER)
    missing, wrong, right = (_flow(client, auth, provider, ac_id) for _ in range(3))
    missing.back(_without(missing.authorize(), "iss"))
    wrong.back(_with(_without(wrong.authorize(), "iss"), iss="https://attacker.example"))
    assert _token_requests(provider) == []
    for refused in (missing, wrong):
        message, _ = script_values(refused.complete().text)
        assert json.loads(message)["error"] == "invalid_callback"
    right.back()
    assert right.complete().status_code == 200
    assert len(_token_requests(provider)) == 1
    assert credential(runtime, ac_id).state == "active"


def test_C04_iss_present_but_not_advertised_must_still_equal_the_issuer(
    client: TestClient, auth: dict[str, str], acct: dict[str, str], provider: ProviderDouble
) -> None:
    """A connector with an Issuer: a present ``iss`` is compared even when not advertised."""
    ac_id = install(client, acct, ISSUER)
    flow = _flow(client, auth, provider, ac_id)
    flow.back(_with(flow.authorize(), iss="https://attacker.example"))
    assert json.loads(script_values(flow.complete().text)[0])["error"] == "invalid_callback"
    assert _token_requests(provider) == []


def test_C06_code_is_exchanged_at_the_stored_token_endpoint(
    client: TestClient, auth: dict[str, str], code_ac: int, provider: ProviderDouble
) -> None:
    """The connector's endpoints change after the flow started (and the callback carries a
    token_endpoint of its own): the code still goes to the endpoint stored with the flow."""
    other_client = RegisteredClient(redirect_uri=REDIRECT_URI)
    with ProviderDouble(clients=[other_client]) as other:
        flow = _flow(client, auth, provider, code_ac)
        app = client.app
        app.state.ctx = dataclasses.replace(app.state.ctx, catalog=build_catalog(other.url))  # type: ignore[attr-defined]
        callback = flow.back(_with(flow.authorize(), token_endpoint=f"{other.url}/token"))
        assert other.requests_to("/token") == []
    assert callback.status_code == 303
    assert len(_token_requests(provider)) == 1


def test_C07_access_denied_tells_the_page_and_creates_nothing(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
) -> None:
    """The user declines: the page gets the error code only, no token request, no credential,
    the state consumed."""
    provider.behaviour.deny_authorization = True
    flow = _flow(client, auth, provider, code_ac)
    callback_url = flow.authorize()
    assert flow.back(callback_url).status_code == 303
    message, target = script_values(flow.complete().text)
    assert json.loads(message) == {
        "type": "tokenward.connect",
        "status": "error",
        "error": "access_denied",
        "AccountConnectorId": code_ac,
    }
    assert target == PARTNER
    assert _token_requests(provider) == []
    assert credential(runtime, code_ac) is None
    assert client.get(callback_url, follow_redirects=False).status_code == 400


def test_C08_unknown_response_parameters_are_ignored(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
) -> None:
    """Extra parameters in the callback change nothing."""
    flow = _flow(client, auth, provider, code_ac)
    assert flow.back(_with(flow.authorize(), session_state="x", foo="bar")).status_code == 303
    assert credential(runtime, code_ac).state == "active"


def test_C09_callback_answers_303_without_code_or_state_under_strict_headers(
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The callback response: 303, no-referrer, no-store, an empty body, and a Location with
    neither code nor state; tokenward's logs hold neither (nor the PKCE verifier)."""
    flow = _flow(client, auth, provider, code_ac)
    callback_url = flow.authorize()
    code = query_of(callback_url)["code"]
    with caplog.at_level(logging.DEBUG):
        response = flow.back(callback_url)
    ours = [r for r in caplog.records if r.name.startswith("tokenward")]
    logged = " ".join(f"{r.getMessage()} {vars(r)}" for r in ours)
    verifier = provider.requests_to("/token")[0].form["code_verifier"]
    assert ours
    for secret in (code, flow.state, verifier):
        assert secret not in logged
    assert response.status_code == 303
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.content == b""
    location = response.headers["location"]
    assert code not in location
    assert flow.state not in location
    assert set(query_of(location)) == {"flow"}


def test_T01_T02_F04_code_exchange_is_strict_and_pkce_is_verified(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
) -> None:
    """The exchange sends grant_type, code, the identical redirect_uri and the verifier; the
    client authenticates with Basic (a secret with ':' '+' '%' and a space, form-encoded, which
    the double decodes strictly) and never in the body or query; the double recomputes the
    S256 challenge from the verifier (a wrong one would be invalid_grant)."""
    flow = _flow(client, auth, provider, code_ac)
    assert flow.back().status_code == 303
    (exchange,) = provider.requests_to("/token")
    assert exchange.form["grant_type"] == "authorization_code"
    assert (
        exchange.form["redirect_uri"]
        == REDIRECT_URI
        == query_of(flow.authorize_url)["redirect_uri"]
    )
    assert len(exchange.form["code_verifier"]) >= 43
    assert "client_secret" not in exchange.form
    assert exchange.query == {}
    assert exchange.headers["authorization"].startswith("Basic ")
    assert credential(runtime, code_ac).state == "active"
    verifier = exchange.form["code_verifier"]  # F-05: sent in the token request only
    assert verifier not in flow.authorize_url
    assert verifier not in flow.complete().text


def test_T03_unknown_token_type_fails_the_flow(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
) -> None:
    """``token_type: mac`` (not declared by the connector): provider_error, nothing stored."""
    provider.behaviour.token_type = "mac"
    flow = _flow(client, auth, provider, code_ac)
    flow.back()
    assert json.loads(script_values(flow.complete().text)[0])["error"] == "provider_error"
    assert credential(runtime, code_ac) is None


def test_T06_invalid_grant_at_the_exchange_fails_without_retry(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    code_ac: int,
    provider: ProviderDouble,
) -> None:
    """invalid_grant: provider_error, exactly one token request."""
    provider.fail_next(Failure.invalid_grant())
    flow = _flow(client, auth, provider, code_ac)
    flow.back()
    assert json.loads(script_values(flow.complete().text)[0])["error"] == "provider_error"
    assert len(_token_requests(provider)) == 1
    assert _outcomes(runtime) == ["provider_error"]


def test_F09_par_required_pushes_then_redirects_with_request_uri_only(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
) -> None:
    """Metadata requires PAR: one authenticated POST to the PAR endpoint with state and PKCE,
    the browser sent with only client_id + request_uri; the flow completes."""
    provider.behaviour.require_par = True
    ac_id = install(client, acct, ISSUER)
    flow = _flow(client, auth, provider, ac_id)
    (pushed,) = provider.requests_to("/par")
    assert {"state", "code_challenge", "redirect_uri"} <= pushed.form.keys()
    assert pushed.headers["authorization"].startswith("Basic ")
    assert set(query_of(flow.authorize_url)) == {"client_id", "request_uri"}
    assert flow.back().status_code == 303
    assert credential(runtime, ac_id).state == "active"


def test_F09_par_refused_fails_the_flow_without_a_redirect_to_the_provider(
    client: TestClient, auth: dict[str, str], acct: dict[str, str], provider: ProviderDouble
) -> None:
    """A non-201 PAR answer: the browser goes to the completion (provider_error), never to the
    authorization endpoint."""
    provider.behaviour.require_par = True
    provider.fail_next(Failure.http(400, path="/par"))
    ac_id = install(client, acct, ISSUER)
    started = start(client, ac_id, signin_token(client, auth))
    assert started.status_code == 303
    assert started.headers["location"].startswith("http://127.0.0.1:8000/connector/complete?")
    page = client.get(started.headers["location"])
    assert json.loads(script_values(page.text)[0])["error"] == "provider_error"
    assert provider.requests_to("/authorize") == []


def test_F10_metadata_for_another_issuer_refuses_the_flow(
    client: TestClient, auth: dict[str, str], acct: dict[str, str], provider: ProviderDouble
) -> None:
    """The discovery document names another issuer: the flow does not start (the page is told
    provider_error) and the browser never reaches the provider."""
    provider.behaviour.issuer_override = "https://elsewhere.example"
    ac_id = install(client, acct, ISSUER)
    started = start(client, ac_id, signin_token(client, auth))
    page = client.get(started.headers["location"])
    assert json.loads(script_values(page.text)[0])["error"] == "provider_error"
    assert [r.path for r in provider.requests] == ["/.well-known/oauth-authorization-server"]


def test_F11_metadata_endpoints_win_over_hand_typed_ones(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
) -> None:
    """Wrong hand-typed endpoints with a correct Issuer: the flow runs on the metadata's."""
    ac_id = install(client, acct, HAND_TYPED)
    flow = _flow(client, auth, provider, ac_id)
    assert flow.authorize_url.startswith(f"{provider.url}/authorize?")
    assert flow.back().status_code == 303
    assert credential(runtime, ac_id).state == "active"


def test_W03_redirect_mode_sends_the_result_to_the_registered_url_only(
    client: TestClient, auth: dict[str, str], code_ac: int, provider: ProviderDouble
) -> None:
    """No callbackMessage: the callback 303s to the partner's URL with status and
    AccountConnectorId added (error on failure), keeping the partner's query; nothing else."""
    ok = _flow(client, auth, provider, code_ac, f"{PARTNER}/done?x=1", None)
    ok_location = ok.back().headers["location"]
    provider.behaviour.deny_authorization = True
    denied = _flow(client, auth, provider, code_ac, f"{PARTNER}/done?x=1", None)
    denied_location = denied.back().headers["location"]
    assert ok_location == f"{PARTNER}/done?x=1&status=success&AccountConnectorId={code_ac}"
    assert query_of(denied_location) == {
        "x": "1",
        "status": "error",
        "AccountConnectorId": str(code_ac),
        "error": "access_denied",
    }


def test_W04_W05_W08_completion_page_posts_to_the_stored_origin_only(
    client: TestClient, auth: dict[str, str], code_ac: int, provider: ProviderDouble
) -> None:
    """The page posts to the stored origin (never '*'), carries no token, code or verifier,
    may be framed only by that origin, and is shown once."""
    flow = _flow(client, auth, provider, code_ac)
    callback_url = flow.authorize()
    flow.back(callback_url)
    location = flow.callback.headers["location"]  # type: ignore[union-attr]
    page = client.get(location)
    html = page.text
    assert "postMessage(message, targetOrigin)" in html
    assert script_values(html)[1] == PARTNER
    assert "'*'" not in html
    assert '"*"' not in html
    assert query_of(callback_url)["code"] not in html
    assert "access_token" not in html
    policy = page.headers["content-security-policy"]
    assert f"frame-ancestors {PARTNER}" in policy
    assert "default-src 'none'" in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    again = client.get(location)
    assert again.status_code == 400
    assert "frame-ancestors 'none'" in again.headers["content-security-policy"]
    assert again.headers["x-frame-options"] == "DENY"


def test_W06_script_breaking_messages_stay_inside_their_json_strings(
    client: TestClient, auth: dict[str, str], code_ac: int, provider: ProviderDouble
) -> None:
    """callbackMessage and errorCallbackMessage containing ``</script>`` are JSON-encoded
    inside the nonce'd script: one real closing tag, the values intact; a targetOrigin with
    ``</script>`` is refused at the start."""
    evil = "</script><script>alert(1)</script>"
    ok = _flow(client, auth, provider, code_ac, message=evil)
    ok.back()
    ok_page = ok.complete().text
    provider.behaviour.deny_authorization = True
    bad = _flow(client, auth, provider, code_ac, errorCallbackMessage=evil)
    bad.back()
    bad_page = bad.complete().text
    for html in (ok_page, bad_page):
        assert html.count("</script>") == 1
        assert "<script>alert" not in html
        assert script_values(html)[0] == evil
        nonce = html.split('<script nonce="')[1].split('"')[0]
        assert len(nonce) >= 16
    refused = start(client, code_ac, signin_token(client, auth), f"{PARTNER}</script>")
    assert refused.status_code == 400
    assert "</script>" not in refused.text


def test_W09_completion_page_falls_back_to_the_registered_redirect(
    client: TestClient, auth: dict[str, str], code_ac: int, provider: ProviderDouble
) -> None:
    """With neither window.opener nor a parent (COOP severed the opener), the page shows the
    result and a link to the registered origin carrying the result."""
    flow = _flow(client, auth, provider, code_ac)
    flow.back()
    html = flow.complete().text
    assert "window.opener || (window.parent !== window ? window.parent : null)" in html
    assert 'document.getElementById("fallback").hidden = false' in html
    link = f'href="{PARTNER}/?status=success&amp;AccountConnectorId={code_ac}"'
    assert link in html
    assert "Connected" in html
