"""Accounts, users and sign-in tokens through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_create_and_get_account(client: TestClient, auth: dict[str, str]) -> None:
    """An account created with an Id is returned whole and found by that Id."""
    created = client.post(
        "/v1.0/accounts",
        json={"Id": "a1", "Name": "One", "Timezone": "Europe/London"},
        headers=auth,
    )
    assert created.status_code == 200
    assert created.headers["x-content-type-options"] == "nosniff"
    body = created.json()
    assert body["Id"] == "a1"
    assert body["Name"] == "One"
    assert body["Timezone"] == "Europe/London"
    assert body["CreatedDate"].endswith("Z")
    assert client.get("/v1.0/accounts/a1", headers=auth).json() == body


def test_lowercase_keys_and_json5_body(client: TestClient, auth: dict[str, str]) -> None:
    """Lower-case keys and single-quoted, bare-key bodies bind as Cyclr's parser does."""
    response = client.post(
        "/v1.0/accounts",
        content="{id: 'x1', name: 'Lenient', }",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["Name"] == "Lenient"


def test_duplicate_id_is_400_id_already_in_use(client: TestClient, auth: dict[str, str]) -> None:
    """A duplicate Id answers Cyclr's exact text and changes nothing."""
    client.post("/v1.0/accounts", json={"Id": "dup", "Name": "First"}, headers=auth)
    again = client.post("/v1.0/accounts", json={"Id": "dup", "Name": "Second"}, headers=auth)
    assert again.status_code == 400
    assert again.json() == {"Message": "ID already in use", "Code": "id_in_use"}
    assert client.get("/v1.0/accounts/dup", headers=auth).json()["Name"] == "First"


def test_missing_name_is_400(client: TestClient, auth: dict[str, str]) -> None:
    """Name is required."""
    response = client.post("/v1.0/accounts", json={"Id": "n"}, headers=auth)
    assert response.status_code == 400
    assert "Name is required" in response.json()["Message"]


def test_no_bearer_is_401(client: TestClient) -> None:
    """Every /v1.0 call needs a bearer token."""
    response = client.get("/v1.0/accounts")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["Code"] == "missing_token"
