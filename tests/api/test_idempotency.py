"""SECURITY.md R-12: Idempotency-Key on POST calls, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_r12_same_key_same_body_replays_and_creates_nothing(
    client: TestClient, auth: dict[str, str]
) -> None:
    """A repeated POST with the same key and body returns the same response, one account."""
    headers = {**auth, "Idempotency-Key": "create-1"}
    first = client.post("/v1.0/accounts", json={"Name": "Once"}, headers=headers)
    second = client.post("/v1.0/accounts", json={"Name": "Once"}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    listed = client.get("/v1.0/accounts", headers=auth).json()
    assert [a["Name"] for a in listed] == ["Once"]


def test_r12_same_key_other_body_is_422(client: TestClient, auth: dict[str, str]) -> None:
    """The same key with a different body is refused with 422 and creates nothing."""
    headers = {**auth, "Idempotency-Key": "create-2"}
    client.post("/v1.0/accounts", json={"Name": "A"}, headers=headers)
    other = client.post("/v1.0/accounts", json={"Name": "B"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["Code"] == "idempotency_key_reused"
    assert [a["Name"] for a in client.get("/v1.0/accounts", headers=auth).json()] == ["A"]


def test_r12_errors_are_replayed_too(client: TestClient, auth: dict[str, str]) -> None:
    """A 4xx answer is stored and replayed, so a retry sees the same outcome."""
    headers = {**auth, "Idempotency-Key": "bad-1"}
    first = client.post("/v1.0/accounts", json={"Id": "x"}, headers=headers)
    second = client.post("/v1.0/accounts", json={"Id": "x"}, headers=headers)
    assert first.status_code == second.status_code == 400
    assert first.json() == second.json()


def test_r12_sign_in_token_is_not_issued_twice(
    client: TestClient, auth: dict[str, str], account: str
) -> None:
    """Repeating a sign-in token POST returns the same token instead of minting another."""
    headers = {**auth, "Idempotency-Key": "signin-1"}
    url = f"/v1.0/accounts/{account}/signintoken"
    first = client.post(url, json={"Username": "ann"}, headers=headers)
    second = client.post(url, json={"Username": "ann"}, headers=headers)
    assert first.json()["Token"] == second.json()["Token"]


def test_r12_keys_are_scoped_to_the_api_client(
    client: TestClient, auth: dict[str, str], runtime: object
) -> None:
    """Another API client using the same key gets its own, independent result."""
    from tokenward.services import api_clients

    other, secret = api_clients.create_client(runtime.ctx, "other")  # type: ignore[attr-defined]
    token = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": other.client_id,
            "client_secret": secret,
        },
    ).json()["access_token"]
    mine = client.post(
        "/v1.0/accounts", json={"Name": "Mine"}, headers={**auth, "Idempotency-Key": "k"}
    )
    theirs = client.post(
        "/v1.0/accounts",
        json={"Name": "Theirs"},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "k"},
    )
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["Id"] != theirs.json()["Id"]


def test_r12_overlong_key_is_400(client: TestClient, auth: dict[str, str]) -> None:
    """A key over 200 characters is refused before anything runs."""
    response = client.post(
        "/v1.0/accounts", json={"Name": "X"}, headers={**auth, "Idempotency-Key": "k" * 201}
    )
    assert response.status_code == 400
    assert client.get("/v1.0/accounts", headers=auth).json() == []


def test_r12_partner_calls_ignore_the_account_header_in_the_scope(
    client: TestClient, auth: dict[str, str]
) -> None:
    """The header is ignored on partner-level calls, so it cannot split one key into two."""
    first = client.post(
        "/v1.0/accounts",
        json={"Name": "P"},
        headers={**auth, "Idempotency-Key": "p1", "X-Cyclr-Account": "a"},
    )
    second = client.post(
        "/v1.0/accounts",
        json={"Name": "P"},
        headers={**auth, "Idempotency-Key": "p1", "X-Cyclr-Account": "b"},
    )
    assert first.json() == second.json()
    assert len(client.get("/v1.0/accounts", headers=auth).json()) == 1
