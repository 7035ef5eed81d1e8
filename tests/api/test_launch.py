"""LAUNCH and Marketplace (DESIGN.md §4, cyclr-api.md §12) and ``/account/signinwithtoken``
(DESIGN.md §7) through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from ac_support import APIKEY, CODE_AUTH, OAUTH, with_test_catalog
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from upstream_support import close_transport

from tokenward.clock import FakeClock
from tokenward.runtime import Runtime
from tokenward.store.tables import (
    account_connectors,
    accounts,
    audit_log,
    credentials,
    events,
    properties,
    signin_tokens,
    users,
)
from tokenward.testing import ProviderDouble

SERVICE = "http://127.0.0.1:8000"
APIKEY_ENTRY = {
    "Name": "Test ApiKey",
    "Version": "1.0",
    "AuthValue": "key-123",
    "Properties": [{"Name": "Subdomain", "Value": "acme"}],
}


@pytest.fixture
def runtime(runtime: Runtime) -> Runtime:
    """The shared runtime serving the test catalog."""
    return with_test_catalog(runtime)


@pytest.fixture
def browser(client: TestClient) -> TestClient:
    """The same app as a browser: redirects are looked at, not followed."""
    client.follow_redirects = False
    return client


def launch(
    client: TestClient, auth: dict[str, str], body: Any, account: str = "new-acct"
) -> Response:
    return client.post(f"/v1.0/accounts/{account}/launch", json=body, headers=auth)


def launched(
    client: TestClient, auth: dict[str, str], body: Any, account: str = "new-acct"
) -> dict[str, Any]:
    response = launch(client, auth, body, account)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def connectors_of(client: TestClient, auth: dict[str, str], account: str) -> list[dict[str, Any]]:
    response = client.get("/v1.0/account/connectors", headers={**auth, "X-Cyclr-Account": account})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def return_url(url: str) -> str:
    """The ``returnUrl`` of a LAUNCH URL, decoded once (as any query parser does)."""
    values = parse_qs(urlsplit(url).query)
    assert list(values) == ["token", "returnUrl"]
    return values["returnUrl"][0]


def everything(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a LAUNCH call may write."""
    runtime.ctx.audit.flush()
    tables = (
        accounts,
        users,
        signin_tokens,
        account_connectors,
        credentials,
        properties,
        audit_log,
        events,
    )
    with runtime.engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in tables
        }


def test_launch_creates_the_account_and_installs_the_partner_connector(
    client: TestClient, auth: dict[str, str]
) -> None:
    """An unknown account is created from AccountName/AccountDescription; the array's connector
    is installed with its AuthValue and properties, authenticated, and marked as the partner
    integration connector; the response is Cyclr's four fields."""
    body = {
        "AccountName": "New Customer",
        "AccountDescription": "made by LAUNCH",
        "ConnectorAuthentications": [APIKEY_ENTRY],
    }
    result = launched(client, auth, body)
    assert set(result) == {"AccountId", "Token", "ExpiresAtUtc", "LaunchUrl"}
    assert result["AccountId"] == "new-acct"
    account = client.get("/v1.0/accounts/new-acct", headers=auth).json()
    assert (account["Name"], account["Description"]) == ("New Customer", "made by LAUNCH")
    [item] = connectors_of(client, auth, "new-acct")
    assert item["Connector"]["Id"] == APIKEY
    assert item["IsPartnerIntegrationConnector"] is True
    assert (item["Authenticated"], item["AuthState"]) == (True, "active")
    assert {p["Name"]: p["Value"] for p in item["Properties"]} == {"Subdomain": "acme"}
    assert result["LaunchUrl"].startswith(f"{SERVICE}/account/signinwithtoken?token=")
    assert parse_qs(urlsplit(result["LaunchUrl"]).query)["token"] == [result["Token"]]


def test_single_object_form_and_an_existing_account(
    client: TestClient, auth: dict[str, str], account: str
) -> None:
    """``ConnectorAuthentications`` as one object works like a one-item array; an existing
    account is used as it is (its name unchanged)."""
    result = launched(
        client, auth, {"AccountName": "Ignored", "ConnectorAuthentications": APIKEY_ENTRY}, account
    )
    assert result["AccountId"] == account
    assert client.get(f"/v1.0/accounts/{account}", headers=auth).json()["Name"] == "Acme"
    [item] = connectors_of(client, auth, account)
    assert (item["Authenticated"], item["IsPartnerIntegrationConnector"]) == (True, True)


def test_legacy_partner_connector_object(client: TestClient, auth: dict[str, str]) -> None:
    """Cyclr's older ``PartnerConnector`` body installs the same way (its properties carry the
    ``Id``/``AccountConnectorId`` fields Cyclr's docs show; they are ignored)."""
    legacy = {
        **APIKEY_ENTRY,
        "Properties": [{"Name": "Subdomain", "Value": "acme", "Id": 0, "AccountConnectorId": 0}],
    }
    launched(client, auth, {"AccountName": "Legacy", "PartnerConnector": legacy})
    [item] = connectors_of(client, auth, "new-acct")
    assert (item["Connector"]["Id"], item["Authenticated"]) == (APIKEY, True)
    assert item["IsPartnerIntegrationConnector"] is True


def test_string_typed_values_and_lower_case_keys(client: TestClient, auth: dict[str, str]) -> None:
    """As Cyclr's own tests send it: booleans as strings, lower-case keys, numbers where text is
    expected — all bound; the flags reach the URL."""
    body = {
        "accountName": "Strings",
        "connectorAuthentications": [
            {
                "name": "Test ApiKey",
                "version": 1.0,
                "authValue": "key-123",
                "properties": [
                    {"name": "Subdomain", "value": "acme"},
                    {"Name": "Region", "Value": 7},
                ],
            }
        ],
        "InlineOAuth": "false",
        "Start": "False",
        "RunOnce": "true",
        "AutoInstall": "",
        "wizard": "true",
        "completeParameter": 12345,
        "tags": "alpha, beta",
    }
    result = launched(client, auth, body)
    [item] = connectors_of(client, auth, "new-acct")
    assert {p["Name"]: p["Value"] for p in item["Properties"]} == {
        "Subdomain": "acme",
        "Region": "7",
    }
    assert item["Authenticated"] is True
    page = return_url(result["LaunchUrl"])
    assert page.startswith("/launch?")
    assert parse_qsl(urlsplit(page).query) == [
        ("inline", "false"),
        ("start", "false"),
        ("once", "true"),
        ("wizard", "true"),
        ("completeParameter", "12345"),
        ("tags", "alpha"),
        ("tags", "beta"),
    ]


def test_flags_are_carried_in_the_launch_url_as_cyclr_names_them(
    client: TestClient, auth: dict[str, str]
) -> None:
    """Every flag maps to Cyclr's URL name (``InlineOAuth`` → ``inline`` …) and reads as
    ``inline=false`` in the raw URL (what Cyclr's own tests look for); values are encoded."""
    body = {
        "InlineOAuth": False,
        "Start": False,
        "RunOnce": True,
        "AutoInstall": True,
        "SingleInstall": False,
        "Wizard": True,
        "DisplayDescriptions": True,
        "CompleteParameter": "done&next=1",
        "Tags": ["crm", "sales team"],
    }
    url = launched(client, auth, body)["LaunchUrl"]
    for raw in ("inline=false", "start=false", "once=true", "wizard=true", "descriptions=true"):
        assert raw in url
    assert "returnUrl=/launch?" in url
    query = parse_qs(urlsplit(return_url(url)).query)
    assert query == {
        "inline": ["false"],
        "start": ["false"],
        "once": ["true"],
        "auto": ["true"],
        "single": ["false"],
        "wizard": ["true"],
        "descriptions": ["true"],
        "completeParameter": ["done&next=1"],
        "tags": ["crm", "sales team"],
    }


def test_inline_defaults_to_false_and_inline_true_is_carried(
    client: TestClient, auth: dict[str, str]
) -> None:
    """Without InlineOAuth the URL says ``inline=false`` (Cyclr's default); true is kept."""
    plain = launched(client, auth, {})
    assert parse_qs(urlsplit(return_url(plain["LaunchUrl"])).query) == {"inline": ["false"]}
    inline = launched(client, auth, {"InlineOAuth": "true"})
    assert parse_qs(urlsplit(return_url(inline["LaunchUrl"])).query) == {"inline": ["true"]}


def test_marketplace_returns_a_marketplace_url(client: TestClient, auth: dict[str, str]) -> None:
    """``/marketplace`` answers ``MarketplaceUrl`` leading to ``/marketplace`` with its id."""
    response = client.post(
        "/v1.0/accounts/new-acct/marketplace",
        json={
            "MarketplaceId": 42,
            "InlineOAuth": "false",
            "ConnectorAuthentications": [APIKEY_ENTRY],
        },
        headers=auth,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert set(result) == {"AccountId", "Token", "ExpiresAtUtc", "MarketplaceUrl"}
    page = return_url(result["MarketplaceUrl"])
    assert page == "/marketplace?inline=false&marketplaceId=42"
    assert connectors_of(client, auth, "new-acct")[0]["Authenticated"] is True


@pytest.mark.parametrize("surface", ["launch", "marketplace"])
def test_user_variants_take_the_account_and_user_from_the_body(
    client: TestClient, auth: dict[str, str], api_client: tuple[str, str], surface: str
) -> None:
    """``/v1.0/users/launch|marketplace``: AccountId and Username in the body; the account and
    the user are created; the user can sign in with the given Password."""
    body = {
        "AccountId": "user-acct",
        "AccountName": "User Account",
        "Username": "dana",
        "Password": "secret-pw",
        "ConnectorAuthentications": APIKEY_ENTRY,
    }
    response = client.post(f"/v1.0/users/{surface}", json=body, headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["AccountId"] == "user-acct"
    assert client.get("/v1.0/accounts/user-acct/users", headers=auth).json() == ["dana"]
    issued = client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": api_client[0],
            "username": "dana",
            "password": "secret-pw",
        },
    )
    assert issued.status_code == 200, issued.text
    assert connectors_of(client, auth, "user-acct")[0]["IsPartnerIntegrationConnector"] is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"AccountId": "user-acct"}, "Username is required."),
        ({"Username": "dana"}, "AccountId is required."),
    ],
)
def test_user_variants_need_account_and_username(
    client: TestClient, auth: dict[str, str], runtime: Runtime, body: Any, message: str
) -> None:
    """Without AccountId or Username the user variants are a 400 that creates nothing."""
    before = everything(runtime)
    response = client.post("/v1.0/users/launch", json=body, headers=auth)
    assert response.status_code == 400, response.text
    assert response.json()["Message"] == message
    assert everything(runtime) == before


def test_an_installed_connector_is_updated_not_installed_again(
    client: TestClient, auth: dict[str, str], acct: dict[str, str], account: str
) -> None:
    """When the account has the connector already, LAUNCH updates that one (AuthValue,
    properties, the partner flag) instead of installing a second."""
    first = client.post(f"/v1.0/connectors/{APIKEY}/install", json={}, headers=acct).json()
    assert first["Authenticated"] is False
    launched(client, auth, {"ConnectorAuthentications": [APIKEY_ENTRY]}, account)
    [item] = connectors_of(client, auth, account)
    assert item["Id"] == first["Id"]
    assert (item["Authenticated"], item["IsPartnerIntegrationConnector"]) == (True, True)
    assert {p["Name"]: p["Value"] for p in item["Properties"]} == {"Subdomain": "acme"}


def test_two_connectors_in_one_call(client: TestClient, auth: dict[str, str]) -> None:
    """Several partner connectors are all applied (one with an AuthenticationId, no AuthValue)."""
    body = {
        "ConnectorAuthentications": [
            APIKEY_ENTRY,
            {"Id": str(OAUTH), "AuthenticationId": CODE_AUTH, "AuthValue": ""},
        ]
    }
    launched(client, auth, body)
    found = {i["Connector"]["Id"]: i for i in connectors_of(client, auth, "new-acct")}
    assert set(found) == {APIKEY, OAUTH}
    assert found[OAUTH]["Authenticated"] is False
    assert found[OAUTH]["AuthenticationId"] == CODE_AUTH
    assert found[OAUTH]["IsPartnerIntegrationConnector"] is True


BAD_BODIES = [
    pytest.param(
        {"ConnectorAuthentications": [{**APIKEY_ENTRY, "Name": "Nope"}]},
        "ConnectorAuthentications: Connector 'Nope' version '1.0' is not in the catalog.",
        id="unknown-connector",
    ),
    pytest.param(
        {"ConnectorAuthentications": [{**APIKEY_ENTRY, "Version": "9.9"}]},
        "ConnectorAuthentications: Connector 'Test ApiKey' version '9.9' is not in the catalog.",
        id="unknown-version",
    ),
    pytest.param(
        {"ConnectorAuthentications": [APIKEY_ENTRY, {"Id": OAUTH, "AuthValue": "{not json"}]},
        "ConnectorAuthentications[1]: ",
        id="bad-oauth-authvalue-in-the-second",
    ),
    pytest.param(
        {"ConnectorAuthentications": [{**APIKEY_ENTRY, "Properties": [{"Name": "Nope"}]}]},
        "ConnectorAuthentications: There is not a connector property that matches name 'Nope'.",
        id="unknown-property",
    ),
    pytest.param(
        {
            "ConnectorAuthentications": [
                {**APIKEY_ENTRY, "Properties": [{"Name": "Subdomain", "Value": "NOT OK"}]}
            ]
        },
        "ConnectorAuthentications: The value of property 'Subdomain' does not match",
        id="property-pattern",
    ),
    pytest.param(
        {"ConnectorAuthentications": [{**APIKEY_ENTRY, "AuthenticationId": "nope"}]},
        "ConnectorAuthentications: AuthenticationId 'nope' is not an authentication method",
        id="unknown-authentication",
    ),
    pytest.param(
        {"ConnectorAuthentications": [APIKEY_ENTRY, APIKEY_ENTRY]},
        "ConnectorAuthentications[1]: Connector 9001 is given more than once.",
        id="duplicate",
    ),
    pytest.param(
        {"ConnectorAuthentications": [{"AuthValue": "x"}]},
        "ConnectorAuthentications: each partner connector needs a Name (or an Id).",
        id="no-name",
    ),
    pytest.param(
        {"ConnectorAuthentications": [APIKEY_ENTRY], "PartnerConnector": APIKEY_ENTRY},
        "Give either ConnectorAuthentications or PartnerConnector, not both.",
        id="both-forms",
    ),
    pytest.param({"InlineOAuth": "maybe"}, "InlineOAuth", id="bad-boolean"),
    pytest.param({"ConnectorAuthentications": 5}, "ConnectorAuthentications", id="not-a-list"),
    pytest.param({"AccountName": "   "}, "Name is required", id="blank-name"),
    pytest.param([1, 2], "The request body must be a JSON object.", id="array-body"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
def test_bad_bodies_are_400_and_change_nothing(
    client: TestClient, auth: dict[str, str], runtime: Runtime, body: Any, message: str
) -> None:
    """Bad input is a 400 with a clear Message, and nothing is stored: not the account, nor
    the user, a connector, a property, a credential, an event or a sign-in token."""
    before = everything(runtime)
    response = launch(client, auth, body)
    assert response.status_code == 400, response.text
    assert message in response.json()["Message"]
    assert everything(runtime) == before
    assert client.get("/v1.0/accounts/new-acct", headers=auth).status_code == 404


def test_bad_second_connector_rolls_back_the_first_on_an_existing_account(
    client: TestClient, auth: dict[str, str], acct: dict[str, str], account: str, runtime: Runtime
) -> None:
    """A refused entry after a valid one leaves the existing account exactly as it was."""
    client.post(f"/v1.0/connectors/{APIKEY}/install", json={}, headers=acct)
    before = everything(runtime)
    body = {"ConnectorAuthentications": [APIKEY_ENTRY, {"Id": OAUTH, "AuthValue": "{oops"}]}
    assert launch(client, auth, body, account).status_code == 400
    assert everything(runtime) == before


def test_K03_a_restricted_token_reaches_only_its_account(
    client: TestClient, auth: dict[str, str], api_client: tuple[str, str], account: str
) -> None:
    """A token restricted to ``acme`` may LAUNCH ``acme`` but neither another account nor, in
    the user variant, an AccountId of another account (403)."""
    restricted = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": api_client[0],
            "client_secret": api_client[1],
            "scope": f"account:{account}",
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {restricted}"}
    assert launch(client, headers, {}, account).status_code == 200
    assert launch(client, headers, {}, "other").status_code == 403
    body = {"AccountId": "other", "Username": "dana"}
    assert client.post("/v1.0/users/launch", json=body, headers=headers).status_code == 403


# -- the URL: /account/signinwithtoken -------------------------------------------------------


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def test_L05_signin_consumes_the_token_once_and_redirects_without_it(
    browser: TestClient, auth: dict[str, str]
) -> None:
    """The LAUNCH URL works once: a 303 to the ``returnUrl`` page (no token in it) under
    ``Referrer-Policy: no-referrer``, with an HttpOnly 30-minute session cookie; a second use
    is Cyclr's 403 page and sets nothing."""
    result = launched(browser, auth, {"InlineOAuth": "false", "Start": "false"})
    url = _path_of(result["LaunchUrl"])
    first = browser.get(url)
    assert first.status_code == 303
    assert first.headers["location"] == "/launch?inline=false&start=false"
    assert result["Token"] not in first.headers["location"]
    assert first.headers["referrer-policy"] == "no-referrer"
    assert first.headers["cache-control"] == "no-store"
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("tw_connect=")
    for attribute in ("HttpOnly", "Max-Age=1800", "Path=/", "SameSite=lax"):
        assert attribute in cookie
    assert "Secure" not in cookie  # http: SameSite=Lax, as the binding cookie
    page = browser.get(first.headers["location"])
    assert page.status_code == 200
    assert "Connect your services" in page.text
    second = browser.get(url)
    assert second.status_code == 403
    assert "403 - Forbidden: Access is denied." in second.text
    assert "set-cookie" not in second.headers


def test_signin_path_matches_in_any_case(browser: TestClient, auth: dict[str, str]) -> None:
    """``/Account/SignInWithToken`` (as .NET routing accepts it) is the same sign-in."""
    result = launched(browser, auth, {"InlineOAuth": "false"})
    url = _path_of(result["LaunchUrl"]).replace(
        "/account/signinwithtoken", "/Account/SignInWithToken"
    )
    answer = browser.get(url)
    assert answer.status_code == 303
    assert answer.headers["set-cookie"].startswith("tw_connect=")


@pytest.mark.parametrize(("seconds", "status"), [(299, 303), (301, 403)])
def test_K02_signin_token_lasts_five_minutes(
    browser: TestClient, auth: dict[str, str], clock: FakeClock, seconds: int, status: int
) -> None:
    """The LAUNCH URL's token expires five minutes after the call."""
    result = launched(browser, auth, {})
    clock.advance(seconds)
    assert browser.get(_path_of(result["LaunchUrl"])).status_code == status


def test_session_lasts_thirty_minutes(
    browser: TestClient, auth: dict[str, str], clock: FakeClock
) -> None:
    """The connect session ends 30 minutes after the sign-in (the page says so, 403)."""
    result = launched(browser, auth, {})
    browser.get(_path_of(result["LaunchUrl"]))
    clock.advance(29 * 60)
    assert browser.get("/connect").status_code == 200
    clock.advance(2 * 60)
    ended = browser.get("/connect")
    assert ended.status_code == 403
    assert "Your session has ended" in ended.text


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/connect",
        "//evil.example/connect",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "",
    ],
)
def test_W01_return_url_elsewhere_falls_back_to_the_connect_page(
    browser: TestClient, auth: dict[str, str], target: str
) -> None:
    """Only a path of this service is followed; any other ``returnUrl`` leads to /connect."""
    token = launched(browser, auth, {})["Token"]
    response = browser.get("/account/signinwithtoken", params={"token": token, "returnUrl": target})
    assert response.status_code == 303
    assert response.headers["location"] == "/connect"


def test_unencoded_return_url_is_read_whole(browser: TestClient, auth: dict[str, str]) -> None:
    """A partner that does not encode ``returnUrl`` still lands on the page with every flag."""
    token = launched(browser, auth, {})["Token"]
    response = browser.get(
        f"/account/signinwithtoken?token={token}&returnUrl=/launch?inline=true&start=false"
    )
    assert response.headers["location"] == "/launch?inline=true&start=false"


def test_W08_connect_page_headers_and_content(browser: TestClient, auth: dict[str, str]) -> None:
    """The connect page lists the account's connectors with their state and sends the
    webflow pages' headers: nonce CSP, frame-ancestors = the partner's allowed origins,
    no-referrer, no-store; its one script carries the nonce."""
    body = {
        "ConnectorAuthentications": [
            APIKEY_ENTRY,
            {
                "Id": str(OAUTH),
                "Properties": [
                    {"Name": "Subdomain", "Value": "acme"},
                    {"Name": "SigningSecret", "Value": "canary-signing-secret"},
                ],
            },
        ]
    }
    result = launched(browser, auth, body)
    location = browser.get(_path_of(result["LaunchUrl"])).headers["location"]
    page = browser.get(location)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert "default-src 'none'" in csp
    assert "frame-ancestors https://partner.example" in csp
    assert "form-action 'self'" in csp
    assert "x-frame-options" not in page.headers
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert f'<script nonce="{nonce}">' in page.text
    assert "Test ApiKey" in page.text
    assert "Connected" in page.text
    assert "Not connected" in page.text
    assert "/connect/start?ac=" in page.text
    assert "http://" not in page.text.replace(SERVICE, "")  # no other origin's assets
    assert result["Token"] not in page.text
    assert "canary-signing-secret" not in page.text  # sensitive values are never shown


def test_connect_actions_need_the_session_and_its_csrf_token(
    browser: TestClient, auth: dict[str, str]
) -> None:
    """Without the session cookie, or with a wrong CSRF token, starting a flow or saving
    properties is refused (the session-ended page) and nothing starts."""
    body = {"ConnectorAuthentications": [{"Id": str(OAUTH), "AuthenticationId": CODE_AUTH}]}
    result = launched(browser, auth, body)
    ac_id = connectors_of(browser, auth, "new-acct")[0]["Id"]
    browser.get(_path_of(result["LaunchUrl"]))
    refused = browser.get(f"/connect/start?ac={ac_id}&mode=redirect&csrf=wrong")
    assert refused.status_code == 403
    saved = browser.post(
        "/connect/properties", data={"ac": str(ac_id), "csrf": "wrong", "property:Subdomain": "x"}
    )
    assert saved.status_code == 403
    browser.cookies.clear()
    assert browser.get(f"/connect/start?ac={ac_id}&mode=redirect&csrf=x").status_code == 403


# -- "{}": authenticating lazily -------------------------------------------------------------


@pytest.fixture
def api(client: TestClient, runtime: Runtime) -> Iterator[TestClient]:
    yield client
    close_transport(client, runtime)


def test_empty_auth_value_authenticates_lazily_at_first_use(
    api: TestClient, auth: dict[str, str], provider: ProviderDouble
) -> None:
    """``"{}"`` in LAUNCH stores a pending credential: the partner connector is not
    Authenticated until its first use, which fetches a token with client credentials."""
    definition = {
        "Name": "Double Client Credentials",
        "Version": "1.0",
        "BaseUrl": f"{provider.url}/api",
        "Authentication": [
            {
                "AuthName": "OAuth 2.0",
                "AuthType": "OAuth2",
                "OAuth2Type": "ClientCredentials",
                "AccessTokenUrl": f"{provider.url}/token",
                "ClientAuthMethod": "client_secret_basic",
            }
        ],
    }
    created = api.post("/v1.0/connectors", json=definition, headers=auth)
    assert created.status_code == 200, created.text
    cid = created.json()["Id"]
    library = {"ClientId": provider.client.client_id, "ClientSecret": provider.client.client_secret}
    assert api.put(f"/v1.0/applicationconnectors/{cid}", json=library, headers=auth).is_success
    body = {"ConnectorAuthentications": [{"Name": "Double Client Credentials", "AuthValue": "{}"}]}
    launched(api, auth, body)
    [item] = connectors_of(api, auth, "new-acct")
    assert (item["Authenticated"], item["AuthState"], item["AuthValue"]) == (
        False,
        "unauthenticated",
        "{}",
    )
    assert provider.requests_to("/token") == []
    acct = {**auth, "X-Cyclr-Account": "new-acct"}
    token = api.get(f"/v1.0/account/connectors/{item['Id']}/token", headers=acct)
    assert token.status_code == 200, token.text
    assert token.json()["AccessToken"]
    assert [r.form.get("grant_type") for r in provider.requests_to("/token")] == [
        "client_credentials"
    ]
    after = connectors_of(api, auth, "new-acct")[0]
    assert (after["Authenticated"], after["AuthState"]) == (True, "active")


def test_the_launch_url_returnurl_is_percent_encoded_safely(
    client: TestClient, auth: dict[str, str]
) -> None:
    """A tag with ``&``, ``#`` or ``%`` cannot add parameters to the outer URL."""
    url = launched(client, auth, {"Tags": ["a&token=x#y%z"]})["LaunchUrl"]
    assert "#" not in url
    assert parse_qs(urlsplit(return_url(url)).query)["tags"] == ["a&token=x#y%z"]
