"""The application connector library through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from ac_support import restricted_headers
from fastapi.testclient import TestClient
from sqlalchemy import select

from tokenward.crypto.fields import client_secret_aad
from tokenward.runtime import Runtime
from tokenward.store.tables import application_connectors

SALESFORCE = 1010
URL = f"/v1.0/applicationconnectors/{SALESFORCE}"
SECRET = "sf-secret:+% with spaces"
MASK = "********"
DEFAULTS = {
    "ConnectorId": SALESFORCE,
    "ConnectorName": "Salesforce",
    "ConnectorVersion": "1.0",
    "ClientId": None,
    "ClientSecret": None,
    "Scopes": None,
    "Settings": {},
    "Enabled": True,
}


def stored_rows(runtime: Runtime) -> list[tuple[Any, ...]]:
    with runtime.engine.connect() as conn:
        query = select(application_connectors).order_by(application_connectors.c.connector_id)
        return [tuple(row) for row in conn.execute(query)]


def put_entry(client: TestClient, auth: dict[str, str], body: Any) -> dict[str, Any]:
    response = client.put(URL, json=body, headers=auth)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def full_entry(client: TestClient, auth: dict[str, str]) -> dict[str, Any]:
    return put_entry(
        client,
        auth,
        {
            "ClientId": "sf-client",
            "ClientSecret": SECRET,
            "Scopes": ["api", "refresh_token"],
            "Settings": {"Sandbox": "false"},
            "Enabled": True,
        },
    )


def test_unconfigured_connector_reads_as_defaults(client: TestClient, auth: dict[str, str]) -> None:
    """A catalog connector without an entry reads as the defaults; the list is empty."""
    response = client.get(URL, headers=auth)
    assert response.status_code == 200
    assert response.json() == DEFAULTS
    listed = client.get("/v1.0/applicationconnectors", headers=auth)
    assert listed.json() == []
    assert listed.headers["Total-Records"] == "0"


@pytest.mark.parametrize("ref", ["999", "abc", "100000"])
def test_unknown_connector_is_404(
    client: TestClient, auth: dict[str, str], runtime: Runtime, ref: str
) -> None:
    """GET and PUT of a connector that does not exist are 404; nothing is stored."""
    for response in (
        client.get(f"/v1.0/applicationconnectors/{ref}", headers=auth),
        client.put(f"/v1.0/applicationconnectors/{ref}", json={"ClientId": "x"}, headers=auth),
    ):
        assert response.status_code == 404
        assert response.json() == {
            "Message": f"Connector '{ref}' not found.",
            "Code": "connector_not_found",
        }
    assert stored_rows(runtime) == []


def test_put_then_read_masked(client: TestClient, auth: dict[str, str]) -> None:
    """A stored entry reads back with ClientSecret masked, in GET, PUT and the list."""
    saved = full_entry(client, auth)
    expected = {
        **DEFAULTS,
        "ClientId": "sf-client",
        "ClientSecret": MASK,
        "Scopes": ["api", "refresh_token"],
        "Settings": {"Sandbox": "false"},
    }
    assert saved == expected
    assert client.get(URL, headers=auth).json() == expected
    listed = client.get("/v1.0/applicationconnectors", headers=auth)
    assert listed.json() == [expected]
    assert listed.headers["Total-Records"] == "1"
    assert SECRET not in listed.text


def test_s08_client_secret_is_sealed_in_the_database(
    client: TestClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """The stored row holds a ciphertext bound to the connector, never the plaintext (S-08)."""
    full_entry(client, auth)
    [row] = stored_rows(runtime)
    assert all(SECRET not in str(value) for value in row)
    with runtime.engine.connect() as conn:
        sealed = conn.execute(select(application_connectors.c.client_secret_sealed)).scalar_one()
    assert sealed.startswith("tw1.")
    assert runtime.ctx.sealer.open(sealed, client_secret_aad(SALESFORCE)) == SECRET


def test_mask_written_back_keeps_the_secret(
    client: TestClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """A read entry written back (ClientSecret "********") changes fields, keeps the secret."""
    read = full_entry(client, auth)
    [before] = stored_rows(runtime)
    again = put_entry(client, auth, dict(read, ClientId="other-client"))
    assert again["ClientId"] == "other-client"
    assert again["ClientSecret"] == MASK
    with runtime.engine.connect() as conn:
        sealed = conn.execute(select(application_connectors.c.client_secret_sealed)).scalar_one()
    assert sealed == before[2]
    assert runtime.ctx.sealer.open(sealed, client_secret_aad(SALESFORCE)) == SECRET


def test_put_is_partial(client: TestClient, auth: dict[str, str]) -> None:
    """Fields left out keep their values; Scopes null goes back to the connector's defaults."""
    full_entry(client, auth)
    changed = put_entry(client, auth, {"enabled": "false"})
    assert changed["Enabled"] is False
    assert changed["ClientId"] == "sf-client"
    assert changed["ClientSecret"] == MASK
    assert put_entry(client, auth, {"Scopes": None})["Scopes"] is None


@pytest.mark.parametrize("removal", [None, ""])
def test_secret_can_be_removed(
    client: TestClient, auth: dict[str, str], runtime: Runtime, removal: str | None
) -> None:
    """ClientSecret null or empty removes the stored secret."""
    full_entry(client, auth)
    assert put_entry(client, auth, {"ClientSecret": removal})["ClientSecret"] is None
    [row] = stored_rows(runtime)
    assert row[2] is None


def test_scopes_as_one_string(client: TestClient, auth: dict[str, str]) -> None:
    """Scopes may be sent as one space- or comma-separated string."""
    saved = put_entry(client, auth, {"Scopes": "api refresh_token,id"})
    assert saved["Scopes"] == ["api", "refresh_token", "id"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"ClientSecret": "abc********"}, "masked_value"),
        ({"ClientSecret": "x" * 5000}, "invalid_clientsecret"),
        ({"ClientId": "line\nbreak"}, "invalid_clientid"),
        ({"Scopes": ["ok", "x" * 600]}, "invalid_scopes"),
        ({"Scopes": ["two words"]}, "invalid_scopes"),
        ({"Settings": {"k" * 101: "v"}}, "invalid_settings"),
        ({"Enabled": "maybe"}, "invalid_field"),
        ({"Settings": ["not", "a", "map"]}, "invalid_field"),
    ],
)
def test_bad_input_is_400_and_changes_nothing(
    client: TestClient, auth: dict[str, str], runtime: Runtime, body: Any, code: str
) -> None:
    """Invalid values are refused with a Code; the stored entry is unchanged."""
    full_entry(client, auth)
    before = stored_rows(runtime)
    response = client.put(URL, json=body, headers=auth)
    assert response.status_code == 400
    assert response.json()["Code"] == code
    assert "x" * 50 not in response.json()["Message"]  # values are never echoed
    assert stored_rows(runtime) == before


def test_custom_connectors_have_entries_too(client: TestClient, auth: dict[str, str]) -> None:
    """A custom connector can hold a library entry like a catalog connector."""
    created = client.post(
        "/v1.0/connectors",
        json={
            "Name": "Partner App",
            "Version": "1",
            "BaseUrl": "https://api.partner.example",
            "Authentication": [
                {
                    "AuthName": "OAuth",
                    "AuthType": "OAuth2",
                    "AuthoriseUrl": "https://login.partner.example/authorize",
                    "AccessTokenUrl": "https://login.partner.example/token",
                }
            ],
        },
        headers=auth,
    )
    assert created.status_code == 200, created.text
    response = client.put(
        "/v1.0/applicationconnectors/100000", json={"ClientId": "p"}, headers=auth
    )
    assert response.status_code == 200
    assert response.json()["ConnectorName"] == "Partner App"


def test_restricted_token_is_403(
    client: TestClient, api_client: tuple[str, str], account: str, runtime: Runtime
) -> None:
    """The library is partner-level: an account-restricted token gets 403 and changes nothing."""
    headers = restricted_headers(client, api_client, account)
    assert client.get("/v1.0/applicationconnectors", headers=headers).status_code == 403
    assert client.get(URL, headers=headers).status_code == 403
    response = client.put(URL, json={"ClientSecret": "x"}, headers=headers)
    assert response.status_code == 403
    assert response.json()["Code"] == "account_forbidden"
    assert stored_rows(runtime) == []
