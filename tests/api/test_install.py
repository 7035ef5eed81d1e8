"""Installing connectors into accounts through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest
from ac_support import (
    APIKEY,
    APIKEY_AUTH,
    BASIC,
    CLIENT_CREDENTIALS_AUTH,
    CODE_AUTH,
    CODE_AUTH_V2,
    DRAFT,
    MASK,
    NOAUTH,
    OAUTH,
    OAUTH1,
    OAUTH_V2,
    audit_actions,
    credential_row,
    install,
    installed,
    restricted_headers,
    snapshot,
    with_test_catalog,
)
from fastapi.testclient import TestClient

from tokenward.catalog.registry import Catalog
from tokenward.catalog.schema import Connector
from tokenward.runtime import Runtime

KEYS = {
    "Id",
    "Name",
    "Description",
    "Authenticated",
    "AuthValue",
    "AuthenticationId",
    "Connector",
    "Properties",
    "IsPartnerIntegrationConnector",
    "AuthState",
    "AuthError",
    "ExpiresUtc",
    "LastRefreshedUtc",
}


@pytest.fixture
def runtime(runtime: Runtime) -> Runtime:
    """The shared runtime serving the test catalog."""
    return with_test_catalog(runtime)


def test_install_by_id_with_empty_body(client: TestClient, acct: dict[str, str]) -> None:
    """No body at all installs with defaults: the connector's name, its first auth method."""
    body = installed(client, acct, APIKEY)
    assert set(body) == KEYS
    assert isinstance(body["Id"], int)
    assert body["Name"] == "Test ApiKey"
    assert body["Authenticated"] is False
    assert body["AuthValue"] is None
    assert body["AuthState"] == "unauthenticated"
    assert body["AuthError"] is None
    assert body["AuthenticationId"] == APIKEY_AUTH
    assert body["Properties"] == []
    assert body["IsPartnerIntegrationConnector"] is False
    connector = body["Connector"]
    assert connector["Id"] == APIKEY
    assert connector["AuthType"] == "ApiKey"
    assert connector["OAuth2Type"] == "Unknown"
    assert connector["AuthScheme"] == "X-API-Key"
    assert [p["Name"] for p in connector["Parameters"]][:2] == ["Subdomain", "Region"]


def test_install_with_json_null_and_empty_object(client: TestClient, acct: dict[str, str]) -> None:
    """``null`` and ``{}`` bodies are empty bodies too."""
    first = client.post(
        f"/v1.0/connectors/{APIKEY}/install",
        content="null",
        headers={**acct, "Content-Type": "application/json"},
    )
    assert first.status_code == 200, first.text
    assert installed(client, acct, APIKEY, {})["Name"] == "Test ApiKey (2)"


def test_defaulted_name_takes_the_first_free_suffix(
    client: TestClient, acct: dict[str, str]
) -> None:
    """A defaulted name that is taken becomes "Name (2)", "Name (3)", …"""
    names = [installed(client, acct, BASIC)["Name"] for _ in range(3)]
    assert names == ["Test Basic", "Test Basic (2)", "Test Basic (3)"]


def test_install_by_name_picks_the_highest_version(
    client: TestClient, acct: dict[str, str]
) -> None:
    """A name with several versions installs the highest one."""
    body = installed(client, acct, "Test%20OAuth")
    assert body["Connector"]["Id"] == OAUTH_V2
    assert body["Connector"]["Version"] == "2.0"
    assert body["AuthenticationId"] == CODE_AUTH_V2
    assert body["Connector"]["OAuth2Type"] == "AuthorisationCode"


def test_install_by_name_is_case_insensitive(client: TestClient, acct: dict[str, str]) -> None:
    """Names match case-insensitively, as the catalog lookups do."""
    assert installed(client, acct, "test basic")["Connector"]["Id"] == BASIC


def test_explicit_duplicate_name_is_cyclrs_400(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """An explicit Name already in the account is 400 with Cyclr's text; nothing is stored."""
    installed(client, acct, APIKEY, {"Name": "CRM"})
    before = snapshot(runtime)
    again = install(client, acct, BASIC, {"Name": "CRM", "AuthValue": "dXNlcjpwYXNz"})
    assert again.status_code == 400
    assert again.json() == {
        "Message": "Account connector name 'CRM' is in use.",
        "Code": "name_in_use",
    }
    assert snapshot(runtime) == before


def test_same_name_in_another_account_is_fine(
    client: TestClient, auth: dict[str, str], acct: dict[str, str]
) -> None:
    """Names are unique per account only."""
    client.post("/v1.0/accounts", json={"Id": "other", "Name": "Other"}, headers=auth)
    installed(client, acct, APIKEY, {"Name": "CRM"})
    other = {**auth, "X-Cyclr-Account": "other"}
    assert installed(client, other, APIKEY, {"Name": "CRM"})["Name"] == "CRM"


@pytest.mark.parametrize(
    ("prop", "message", "code"),
    [
        (
            {"Name": "Colour", "Value": "x"},
            "There is not a connector property that matches name 'Colour'.",
            "unknown_property",
        ),
        (
            {"Name": "EndpointUrl", "Value": "https://x.example"},
            "Connector property name 'EndpointUrl' is not an account connector property.",
            "not_account_connector_property",
        ),
        (
            {"Name": "Subdomain", "Value": "Not/Valid"},
            "The value of property 'Subdomain' does not match its pattern ^[a-z0-9-]{1,63}$.",
            "invalid_property_value",
        ),
        ({"Value": "x"}, "Property Name is required.", "property_name_required"),
        (
            {"Name": "SigningSecret", "Value": MASK},
            "The value of property 'SigningSecret' contains the mask '********'; send the real "
            "value.",
            "masked_value",
        ),
    ],
)
def test_property_errors_store_nothing(
    client: TestClient,
    acct: dict[str, str],
    runtime: Runtime,
    prop: dict[str, Any],
    message: str,
    code: str,
) -> None:
    """Each property error is a 400 with Cyclr's text where Cyclr has one; nothing is stored."""
    before = snapshot(runtime)
    body = {"AuthValue": "key-123", "Properties": [{"Name": "Region", "Value": "eu"}, prop]}
    response = install(client, acct, APIKEY, body)
    assert response.status_code == 400
    assert response.json() == {"Message": message, "Code": code}
    assert snapshot(runtime) == before
    assert client.get("/v1.0/account/connectors", headers=acct).json() == []


def test_pattern_error_never_echoes_the_value(client: TestClient, acct: dict[str, str]) -> None:
    """A refused value is named by its property, never quoted."""
    response = install(
        client, acct, APIKEY, {"Properties": [{"Name": "Subdomain", "Value": "evil.com/x"}]}
    )
    assert response.status_code == 400
    assert "evil.com/x" not in response.text


def test_duplicate_property_in_one_request_is_400(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """The same property twice (any case) is refused."""
    before = snapshot(runtime)
    props = [{"Name": "Region", "Value": "eu"}, {"name": "region", "value": "us"}]
    response = install(client, acct, APIKEY, {"Properties": props})
    assert response.status_code == 400
    assert response.json()["Code"] == "duplicate_property"
    assert snapshot(runtime) == before


def test_properties_match_target_name_case_insensitively(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """Properties match TargetName (or Name) in any case; sensitive ones are sealed and masked."""
    body = installed(
        client,
        acct,
        APIKEY,
        {
            "Properties": [
                {"Name": "subdomain", "Value": "acme", "Id": 0},
                {"Name": "signingsecret", "Value": "s3cret-signing"},
                {"Name": "REGION", "Value": "eu"},
            ]
        },
    )
    props = {p["Name"]: p for p in body["Properties"]}
    assert props["Subdomain"]["Value"] == "acme"
    assert props["SigningSecret"]["Value"] == MASK
    assert props["Region"]["Value"] == "eu"
    assert all(p["AccountConnectorId"] == body["Id"] for p in body["Properties"])
    dump = repr(snapshot(runtime))
    assert "s3cret-signing" not in dump


def test_client_id_and_secret_are_always_properties(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """ClientId and ClientSecret are accepted for any connector; the secret is sealed, masked."""
    body = installed(
        client,
        acct,
        OAUTH,
        {
            "Properties": [
                {"Name": "clientid", "Value": "my-app"},
                {"Name": "ClientSecret", "Value": "top-secret-value"},
            ]
        },
    )
    props = {p["Name"]: p["Value"] for p in body["Properties"]}
    assert props == {"ClientId": "my-app", "ClientSecret": MASK}
    assert "top-secret-value" not in repr(snapshot(runtime))


def test_draft_connector_is_cyclrs_400(client: TestClient, acct: dict[str, str]) -> None:
    """A draft connector cannot be installed (Cyclr's text)."""
    response = install(client, acct, DRAFT)
    assert response.status_code == 400
    assert response.json() == {
        "Message": f"Connector {DRAFT} is a draft and cannot be installed.",
        "Code": "connector_draft",
    }


def test_unknown_connector_is_404(client: TestClient, acct: dict[str, str]) -> None:
    """An unknown Id or Name is a 404."""
    assert install(client, acct, 424242).status_code == 404
    assert install(client, acct, "Nothing Like It").status_code == 404


def test_unknown_authentication_id_is_400(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """An AuthenticationId the connector does not have is refused; nothing is stored."""
    before = snapshot(runtime)
    response = install(client, acct, OAUTH, {"AuthenticationId": APIKEY_AUTH})
    assert response.status_code == 400
    assert response.json() == {
        "Message": f"AuthenticationId '{APIKEY_AUTH}' is not an authentication method of "
        f"connector {OAUTH}.",
        "Code": "unknown_authentication",
    }
    assert snapshot(runtime) == before


def test_api_key_auth_value_authenticates_and_is_masked(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """An API key makes the connector authenticated; it reads back masked and is sealed (K-04)."""
    body = installed(client, acct, APIKEY, {"AuthValue": "canary-api-key-123"})
    assert body["Authenticated"] is True
    assert body["AuthState"] == "active"
    assert body["AuthValue"] == MASK
    row = credential_row(runtime, body["Id"])
    assert row.version == 1
    assert row.state == "active"
    assert "canary-api-key-123" not in repr(tuple(row))
    assert runtime.ctx.sealer.open(row.secret_sealed, _aad(body["Id"])) == "canary-api-key-123"
    assert "credential.write" in audit_actions(runtime)


def _aad(ac_id: int) -> bytes:
    from tokenward.crypto.fields import credential_aad

    return credential_aad(ac_id)


def test_numeric_api_key_is_text(client: TestClient, acct: dict[str, str]) -> None:
    """An AuthValue sent as a number is taken as its text (Cyclr's lax binding)."""
    assert installed(client, acct, APIKEY, {"AuthValue": 12345})["Authenticated"] is True


def test_blank_auth_value_means_none(client: TestClient, acct: dict[str, str]) -> None:
    """``""`` (what Cyclr clients send for later authentication) stores no credential."""
    body = installed(client, acct, OAUTH, {"AuthValue": ""})
    assert body["Authenticated"] is False
    assert body["AuthValue"] is None


def test_basic_auth_value(client: TestClient, acct: dict[str, str]) -> None:
    """Basic takes base64("user:pass")."""
    value = base64.b64encode(b"user:p@ss:word").decode()
    body = installed(client, acct, BASIC, {"AuthValue": value})
    assert body["Authenticated"] is True
    assert body["AuthValue"] == MASK


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"no colon").decode()])
def test_bad_basic_auth_value_is_400(
    client: TestClient, acct: dict[str, str], runtime: Runtime, value: str
) -> None:
    """A Basic AuthValue that is not base64 of user:pass is refused; nothing is stored."""
    before = snapshot(runtime)
    response = install(client, acct, BASIC, {"AuthValue": value})
    assert response.status_code == 400
    assert response.json()["Code"] == "invalid_auth_value"
    assert snapshot(runtime) == before


def test_oauth_json_auth_value_with_lower_case_keys(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """OAuth tokens as a JSON string, keys in any case; masked read keeps dates (DESIGN §5)."""
    value = json.dumps(
        {
            "accesstoken": "canary-access",
            "REFRESHTOKEN": "canary-refresh",
            "expires": "2031-10-01T00:00:00Z",
            "RefreshExpires": "2032-10-01T00:00:00+00:00",
        }
    )
    body = installed(client, acct, f"{OAUTH}", {"AuthValue": value})
    assert body["Authenticated"] is True
    assert json.loads(body["AuthValue"]) == {
        "AccessToken": MASK,
        "RefreshToken": MASK,
        "Expires": "2031-10-01T00:00:00Z",
        "RefreshExpires": "2032-10-01T00:00:00Z",
    }
    assert body["ExpiresUtc"].startswith("2031-10-01T00:00:00")
    row = credential_row(runtime, body["Id"])
    assert "canary-access" not in repr(tuple(row))
    assert "canary-refresh" not in repr(tuple(row))


def test_pending_auth_value_with_client_credentials(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """``"{}"`` stores a pending credential: not authenticated until the first token fetch."""
    body = installed(
        client, acct, OAUTH, {"AuthenticationId": CLIENT_CREDENTIALS_AUTH, "AuthValue": "{}"}
    )
    assert body["AuthenticationId"] == CLIENT_CREDENTIALS_AUTH
    assert body["Connector"]["OAuth2Type"] == "ClientCredentials"
    assert body["Authenticated"] is False
    assert body["AuthState"] == "unauthenticated"
    assert body["AuthValue"] == "{}"
    row = credential_row(runtime, body["Id"])
    assert row.secret_sealed is not None
    assert row.version == 1


def test_oauth1_auth_value(client: TestClient, acct: dict[str, str]) -> None:
    """OAuth 1 takes a token and its secret."""
    value = json.dumps({"AccessToken": "t", "accesstokensecret": "s"})
    body = installed(client, acct, OAUTH1, {"AuthValue": value})
    assert body["Authenticated"] is True
    assert json.loads(body["AuthValue"]) == {"AccessToken": MASK, "AccessTokenSecret": MASK}


def test_connector_without_auth_is_authenticated_and_refuses_auth_value(
    client: TestClient, acct: dict[str, str]
) -> None:
    """A connector with AuthType None needs nothing; an AuthValue for it is refused."""
    assert installed(client, acct, NOAUTH)["Authenticated"] is True
    assert install(client, acct, NOAUTH, {"AuthValue": "x"}).status_code == 400


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ('{"AccessToken": "a", "Scope": "x"}', "invalid_auth_value"),
        ('{"AccessToken": 42}', "invalid_auth_value"),
        ('{"AccessToken": "a", "Expires": 1700000000}', "invalid_auth_value"),
        ('{"AccessToken": "a", "Expires": "next tuesday"}', "invalid_auth_value"),
        ('{"Expires": "2030-01-01T00:00:00Z"}', "invalid_auth_value"),
        ('{"AccessToken": "a", "accesstoken": "b"}', "invalid_auth_value"),
        ("{not json", "invalid_auth_value"),
        ('["AccessToken"]', "invalid_auth_value"),
        ('{"AccessToken": "********"}', "masked_value"),
        ('{"AccessToken":"********","Expires":"2030-01-01T00:00:00Z"}', "masked_value"),
        ("tok\x00en", "invalid_text"),
        ("x" * (16 * 1024 + 1), "auth_value_too_large"),
        (json.dumps({"RefreshToken": "r" * (16 * 1024 + 1)}), "auth_value_too_large"),
    ],
)
def test_invalid_oauth_auth_values_store_nothing(
    client: TestClient, acct: dict[str, str], runtime: Runtime, value: str, code: str
) -> None:
    """Unknown keys, wrong types, bad dates, the mask, oversize: 400 and nothing stored (K-04)."""
    before = snapshot(runtime)
    response = install(client, acct, OAUTH, {"AuthValue": value})
    assert response.status_code == 400, response.text
    assert response.json()["Code"] == code
    assert snapshot(runtime) == before


def test_auth_value_object_instead_of_string_is_400(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """AuthValue is a string holding JSON, never a nested object."""
    before = snapshot(runtime)
    response = install(client, acct, OAUTH, {"AuthValue": {"AccessToken": "a"}})
    assert response.status_code == 400
    assert snapshot(runtime) == before


@pytest.mark.parametrize(("given", "expected"), [("false", False), ("true", True), (True, True)])
def test_partner_integration_flag_accepts_strings(
    client: TestClient, acct: dict[str, str], given: Any, expected: bool
) -> None:
    """IsPartnerIntegrationConnector takes booleans and their strings."""
    body = installed(client, acct, APIKEY, {"IsPartnerIntegrationConnector": given})
    assert body["IsPartnerIntegrationConnector"] is expected


def test_lower_case_and_lenient_body(client: TestClient, acct: dict[str, str]) -> None:
    """Lower-case keys and JSON5 bodies bind as Cyclr's parser does."""
    response = client.post(
        f"/v1.0/connectors/{APIKEY}/install",
        content="{name: 'Lenient', description: 'd', authvalue: 'k', "
        "properties: [{name: 'Region', value: 'eu', id: 0}],}",
        headers={**acct, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["Name"], body["Description"], body["Authenticated"]) == ("Lenient", "d", True)
    assert body["Properties"][0]["Value"] == "eu"


def test_k03_missing_account_header_is_401(
    client: TestClient, auth: dict[str, str], account: str
) -> None:
    """Install is account-level: no X-Cyclr-Account → 401 account_header_missing."""
    response = install(client, auth, APIKEY)
    assert response.status_code == 401
    assert response.json()["Code"] == "account_header_missing"


def test_k03_unknown_account_is_404(client: TestClient, auth: dict[str, str]) -> None:
    """An unknown account in the header is a 404."""
    response = install(client, {**auth, "X-Cyclr-Account": "nobody"}, APIKEY)
    assert response.status_code == 404


def test_k03_token_restricted_to_another_account_is_403(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    api_client: tuple[str, str],
    runtime: Runtime,
) -> None:
    """A token restricted to one account cannot install into another (403), nothing stored."""
    client.post("/v1.0/accounts", json={"Id": "other", "Name": "Other"}, headers=auth)
    restricted = restricted_headers(client, api_client, "other")
    before = snapshot(runtime)
    response = install(client, {**restricted, "X-Cyclr-Account": "acme"}, APIKEY)
    assert response.status_code == 403
    assert snapshot(runtime) == before
    own = install(client, {**restricted, "X-Cyclr-Account": "other"}, APIKEY)
    assert own.status_code == 200


def test_no_bearer_is_401(client: TestClient, account: str) -> None:
    """Every call needs a bearer token."""
    response = install(client, {"X-Cyclr-Account": account}, APIKEY)
    assert response.status_code == 401


def test_r12_install_with_idempotency_key_installs_once(
    client: TestClient, acct: dict[str, str]
) -> None:
    """The same Idempotency-Key and body replay the first answer; one account connector exists."""
    headers = {**acct, "Idempotency-Key": "install-1"}
    first = install(client, headers, APIKEY, {"AuthValue": "k"})
    second = install(client, headers, APIKEY, {"AuthValue": "k"})
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(client.get("/v1.0/account/connectors", headers=acct).json()) == 1


def test_install_audits_and_sends_no_store(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """An install is audited; responses carrying AuthValue are not cacheable (L-04)."""
    response = install(client, acct, APIKEY, {"AuthValue": "k"})
    assert response.headers["cache-control"] == "no-store"
    actions = audit_actions(runtime)
    assert "accountconnector.install" in actions
    assert "credential.write" in actions


def test_install_code_grant_by_authentication_id(client: TestClient, acct: dict[str, str]) -> None:
    """AuthenticationId selects the method (any case) and the account connector records it."""
    body = installed(client, acct, OAUTH, {"AuthenticationId": CODE_AUTH.upper()})
    assert body["AuthenticationId"] == CODE_AUTH


@pytest.mark.parametrize(
    "body",
    [
        {"Name": "bad\ud800"},
        {"Name": "nul\u0000"},
        {"Description": "nul\u0000"},
        {"AuthValue": "key\udfff"},
        {"AuthenticationId": "\ud800"},
        {"Properties": [{"Name": "\ud800x", "Value": "v"}]},
        {"Properties": [{"Name": "Region", "Value": "\ud800"}]},
    ],
)
def test_unstorable_text_is_400_not_500(
    client: TestClient, acct: dict[str, str], runtime: Runtime, body: dict[str, Any]
) -> None:
    """NUL and lone surrogates (valid JSON escapes, unstorable text) are a 400; nothing stored."""
    before = snapshot(runtime)
    response = client.post(
        f"/v1.0/connectors/{APIKEY}/install",
        content=json.dumps(body),
        headers={**acct, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert snapshot(runtime) == before


def test_parameter_defaults_become_properties_at_install(
    runtime: Runtime, client: TestClient, acct: dict[str, str]
) -> None:
    """A connector parameter with a ``Default`` starts as that property on install, unless the
    install gives its own value."""
    connector = Connector.model_validate(
        {
            "Id": 9101,
            "Name": "Regional",
            "Version": "1.0",
            "BaseUrl": "https://{{Region}}.api.example.com",
            "Parameters": [
                {"Name": "Region", "Pattern": "^[a-z]{2}$", "Default": "eu"},
                {"Name": "Tier", "IsOptional": True},
            ],
            "Authentication": [{"Id": APIKEY_AUTH, "AuthName": "Key", "AuthType": "ApiKey"}],
        }
    )
    runtime.ctx = dataclasses.replace(runtime.ctx, catalog=Catalog([connector]))
    client.app.state.ctx = runtime.ctx  # type: ignore[attr-defined]  # built before this test
    first = installed(client, acct, 9101, {})
    assert {p["Name"]: p["Value"] for p in first["Properties"]} == {"Region": "eu"}
    given = {"Properties": [{"Name": "Region", "Value": "us"}]}
    second = installed(client, acct, 9101, given)
    assert {p["Name"]: p["Value"] for p in second["Properties"]} == {"Region": "us"}
