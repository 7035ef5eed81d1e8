"""Method calls through HTTP against a provider double, on SQLite and PostgreSQL (DESIGN.md §4;
SECURITY.md P-01, P-03, P-04, P-05, L-02)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from ac_support import audit_actions, restricted_headers
from fastapi.testclient import TestClient
from sqlalchemy import update
from upstream_support import (
    API_KEY,
    BASIC_VALUE,
    CREATE_FORM,
    CREATE_ITEM,
    ECHO_ITEM,
    GET_ME,
    METHODS,
    PUT_ITEM,
    SEND_XML,
    Connected,
    Installed,
    api_requests,
    close_transport,
    connect_oauth,
    entry,
    install,
    revoke_access_token,
    set_state,
)

from tokenward.clock import FakeClock
from tokenward.runtime import Runtime
from tokenward.store.tables import properties
from tokenward.testing import Failure, ProviderDouble

MARK = "x-tokenward-upstream"


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


def call(
    client: TestClient,
    acct: dict[str, str],
    target: Installed | Connected,
    method: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST a call of the method named ``method`` (by its MethodUniqueIdentifier)."""
    found = target if isinstance(target, Installed) else target.installed
    url = f"/v1.0/account/connectors/{found.ac_id}/methods/{found.guid(method)}"
    return client.post(url, json=body, headers={**acct, **(headers or {})})


def test_method_call_returns_the_provider_answer_marked_upstream(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """By GUID (POST) or Id (GET): the provider's status, body and type, X-Tokenward-Upstream."""
    by_guid = call(api, acct, connected, GET_ME)
    method_id = connected.installed.method_id(GET_ME)
    by_id = api.get(f"/v1.0/account/connectors/{connected.ac_id}/methods/{method_id}", headers=acct)
    for response in (by_guid, by_id):
        assert response.status_code == 200, response.text
        assert response.headers[MARK] == "1"
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["sub"] == "alice"
    assert len(provider.requests_to("/api/me")) == 2


def test_L02_the_credential_travels_only_in_the_authorization_header(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """The provider gets its own bearer token in Authorization, nothing in the URL, and never
    the partner's token or account header."""
    response = call(api, acct, connected, ECHO_ITEM, {"Parameters": {"ItemId": "5"}})
    assert response.status_code == 200, response.text
    [seen] = api_requests(provider)
    token = connected.tokens["access_token"]
    assert seen.headers["authorization"] == f"Bearer {token}"
    assert token not in json.dumps(seen.query)
    assert acct["Authorization"].split()[1] not in json.dumps(seen.headers)
    assert "x-cyclr-account" not in seen.headers


def test_parameters_fill_merge_fields_query_and_headers_bound_case_insensitively(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """MergeField → path, QueryString → query (Default applied), Header → header; by Name in
    any case or by Id."""
    params = {"itemid": 42, "FILTER": "open", "Trace": "abc"}
    response = call(api, acct, connected, ECHO_ITEM, {"parameters": params})
    assert response.status_code == 200, response.text
    [seen] = api_requests(provider)
    assert seen.path == "/api/echo/items/42"
    assert seen.query == {"filter": "open", "Limit": "10"}
    assert seen.headers["x-trace"] == "abc"


def test_get_query_string_parameters_are_the_methods_parameters(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """A GET call takes its Parameters from the query string."""
    guid = connected.guid(ECHO_ITEM)
    url = f"/v1.0/account/connectors/{connected.ac_id}/methods/{guid}?ItemId=7&Limit=3"
    response = api.get(url, headers=acct)
    assert response.status_code == 200, response.text
    [seen] = api_requests(provider)
    assert (seen.path, seen.query) == ("/api/echo/items/7", {"Limit": "3"})


@pytest.mark.parametrize(
    ("params", "code", "named"),
    [
        ({}, "missing_parameter", "'ItemId'"),
        ({"ItemId": "../../evil"}, "invalid_parameter", "'ItemId'"),
        ({"ItemId": "1", "Nope": "x"}, "unknown_parameter", "'Nope'"),
        ({"ItemId": "1", "Limit": "ten"}, "invalid_parameter", "'Limit'"),
        ({"ItemId": "1", "Trace": "a\r\nX-Evil: 1"}, "invalid_parameter", "'Trace'"),
        ({"ItemId": {"a": 1}}, "invalid_parameter", "'ItemId'"),
    ],
)
def test_P01_bad_parameters_are_400_naming_them_and_nothing_is_sent(
    api: TestClient,
    acct: dict[str, str],
    connected: Connected,
    provider: ProviderDouble,
    params: dict[str, Any],
    code: str,
    named: str,
) -> None:
    """A missing, unknown, pattern- or type-violating value is a 400 before any outbound call;
    the value itself is never echoed."""
    response = call(api, acct, connected, ECHO_ITEM, {"Parameters": params})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["Code"] == code
    assert named in body["Message"]
    assert "evil" not in body["Message"]
    assert MARK not in response.headers
    assert api_requests(provider) == []


def test_json_body_from_fields_and_body_parameters(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """Fields and Body parameters make the JSON body (a parameter wins over a field)."""
    body = {"Fields": {"name": "Widget", "kind": "field"}, "Parameters": {"Kind": "gadget"}}
    response = call(api, acct, connected, CREATE_ITEM, body)
    assert response.status_code == 200, response.text
    [seen] = api_requests(provider)
    assert seen.method == "POST"
    assert seen.headers["content-type"] == "application/json"
    assert seen.json == {"name": "Widget", "kind": "gadget"}


def test_form_and_xml_methods(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """DataType Form sends a form body; Xml takes Fields as the document itself."""
    form = call(api, acct, connected, CREATE_FORM, {"Fields": {"a": "1 2", "b": True}})
    xml = call(api, acct, connected, SEND_XML, {"Fields": "<item id='1'/>"})
    assert (form.status_code, xml.status_code) == (200, 200)
    sent_form, sent_xml = api_requests(provider)
    assert sent_form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent_form.form == {"a": "1 2", "b": "true"}
    assert (sent_xml.headers["content-type"], sent_xml.body) == (
        "application/xml",
        b"<item id='1'/>",
    )


@pytest.mark.parametrize(
    ("method", "body"),
    [
        (ECHO_ITEM, {"Parameters": {"ItemId": "1"}, "Fields": {"a": 1}}),
        (CREATE_ITEM, {"Parameters": {"Kind": "k"}, "Fields": ["not", "an", "object"]}),
        (SEND_XML, {"Fields": {"a": 1}}),
        (CREATE_FORM, {"Fields": {"a": {"nested": 1}}}),
    ],
)
def test_bodies_the_method_cannot_send_are_400(
    api: TestClient,
    acct: dict[str, str],
    connected: Connected,
    provider: ProviderDouble,
    method: str,
    body: Any,
) -> None:
    """Fields on a GET, a non-object Fields, an object for XML, nested form values: 400."""
    response = call(api, acct, connected, method, body)
    assert response.status_code == 400, response.text
    assert MARK not in response.headers
    assert api_requests(provider) == []


def test_unknown_method_and_account_connector_are_404_without_the_upstream_mark(
    api: TestClient, acct: dict[str, str], connected: Connected
) -> None:
    """tokenward's own errors never carry X-Tokenward-Upstream."""
    base = f"/v1.0/account/connectors/{connected.ac_id}/methods"
    unknown_method = api.post(f"{base}/99999999", headers=acct)
    unknown_ac = api.post(
        f"/v1.0/account/connectors/424242/methods/{connected.guid(GET_ME)}", headers=acct
    )
    assert unknown_method.json()["Code"] == "method_not_found"
    assert unknown_ac.json()["Code"] == "account_connector_not_found"
    for response in (unknown_method, unknown_ac):
        assert response.status_code == 404
        assert MARK not in response.headers


def test_account_rules_401_403_404(
    api: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    api_client: tuple[str, str],
    connected: Connected,
    provider: ProviderDouble,
) -> None:
    """No account header → 401; a token restricted to another account → 403; another
    account's connector → 404; nothing reaches the provider."""
    api.post("/v1.0/accounts", json={"Id": "other", "Name": "Other"}, headers=auth)
    restricted = restricted_headers(api, api_client, "other")
    assert call(api, auth, connected, GET_ME).status_code == 401
    assert (
        call(api, {**restricted, "X-Cyclr-Account": "acme"}, connected, GET_ME).status_code == 403
    )
    other = {**auth, "X-Cyclr-Account": "other"}
    assert call(api, other, connected, GET_ME).status_code == 404
    assert api_requests(provider) == []


def test_409_with_code_when_not_authenticated_or_needs_reauth(
    api: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
    connected: Connected,
    runtime: Runtime,
) -> None:
    """A connector without credential → 409 not_authenticated; needs_reauth → 409
    needs_reauth; neither is marked upstream and the provider hears nothing."""
    bare = install(api, auth, acct, f"{provider.url}/api", entry("ApiKey"))
    not_authenticated = call(api, acct, bare, GET_ME)
    set_state(runtime, connected.ac_id, "needs_reauth")
    needs_reauth = call(api, acct, connected, GET_ME)
    assert not_authenticated.status_code == needs_reauth.status_code == 409
    assert not_authenticated.json()["Code"] == "not_authenticated"
    assert needs_reauth.json()["Code"] == "needs_reauth"
    assert MARK not in not_authenticated.headers
    assert MARK not in needs_reauth.headers
    assert api_requests(provider) == []


def test_oauth1_call_without_consumer_is_409(
    api: TestClient, auth: dict[str, str], acct: dict[str, str], provider: ProviderDouble
) -> None:
    """An OAuth 1.0a call cannot be signed without a consumer key and secret: 409, nothing sent."""
    value = json.dumps({"AccessToken": "t", "AccessTokenSecret": "s"})
    found = install(api, auth, acct, f"{provider.url}/api", entry("OAuth1"), value)
    response = call(api, acct, found, GET_ME)
    assert (response.status_code, response.json()["Code"]) == (409, "missing_client_credentials")
    assert api_requests(provider) == []


def test_P04_a_provider_401_refreshes_once_and_retries_once(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """The provider refuses the stored token → one refresh, one retry with the new token."""
    revoke_access_token(provider, connected.tokens["access_token"])
    response = call(api, acct, connected, GET_ME)
    assert response.status_code == 200, response.text
    assert provider.refresh_count == 1
    first, second = provider.requests_to("/api/me")
    assert first.headers["authorization"] != second.headers["authorization"]


def test_P04_a_second_401_is_surfaced_marked_upstream(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """401 again after the refresh: the provider's 401 is the answer, marked as the
    provider's; exactly one refresh and two calls."""
    provider.fail_next(Failure.http(401, path="/api/me"), Failure.http(401, path="/api/me"))
    response = call(api, acct, connected, GET_ME)
    assert response.status_code == 401
    assert response.headers[MARK] == "1"
    assert provider.refresh_count == 1
    assert len(provider.requests_to("/api/me")) == 2


def test_P05_idempotent_calls_are_retried_once_after_retry_after(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """A GET answered 503 with Retry-After: 1 is sent again, no sooner than a second later."""
    provider.fail_next(Failure.http(503, retry_after=1, path="/api/me"))
    response = call(api, acct, connected, GET_ME)
    assert response.status_code == 200, response.text
    first, second = provider.requests_to("/api/me")
    assert second.at - first.at >= 0.95


def test_P05_at_most_one_retry_and_long_retry_after_not_waited(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """Two 503s → the second is the answer; a 429 asking for 120 s is returned at once."""
    path = "/api/echo/items/1"
    provider.fail_next(Failure.http(503, path=path), Failure.http(503, path=path))
    assert call(api, acct, connected, PUT_ITEM).status_code == 503
    assert len(provider.requests_to(path)) == 2
    provider.fail_next(Failure.http(429, retry_after=120, path="/api/me"))
    limited = call(api, acct, connected, GET_ME)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "120")
    assert limited.headers[MARK] == "1"
    assert len(provider.requests_to("/api/me")) == 1


def test_P05_a_post_is_retried_only_with_an_idempotency_key(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """POST without Idempotency-Key: the 503 is the answer; with one: retried once."""
    path = "/api/echo/items"
    body = {"Parameters": {"Kind": "k"}}
    provider.fail_next(Failure.http(503, path=path))
    assert call(api, acct, connected, CREATE_ITEM, body).status_code == 503
    assert len(provider.requests_to(path)) == 1
    provider.fail_next(Failure.http(503, path=path))
    keyed = call(api, acct, connected, CREATE_ITEM, body, {"Idempotency-Key": "k-1"})
    assert keyed.status_code == 200, keyed.text
    assert len(provider.requests_to(path)) == 3
    assert provider.requests_to(path)[-1].headers["idempotency-key"] == "k-1"


@pytest.mark.parametrize(
    ("auth_entry", "value", "header", "expected"),
    [
        (entry("ApiKey", AuthScheme="X-API-Key"), API_KEY, "x-api-key", API_KEY),
        (entry("ApiKey"), API_KEY, "authorization", API_KEY),
        (
            entry("ApiKey", AuthScheme="Authorization", AuthFormat="Token token={key}"),
            API_KEY,
            "authorization",
            f"Token token={API_KEY}",
        ),
        (entry("Basic"), BASIC_VALUE, "authorization", f"Basic {BASIC_VALUE}"),
    ],
)
def test_L02_credential_header_follows_auth_scheme_and_format(
    api: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
    auth_entry: dict[str, Any],
    value: str,
    header: str,
    expected: str,
) -> None:
    """ApiKey goes in AuthScheme (default Authorization) as AuthFormat (default {key});
    Basic as "Basic {basic}"; never in the URL."""
    found = install(api, auth, acct, f"{provider.url}/api", auth_entry, value)
    response = call(api, acct, found, ECHO_ITEM, {"Parameters": {"ItemId": 1}})
    assert response.status_code == 200, response.text
    [seen] = api_requests(provider)
    assert seen.headers[header] == expected
    assert value not in json.dumps(seen.query)


def test_oauth2_auth_scheme_and_format(
    api: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
    clock: FakeClock,
) -> None:
    """An OAuth 2 entry may name its own header and template (e.g. Shopify's)."""
    found = connect_oauth(
        api, auth, acct, provider, clock.now(), AuthScheme="X-Access-Token", AuthFormat="{token}"
    )
    assert call(api, acct, found, ECHO_ITEM, {"Parameters": {"ItemId": 1}}).status_code == 200
    [seen] = api_requests(provider)
    assert seen.headers["x-access-token"] == found.tokens["access_token"]
    assert "authorization" not in seen.headers


def test_no_auth_connector_sends_no_credential(
    api: TestClient, auth: dict[str, str], acct: dict[str, str], provider: ProviderDouble
) -> None:
    """AuthType None: the call goes out without any credential header."""
    found = install(api, auth, acct, f"{provider.url}/api", entry("None"))
    response = call(api, acct, found, ECHO_ITEM, {"Parameters": {"ItemId": 1}})
    assert response.status_code == 200, response.text
    [seen] = api_requests(provider)
    assert "authorization" not in seen.headers


def test_unreachable_provider_is_502_without_the_url_or_the_mark(
    api: TestClient, auth: dict[str, str], acct: dict[str, str]
) -> None:
    """A connection that fails is tokenward's 502 with a Message naming the host at most."""
    found = install(api, auth, acct, "http://127.0.0.1:9/api", entry("ApiKey"), API_KEY)
    response = call(api, acct, found, ECHO_ITEM, {"Parameters": {"ItemId": 1, "Filter": "q"}})
    assert response.status_code == 502, response.text
    body = response.json()
    assert body["Code"] == "upstream_unreachable"
    assert "127.0.0.1" in body["Message"]
    assert "filter" not in body["Message"]
    assert API_KEY not in body["Message"]
    assert MARK not in response.headers


@pytest.mark.parametrize(
    "base_url", ["https://169.254.169.254/api", "https://10.0.0.1/api", "https://[fd00::1]/api"]
)
def test_P03_internal_destinations_are_refused_even_with_insecure_http_allowed(
    api: TestClient, auth: dict[str, str], acct: dict[str, str], base_url: str
) -> None:
    """allow_insecure_http opens loopback only: link-local, private and unique-local stay
    refused (502 destination_refused), before any connection."""
    found = install(api, auth, acct, base_url, entry("ApiKey"), API_KEY)
    response = call(api, acct, found, GET_ME)
    assert (response.status_code, response.json()["Code"]) == (502, "destination_refused")


def test_method_calls_are_audited_in_batches(
    api: TestClient,
    acct: dict[str, str],
    connected: Connected,
    runtime: Runtime,
) -> None:
    """A call leaves an audit entry, written with the next batch."""
    assert call(api, acct, connected, GET_ME).status_code == 200
    assert "method.call" in audit_actions(runtime)


def test_call_headers_are_sent_filled_from_properties_on_methods_and_the_proxy(
    api: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
    runtime: Runtime,
) -> None:
    """A connector's CallHeaders go on every method and proxy call, filled from the account
    connector's properties; left out while the property is unset; a method's own Header
    parameter and the partner's own proxy header win; a value breaking its Pattern is a 409
    and nothing is sent."""
    definition = {
        "Name": "Tenanted",
        "Version": "1.0",
        "BaseUrl": f"{provider.url}/api",
        "Parameters": [{"Name": "TenantId", "IsOptional": True, "Pattern": "^[a-z0-9-]{1,40}$"}],
        "CallHeaders": {"X-Tenant": "{{TenantId}}", "X-Trace": "tenant-{{TenantId}}"},
        "Authentication": [entry("ApiKey")],
        "Methods": [m for m in METHODS if m["Name"] == ECHO_ITEM],
    }
    created = api.post("/v1.0/connectors", json=definition, headers=auth)
    assert created.status_code == 200, created.text
    connector = created.json()
    ac_id = int(api.post(f"/v1.0/connectors/{connector['Id']}/install", headers=acct).json()["Id"])
    api.put(f"/v1.0/account/connectors/{ac_id}", json={"AuthValue": API_KEY}, headers=acct)
    guid = connector["Methods"][0]["MethodUniqueIdentifier"]
    found = Installed(int(connector["Id"]), ac_id, {ECHO_ITEM: (0, guid)})
    proxy = f"/v1.0/account/connectors/{ac_id}/proxy/echo/items/1"

    assert call(api, acct, found, ECHO_ITEM, {"Parameters": {"ItemId": 1}}).status_code == 200
    assert "x-tenant" not in api_requests(provider)[-1].headers  # not set yet
    props = {"Properties": [{"Name": "TenantId", "Value": "acme-1"}]}
    assert api.put(f"/v1.0/account/connectors/{ac_id}", json=props, headers=acct).status_code == 200
    params = {"Parameters": {"ItemId": 1, "Trace": "own"}}
    assert call(api, acct, found, ECHO_ITEM, params).status_code == 200
    seen = api_requests(provider)[-1].headers
    assert (seen["x-tenant"], seen["x-trace"]) == ("acme-1", "own")
    assert api.get(proxy, headers={**acct, "X-Trace": "mine"}).status_code == 200
    seen = api_requests(provider)[-1].headers
    assert (seen["x-tenant"], seen["x-trace"]) == ("acme-1", "mine")

    with runtime.ctx.db.write() as tx:  # a stored value the Pattern no longer allows
        tx.conn.execute(  # type: ignore[attr-defined]
            update(properties)
            .where(properties.c.account_connector_id == ac_id)
            .values(value="evil.example/x")
        )
    before = len(api_requests(provider))
    refused = call(api, acct, found, ECHO_ITEM, {"Parameters": {"ItemId": 1}})
    assert (refused.status_code, refused.json()["Code"]) == (409, "invalid_property")
    assert api.get(proxy, headers=acct).status_code == 409
    assert len(api_requests(provider)) == before
