"""The acceptance tour of the partner API: every call, over a real socket, against a real
``tokenward serve`` on a random 127.0.0.1 port — once on the embedded SQLite default and once on
PostgreSQL (a private schema, ``serve --migrate``).

One server per backend serves the whole module; each test makes its own accounts (unique Ids), so
the tests do not depend on their order. Every response passes through a hook asserting
``X-Content-Type-Options: nosniff``."""

from __future__ import annotations

import json
import math
import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from serving import (
    Deployment,
    Server,
    bearer,
    clean_env,
    create_client,
    pg_schema_url,
    random_keys,
)

from tokenward.catalog.loader import load_catalog

pytestmark = pytest.mark.slow

MASK = "********"
TWO_WEEKS = 14 * 24 * 3600
GENERIC_OAUTH2 = 1001
GENERIC_API_KEY = 1002
SALESFORCE = 1010
GOOGLE_DRIVE = 1030
GET_ABOUT = 103001
GET_ABOUT_GUID = "d702da11-660a-4477-9499-59df76812248"
BUILTIN = len(load_catalog())  # the shipped catalog
TOKEN_KEYS = {"access_token", "token_type", "expires_in", "clientId", ".issued", ".expires"}
AC_LIST = "/v1.0/account/connectors"
TOKENS = json.dumps(
    {"AccessToken": "tour-access", "RefreshToken": "tour-refresh", "Expires": "2031-01-01T00:00Z"}
)


def _nosniff(response: httpx.Response) -> None:
    """Response hook: every answer of the server carries ``X-Content-Type-Options: nosniff``."""
    request = response.request
    assert response.headers.get("x-content-type-options") == "nosniff", (
        f"{request.method} {request.url} answered {response.status_code} without nosniff"
    )


def ok(response: httpx.Response) -> Any:
    """The JSON body of a 200."""
    assert response.status_code == 200, f"{response.status_code}: {response.text}"
    return response.json()


def refused(response: httpx.Response, status: int, code: str, message: str | None = None) -> None:
    """An error answer: the status, the stable Code and (where given) Cyclr's exact Message."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body = response.json()
    assert set(body) == {"Message", "Code"}
    assert body["Code"] == code
    if message is not None:
        assert body["Message"] == message


def has(actual: dict[str, Any], **expected: Any) -> bool:
    """Whether ``actual`` holds each ``expected`` field with that value."""
    return {key: actual.get(key) for key in expected} == expected


def ac_url(ac_id: int, suffix: str = "") -> str:
    return f"{AC_LIST}/{ac_id}{suffix}"


@dataclass
class Tour:
    """The served backend, an API client made by the CLI, and a keep-alive HTTP client."""

    server: Server
    client: tuple[str, str]
    http: httpx.Client
    partner: dict[str, str]

    def token(self, **fields: str) -> httpx.Response:
        form = {"grant_type": "client_credentials", "client_id": self.client[0]}
        form["client_secret"] = self.client[1]
        return self.http.post("/oauth/token", data={**form, **fields})

    def restricted(self, account_id: str) -> dict[str, str]:
        """Bearer headers of a token restricted to ``account_id`` (``scope=account:{id}``)."""
        return bearer(ok(self.token(scope=f"account:{account_id}"))["access_token"])

    def account(self, name: str = "Tour") -> str:
        """A new account with a unique Id."""
        account_id = f"{name.lower()}-{secrets.token_hex(4)}"
        body = {"Id": account_id, "Name": name}
        ok(self.http.post("/v1.0/accounts", json=body, headers=self.partner))
        return account_id

    def acct(self, account_id: str) -> dict[str, str]:
        """Headers of an account-level call on ``account_id``."""
        return {**self.partner, "X-Cyclr-Account": account_id}

    def send(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """One call with a JSON body (none when ``body`` is None); partner headers by default."""
        return self.http.request(
            method, path, json=body, headers=self.partner if headers is None else headers
        )

    def install(self, headers: dict[str, str], ref: int | str, body: Any = None) -> httpx.Response:
        path = f"/v1.0/connectors/{ref}/install"
        if body is None:
            return self.http.post(path, headers=headers)
        return self.http.post(path, json=body, headers=headers)

    def installed(self, account_id: str, ref: int | str, body: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = ok(self.install(self.acct(account_id), ref, body))
        return result

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        """The JSON body of a 200 answer to a GET."""
        return ok(self.http.get(path, headers=headers or self.partner, params=params))

    def listing(
        self, path: str, headers: dict[str, str] | None = None, **params: Any
    ) -> tuple[list[Any], int, int]:
        """A paged list: its items, ``Total-Records`` and ``Total-Pages``."""
        response = self.http.get(path, headers=headers or self.partner, params=params)
        items: list[Any] = ok(response)
        records, pages = response.headers["Total-Records"], response.headers["Total-Pages"]
        return items, int(records), int(pages)


def _serve(stack: ExitStack, backend: str, cwd: Path) -> Server:
    if backend == "sqlite":  # the embedded default: no settings at all, in an empty folder
        deployment = Deployment(cwd, clean_env())
    else:
        url = stack.enter_context(pg_schema_url("tw_tour"))
        env = clean_env(database_url=url, encryption_keys=random_keys())
        deployment = Deployment(cwd, env, "--migrate")
    stack.callback(deployment.server.stop)
    return deployment.server


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def tour(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tour]:
    """One ``tokenward serve`` per backend, an API client from ``tokenward apiclient create``
    (same folder and environment) and a partner bearer token."""
    with ExitStack() as stack:
        server = _serve(stack, request.param, tmp_path_factory.mktemp(f"tour-{request.param}"))
        client = create_client(server, "tour")
        http = stack.enter_context(
            httpx.Client(base_url=server.url, timeout=30, event_hooks={"response": [_nosniff]})
        )
        tour = Tour(server, client, http, {})
        tour.partner = bearer(ok(tour.token())["access_token"])
        yield tour


def test_oauth_token_client_credentials_and_account_scope(tour: Tour) -> None:
    """POST /oauth/token answers Cyclr's shape; scope=account:{id} restricts the token to that
    account (another account or a partner-level call is 403); a bad secret is 401."""
    body = ok(tour.token())
    assert set(body) == TOKEN_KEYS
    assert has(body, token_type="bearer", expires_in=TWO_WEEKS, clientId=tour.client[0])
    assert body[".expires"].endswith(" GMT")
    mine, other = tour.account("Mine"), tour.account("Other")
    restricted = tour.restricted(mine)
    assert tour.get(f"/v1.0/accounts/{mine}", restricted)["Id"] == mine
    denied = tour.send("GET", f"/v1.0/accounts/{other}", headers=restricted)
    refused(denied, 403, "account_forbidden", "This token is restricted to another account.")
    created = tour.send("POST", "/v1.0/accounts", {"Name": "X"}, restricted)
    refused(created, 403, "account_forbidden")
    bad = tour.token(client_secret="not-the-secret")
    assert (bad.status_code, bad.json()["error"]) == (401, "invalid_client")


def test_accounts_crud(tour: Tour) -> None:
    """Accounts: create with and without Id, duplicate Id and missing Name (Cyclr's 400s), get,
    paged list with Total-* headers, partial PUT, delete."""
    account_id = f"acme-{secrets.token_hex(4)}"
    body = {"Id": account_id, "Name": "Acme", "Description": "d", "Timezone": "Europe/London"}
    created = ok(tour.send("POST", "/v1.0/accounts", body))
    assert {key: created[key] for key in body} == body
    assert created["CreatedDate"].endswith("Z")
    generated = ok(tour.send("POST", "/v1.0/accounts", {"Name": "No Id"}))
    uuid.UUID(generated["Id"])
    duplicate = tour.send("POST", "/v1.0/accounts", {"Id": account_id, "Name": "Second"})
    refused(duplicate, 400, "id_in_use", "ID already in use")
    nameless = tour.send("POST", "/v1.0/accounts", {"Id": "nameless"})
    refused(nameless, 400, "name_required", "Name is required")
    assert tour.get(f"/v1.0/accounts/{account_id}") == created
    _check_account_paging(tour, {account_id, generated["Id"]})
    changed = ok(tour.send("PUT", f"/v1.0/accounts/{account_id}", {"description": "new"}))
    assert changed == {**created, "Description": "new"}
    assert tour.get(f"/v1.0/accounts/{account_id}") == changed
    deleted = ok(tour.send("DELETE", f"/v1.0/accounts/{account_id}"))
    assert deleted == {"Message": f"Account '{account_id}' deleted."}
    missing = tour.send("GET", f"/v1.0/accounts/{account_id}")
    refused(missing, 404, "account_not_found", f"Account '{account_id}' not found.")


def _check_account_paging(tour: Tour, expected: set[str]) -> None:
    everything, records, _ = tour.listing("/v1.0/accounts", pageSize=1000)
    ids = sorted(account["Id"] for account in everything)
    assert expected <= set(ids)
    assert records == len(ids)
    page, records, pages = tour.listing("/v1.0/accounts", pageSize=2, page=2, orderBy="Id")
    assert [account["Id"] for account in page] == ids[2:4]
    assert (records, pages) == (len(ids), math.ceil(len(ids) / 2))


def test_lenient_json5_body(tour: Tour) -> None:
    """A JSON5 body (bare keys, single quotes, trailing comma) is accepted; what still does not
    parse is a 400."""
    headers = {**tour.partner, "Content-Type": "application/json"}
    json5 = "{name: 'x', id: 'json5-x',}"
    lenient = tour.http.post("/v1.0/accounts", content=json5, headers=headers)
    assert (ok(lenient)["Id"], lenient.json()["Name"]) == ("json5-x", "x")
    garbage = tour.http.post("/v1.0/accounts", content="{Name: ", headers=headers)
    refused(garbage, 400, "invalid_json")


def test_users_and_passwords(tour: Tour) -> None:
    """Users: PUT adds one, GET lists names, PUT /v1.0/users sets the password (the legacy
    password grant then takes the new one only), DELETE removes the user."""
    account_id = tour.account("Users")
    users = f"/v1.0/accounts/{account_id}/users"
    name = f"ann-{secrets.token_hex(3)}"
    added = ok(tour.send("PUT", users, {"UserName": name, "Password": "first-pw"}))
    assert added == {"Message": f"User '{name}' saved."}
    assert tour.get(users) == [name]
    changed = ok(tour.send("PUT", "/v1.0/users", {"username": name, "password": "second-pw"}))
    assert changed == {"Message": f"Password of '{name}' set."}
    assert _password_grant(tour, name, "first-pw").json()["error"] == "invalid_grant"
    token = ok(_password_grant(tour, name, "second-pw"))
    assert "refresh_token" in token
    own = tour.get(f"/v1.0/accounts/{account_id}", bearer(token["access_token"]))
    assert own["Id"] == account_id
    removed = ok(tour.send("DELETE", users, {"UserName": name}))
    assert removed == {"Message": f"User '{name}' removed."}
    assert tour.get(users) == []
    again = tour.send("DELETE", users, {"UserName": name})
    refused(again, 404, "user_not_found", f"User '{name}' not found.")


def _password_grant(tour: Tour, username: str, password: str) -> httpx.Response:
    form = {"grant_type": "password", "client_id": tour.client[0]}
    return tour.http.post("/oauth/token", data={**form, "username": username, "password": password})


def test_signin_token(tour: Tour) -> None:
    """POST …/signintoken returns a URL-safe token valid for 5 minutes and creates the user;
    an unknown account is 404."""
    account_id = tour.account("SignIn")
    before = datetime.now(UTC)
    issued = ok(tour.send("POST", f"/v1.0/accounts/{account_id}/signintoken", {"Username": "sam"}))
    assert set(issued) == {"Token", "ExpiresAtUtc"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", issued["Token"])
    assert issued["ExpiresAtUtc"].endswith("Z")
    lifetime = datetime.fromisoformat(issued["ExpiresAtUtc"]) - before
    assert timedelta(minutes=4) < lifetime < timedelta(minutes=6)
    assert tour.get(f"/v1.0/accounts/{account_id}/users") == ["sam"]
    unknown = tour.send("POST", "/v1.0/accounts/nobody-here/signintoken", {"Username": "sam"})
    refused(unknown, 404, "account_not_found")


def test_connector_catalog(tour: Tour) -> None:
    """GET /v1.0/connectors with query and category filters and paging; by Id (an object), by
    Name and by Name/Version (arrays); an unknown name is 404."""
    builtin, records, _ = tour.listing(
        "/v1.0/connectors", includeCustomConnectors="false", pageSize=1000
    )
    assert len(builtin) == records == BUILTIN
    found = tour.get("/v1.0/connectors", query="GOOGLE DRIVE")
    assert [c["Name"] for c in found] == ["Google Drive"]
    crm = tour.get("/v1.0/connectors", category="crm")
    assert {"Salesforce", "HubSpot"} <= {c["Name"] for c in crm}
    page, records, pages = tour.listing("/v1.0/connectors", pageSize=3, page=1)
    assert (len(page), pages) == (3, math.ceil(records / 3))
    drive = tour.get(f"/v1.0/connectors/{GOOGLE_DRIVE}")
    assert has(drive, Name="Google Drive", AuthType="OAuth2", OAuth2Type="AuthorisationCode")
    assert tour.get("/v1.0/connectors/google drive") == [drive]
    assert [c["Name"] for c in tour.get("/v1.0/connectors/Xero/1.0")] == ["Xero"]
    missing = tour.send("GET", "/v1.0/connectors/Nope")
    refused(missing, 404, "connector_not_found", "Connector 'Nope' not found.")


def test_connector_methods(tour: Tour) -> None:
    """Methods by connector Id, Name and Name/Version (the same list; query and category
    filters) and one method by Id or MethodUniqueIdentifier; an unknown method is 404."""
    base = f"/v1.0/connectors/{GOOGLE_DRIVE}/methods"
    methods, records, _ = tour.listing(base)
    assert records == len(methods) == 3
    assert tour.get("/v1.0/connectors/Google Drive/methods") == methods
    assert tour.get("/v1.0/connectors/google drive/1.0/methods") == methods
    assert [m["Name"] for m in tour.get(base, category="files")] == ["List Files", "Get File"]
    assert [m["Name"] for m in tour.get(base, query="quota")] == ["Get About"]
    method = tour.get(f"/v1.0/methods/{GET_ABOUT}")
    assert has(method, MethodUniqueIdentifier=GET_ABOUT_GUID, ConnectorId=GOOGLE_DRIVE)
    assert method in methods
    assert tour.get(f"/v1.0/methods/{GET_ABOUT_GUID.upper()}") == method
    missing = tour.send("GET", "/v1.0/methods/42")
    refused(missing, 404, "method_not_found", "Method '42' not found.")


def test_application_connectors(tour: Tour) -> None:
    """The library entry: PUT, GET one and the list all read ClientSecret back as "********";
    the mask written back keeps the secret; an unknown connector is 404."""
    url = f"/v1.0/applicationconnectors/{SALESFORCE}"
    assert tour.get(url)["ClientSecret"] is None
    entry = {"ClientId": "sf-client", "ClientSecret": "tour-sf-secret", "Scopes": ["api"]}
    saved = ok(tour.send("PUT", url, {**entry, "Settings": {"Sandbox": "false"}}))
    expected = {
        "ConnectorId": SALESFORCE,
        "ConnectorName": "Salesforce",
        "ConnectorVersion": "1.0",
        **entry,
        "ClientSecret": MASK,
        "Settings": {"Sandbox": "false"},
        "Enabled": True,
    }
    assert saved == expected
    assert tour.get(url) == expected
    listed, records, _ = tour.listing("/v1.0/applicationconnectors")
    assert expected in listed
    assert records == len(listed)
    assert "tour-sf-secret" not in json.dumps(listed)
    disabled = ok(tour.send("PUT", url, {**saved, "Enabled": "false"}))
    assert disabled == {**expected, "Enabled": False}
    missing = tour.send("GET", "/v1.0/applicationconnectors/999")
    refused(missing, 404, "connector_not_found", "Connector '999' not found.")


CUSTOM = {
    "Name": "Tour CRM",
    "Version": "1",
    "Description": "The tour's in-house CRM",
    "Categories": ["Tour"],
    "BaseUrl": "https://{{Subdomain}}.tour-crm.example/api",
    "Parameters": [{"Name": "Subdomain", "Pattern": "^[a-z0-9-]{1,63}$"}],
    "Authentication": [{"AuthName": "API key", "AuthType": "ApiKey", "AuthScheme": "X-Tour-Key"}],
    "Methods": [{"Name": "Get Me", "Category": "Users", "EndPoint": "/me"}],
}


def test_custom_connector_lifecycle(tour: Tour) -> None:
    """POST /v1.0/connectors makes a custom connector (Id from 100000) that installs like any
    other; PUT replaces it; DELETE is refused while it is installed, then removes it; catalog
    connectors cannot be deleted."""
    created = ok(tour.send("POST", "/v1.0/connectors", CUSTOM))
    connector_id = created["Id"]
    url = f"/v1.0/connectors/{connector_id}"
    assert connector_id >= 100_000
    uuid.UUID(created["Methods"][0]["MethodUniqueIdentifier"])
    item = tour.get(url)
    assert (item["IsSystemConnector"], item["AuthScheme"]) == (False, "X-Tour-Key")
    updated = ok(tour.send("PUT", url, {**created, "Description": "Renamed"}))
    assert updated == {**created, "Description": "Renamed"}
    account_id = tour.account("Custom")
    body = {"AuthValue": "k", "Properties": [{"Name": "Subdomain", "Value": "acme"}]}
    installed = tour.installed(account_id, connector_id, body)
    message = (
        f"Connector {connector_id} is installed in 1 account connector(s); delete those first."
    )
    refused(tour.send("DELETE", url), 400, "connector_in_use", message)
    ok(tour.send("DELETE", ac_url(installed["Id"]), headers=tour.acct(account_id)))
    assert ok(tour.send("DELETE", url)) == {"Message": "Connector 'Tour CRM' deleted."}
    refused(tour.send("GET", url), 404, "connector_not_found")
    refused(tour.send("DELETE", f"/v1.0/connectors/{SALESFORCE}"), 400, "connector_not_custom")


def test_partner_settings(tour: Tour) -> None:
    """GET/PUT /v1.0/partner/settings: partial, canonical origins, write-only webhook secret, a
    sign-in token lifetime that takes effect; null resets; a restricted token gets 403."""
    url = "/v1.0/partner/settings"
    defaults = tour.get(url)
    assert has(defaults, ApiTokenLifetimeSeconds=TWO_WEEKS, SignInTokenLifetimeSeconds=300)
    change = {
        "AllowedTargetOrigins": ["HTTPS://App.Partner.example:443/"],
        "WebhookUrl": "https://hooks.partner.example/tokenward",
        "WebhookSecret": "tour-webhook-secret-0123456789",
        "SignInTokenLifetimeSeconds": "600",
    }
    saved = ok(tour.send("PUT", url, change))
    assert saved["AllowedTargetOrigins"] == ["https://app.partner.example"]
    assert "https://app.partner.example" in saved["EffectiveAllowedTargetOrigins"]
    assert (saved["WebhookUrl"], saved["WebhookSecret"]) == (change["WebhookUrl"], MASK)
    assert (saved["SignInTokenLifetimeSeconds"], saved["RevealPartnerAuthValue"]) == (600, False)
    assert tour.get(url) == saved
    account_id = tour.account("Settings")
    issued = ok(tour.send("POST", f"/v1.0/accounts/{account_id}/signintoken", {"Username": "u"}))
    lifetime = datetime.fromisoformat(issued["ExpiresAtUtc"]) - datetime.now(UTC)
    assert timedelta(minutes=9) < lifetime <= timedelta(minutes=10)
    refused(tour.send("GET", url, headers=tour.restricted(account_id)), 403, "account_forbidden")
    assert ok(tour.send("PUT", url, dict.fromkeys(change))) == defaults


def test_install_by_id_and_by_name(tour: Tour) -> None:
    """Install by Id with AuthValue and Properties matched by name; by Name with no body at all
    (defaults; "Name (2)" when taken); an unknown property is Cyclr's 400 and stores nothing;
    the account header is required."""
    account_id = tour.account("Install")
    props = [{"Name": "baseurl", "Value": "https://api.example.com/v1", "Id": 0}]
    body = {"Name": "Keyed", "AuthValue": "tour-api-key", "Properties": props}
    keyed = tour.installed(account_id, GENERIC_API_KEY, body)
    assert (keyed["Name"], keyed["Authenticated"], keyed["AuthState"]) == ("Keyed", True, "active")
    assert (keyed["AuthValue"], keyed["Connector"]["Id"]) == (MASK, GENERIC_API_KEY)
    [prop] = keyed["Properties"]
    assert has(prop, Name="BaseUrl", Value=props[0]["Value"], AccountConnectorId=keyed["Id"])
    bare = tour.installed(account_id, "Generic OAuth 2.0")
    assert has(bare, Name="Generic OAuth 2.0", Authenticated=False, AuthValue=None)
    assert bare["Connector"]["Id"] == GENERIC_OAUTH2
    assert tour.installed(account_id, "generic oauth 2.0")["Name"] == "Generic OAuth 2.0 (2)"
    before = tour.get(AC_LIST, tour.acct(account_id))
    colour = {"Properties": [{"Name": "Colour", "Value": "x"}]}
    unknown = tour.install(tour.acct(account_id), GENERIC_API_KEY, colour)
    message = "There is not a connector property that matches name 'Colour'."
    refused(unknown, 400, "unknown_property", message)
    assert tour.get(AC_LIST, tour.acct(account_id)) == before
    refused(tour.install(tour.partner, GENERIC_API_KEY), 401, "account_header_missing")


def test_account_connectors_list_get_update_delete(tour: Tour) -> None:
    """Account connectors: paged list, GET (AuthValue masked), partial PUT, an AuthValue PUT
    (masked on read, dates kept); the masked value written back is 400 and changes nothing;
    DELETE answers Cyclr's message."""
    account_id = tour.account("AC")
    headers = tour.acct(account_id)
    keyed = tour.installed(account_id, GENERIC_API_KEY, {"Name": "b", "AuthValue": "k-1"})
    oauth = tour.installed(account_id, GENERIC_OAUTH2, {"Name": "a"})
    page, records, pages = tour.listing(AC_LIST, headers, orderBy="Name", pageSize=1)
    assert ([c["Name"] for c in page], records, pages) == (["a"], 2, 2)
    assert tour.get(ac_url(keyed["Id"]), headers) == keyed
    assert keyed["AuthValue"] == MASK
    described = ok(tour.send("PUT", ac_url(keyed["Id"]), {"Description": "new"}, headers))
    assert described == {**keyed, "Description": "new"}
    tokens = ok(tour.send("PUT", ac_url(oauth["Id"]), {"authvalue": TOKENS}, headers))
    assert (tokens["Authenticated"], tokens["AuthState"]) == (True, "active")
    masked = {"AccessToken": MASK, "RefreshToken": MASK, "Expires": "2031-01-01T00:00:00Z"}
    assert json.loads(tokens["AuthValue"]) == masked
    assert tour.get(ac_url(oauth["Id"]), headers) == tokens
    copied = tour.send("PUT", ac_url(oauth["Id"]), {"AuthValue": tokens["AuthValue"]}, headers)
    refused(copied, 400, "masked_value")
    assert tour.get(ac_url(oauth["Id"]), headers) == tokens
    deleted = ok(tour.send("DELETE", ac_url(keyed["Id"]), headers=headers))
    assert deleted == {"Message": "Connector 'b' successfully deleted."}
    gone = tour.send("GET", ac_url(keyed["Id"]), headers=headers)
    refused(gone, 404, "account_connector_not_found")
    assert tour.get(AC_LIST, headers) == [tokens]


def test_properties_crud(tour: Tour) -> None:
    """Properties: POST adds (canonical name), GET one and the paged list, PUT changes the value,
    ClientSecret reads masked, an unknown name is Cyclr's 400, DELETE removes."""
    account_id = tour.account("Props")
    headers = tour.acct(account_id)
    ac_id = tour.installed(account_id, GENERIC_OAUTH2)["Id"]
    url = ac_url(ac_id, "/properties")
    body = {"name": "baseurl", "value": "https://api.example.com", "Id": 0}
    added = ok(tour.send("POST", url, body, headers))
    assert has(added, Name="BaseUrl", Value=body["value"], AccountConnectorId=ac_id)
    assert set(added) == {"Name", "Value", "Id", "AccountConnectorId"}
    one = f"{url}/{added['Id']}"
    assert tour.get(one, headers) == added
    secret = ok(tour.send("POST", url, {"Name": "ClientSecret", "Value": "tour-secret"}, headers))
    assert secret["Value"] == MASK
    listed, records, pages = tour.listing(url, headers, orderBy="Name")
    assert (listed, records, pages) == ([added, secret], 2, 1)
    changed = ok(tour.send("PUT", one, {"Value": "https://api2.example.com"}, headers))
    assert changed == {**added, "Value": "https://api2.example.com"}
    assert tour.get(ac_url(ac_id), headers)["Properties"] == [changed, secret]
    unknown = tour.send("POST", url, {"Name": "Colour", "Value": "x"}, headers)
    message = "There is not a connector property that matches name 'Colour'."
    refused(unknown, 400, "unknown_property", message)
    deleted = ok(tour.send("DELETE", one, headers=headers))
    assert deleted == {"Message": "Property 'BaseUrl' deleted."}
    refused(tour.send("GET", one, headers=headers), 404, "property_not_found")
    assert tour.get(url, headers) == [secret]


def test_deauthenticate(tour: Tour) -> None:
    """PUT …/deauthenticate answers Cyclr's message and drops the credential."""
    account_id = tour.account("Deauth")
    headers = tour.acct(account_id)
    body = {"Name": "Access CRM", "AuthValue": TOKENS}
    ac = tour.installed(account_id, GENERIC_OAUTH2, body)
    assert ac["Authenticated"] is True
    response = ok(tour.send("PUT", ac_url(ac["Id"], "/deauthenticate"), headers=headers))
    assert response == {"Message": "Connector 'Access CRM' successfully de-authenticated."}
    after = tour.get(ac_url(ac["Id"]), headers)
    assert has(after, Authenticated=False, AuthValue=None, AuthState="unauthenticated")


def test_401_403_404_rules(tour: Tour) -> None:
    """No bearer → 401 (WWW-Authenticate: Bearer); no X-Cyclr-Account on an account-level call
    → 401; an unknown account → 404; a token restricted to another account → 403; another
    account's account connector id → 404, and nothing changes."""
    mine, theirs = tour.account("Mine"), tour.account("Theirs")
    ac = tour.installed(mine, GENERIC_API_KEY, {"AuthValue": "k"})
    for path in ("/v1.0/accounts", AC_LIST):
        anonymous = tour.send("GET", path, headers={"X-Cyclr-Account": mine})
        refused(anonymous, 401, "missing_token")
        assert anonymous.headers["www-authenticate"] == "Bearer"
    message = "The X-Cyclr-Account header is required for account-level calls."
    refused(tour.send("GET", AC_LIST), 401, "account_header_missing", message)
    refused(tour.send("GET", ac_url(ac["Id"])), 401, "account_header_missing", message)
    refused(tour.send("GET", AC_LIST, headers=tour.acct("nobody-here")), 404, "account_not_found")
    restricted = {**tour.restricted(theirs), "X-Cyclr-Account": mine}
    refused(tour.send("GET", ac_url(ac["Id"]), headers=restricted), 403, "account_forbidden")
    refused(tour.install(restricted, GENERIC_API_KEY), 403, "account_forbidden")
    calls = [("GET", ""), ("PUT", ""), ("DELETE", ""), ("PUT", "/deauthenticate")]
    calls += [("GET", "/properties"), ("POST", "/properties")]
    for method, suffix in calls:
        response = tour.send(
            method, ac_url(ac["Id"], suffix), {"Description": "x"}, tour.acct(theirs)
        )
        refused(response, 404, "account_connector_not_found")
    assert tour.get(ac_url(ac["Id"]), tour.acct(mine)) == ac


def test_idempotency_key_replays_one_post(tour: Tour) -> None:
    """A POST repeated with the same Idempotency-Key and body replays the first answer and
    creates nothing twice; the same key with another body is 422."""
    name = f"idem-{secrets.token_hex(4)}"
    headers = {**tour.partner, "Idempotency-Key": f"tour-{name}"}
    first = tour.send("POST", "/v1.0/accounts", {"Name": name}, headers)
    second = tour.send("POST", "/v1.0/accounts", {"Name": name}, headers)
    assert ok(second) == ok(first)
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    everything = tour.get("/v1.0/accounts", pageSize=1000)
    assert [a["Id"] for a in everything if a["Name"] == name] == [first.json()["Id"]]
    other = tour.send("POST", "/v1.0/accounts", {"Name": f"{name}-2"}, headers)
    refused(other, 422, "idempotency_key_reused")


def test_body_over_one_mib_is_413(tour: Tour) -> None:
    """A body over 1 MiB is refused with 413 — sent with a Content-Length and sent chunked —
    and nothing is created."""
    _, before, _ = tour.listing("/v1.0/accounts")
    big = ('{"Name": "' + "x" * (1024 * 1024) + '"}').encode()
    headers = {**tour.partner, "Content-Type": "application/json"}
    sized = tour.http.post("/v1.0/accounts", content=big, headers=headers)
    refused(sized, 413, "payload_too_large")
    chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))
    chunked = tour.http.post("/v1.0/accounts", content=chunks, headers=headers)
    refused(chunked, 413, "payload_too_large")
    assert tour.listing("/v1.0/accounts")[1] == before


def test_nosniff_on_every_kind_of_response(tour: Tour) -> None:
    """X-Content-Type-Options: nosniff on successes, errors, the token endpoint and health (the
    client's response hook checks it on every other call of this module too)."""
    responses = [
        tour.send("GET", "/healthz"),
        tour.token(),
        tour.send("GET", "/v1.0/accounts"),
        tour.send("GET", "/v1.0/accounts", headers={}),
        tour.send("GET", "/v1.0/accounts/nobody-here"),
        tour.send("GET", "/v1.0/no-such-route"),
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 401, 404, 404]
    assert all(r.headers["x-content-type-options"] == "nosniff" for r in responses)
