"""The OpenAPI document describes every partner endpoint, its bodies and the bearer scheme."""

from __future__ import annotations

from fastapi.testclient import TestClient

EXPECTED = {
    ("post", "/oauth/token"),
    ("post", "/v1.0/accounts"),
    ("get", "/v1.0/accounts"),
    ("get", "/v1.0/accounts/{account_id}"),
    ("put", "/v1.0/accounts/{account_id}"),
    ("delete", "/v1.0/accounts/{account_id}"),
    ("get", "/v1.0/accounts/{account_id}/users"),
    ("put", "/v1.0/accounts/{account_id}/users"),
    ("delete", "/v1.0/accounts/{account_id}/users"),
    ("put", "/v1.0/users"),
    ("post", "/v1.0/accounts/{account_id}/signintoken"),
}


def _operations(doc: dict[str, dict[str, dict[str, object]]]) -> set[tuple[str, str]]:
    return {(method, path) for path, ops in doc["paths"].items() for method in ops}


def test_openapi_lists_partner_endpoints_with_bearer_security(client: TestClient) -> None:
    """/openapi.json names each call, documents bodies by schema and requires the bearer."""
    doc = client.get("/openapi.json").json()
    assert _operations(doc) >= EXPECTED
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    create = doc["paths"]["/v1.0/accounts"]["post"]
    assert create["security"] == [{"bearer": []}]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/AccountIn"
    )
    assert "AccountIn" in doc["components"]["schemas"]
    for status in ("400", "401", "404", "413"):
        assert status in create["responses"]


def test_docs_page_is_served(client: TestClient) -> None:
    """Interactive docs are at /docs."""
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
