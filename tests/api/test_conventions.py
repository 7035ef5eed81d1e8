"""Cyclr's cross-cutting conventions: status codes, error shape, headers, paging, body limits."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def _names(client: TestClient, auth: dict[str, str], query: str) -> list[str]:
    return [a["Name"] for a in client.get(f"/v1.0/accounts{query}", headers=auth).json()]


def test_body_over_one_mib_is_413_and_stores_nothing(
    client: TestClient, auth: dict[str, str]
) -> None:
    """A body over 1 MiB is refused with 413 before the route runs."""
    big = '{"Name": "' + "x" * (1024 * 1024) + '"}'
    response = client.post(
        "/v1.0/accounts", content=big, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["Code"] == "payload_too_large"
    assert client.get("/v1.0/accounts", headers=auth).json() == []


def test_unparseable_body_is_400_with_a_clear_message(
    client: TestClient, auth: dict[str, str]
) -> None:
    """Text that is not JSON even leniently is a 400 saying so."""
    response = client.post(
        "/v1.0/accounts", content="{Name: ", headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["Code"] == "invalid_json"
    assert "not valid JSON" in response.json()["Message"]


@pytest.mark.parametrize("body", ['["a"]', '"text"', "42", '{"Name": {"x": 1}}', '{"Name": ["a"]}'])
def test_wrong_types_are_400(client: TestClient, auth: dict[str, str], body: str) -> None:
    """A body of the wrong shape or field type is refused and nothing is created."""
    response = client.post(
        "/v1.0/accounts", content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"Message", "Code"}
    assert client.get("/v1.0/accounts", headers=auth).json() == []


def test_numbers_and_booleans_as_strings_are_accepted(
    client: TestClient, auth: dict[str, str]
) -> None:
    """Numbers where text is expected are bound as text, as Cyclr's binder does."""
    response = client.post("/v1.0/accounts", json={"Id": 123, "Name": 456}, headers=auth)
    assert response.status_code == 200
    assert response.json()["Id"] == "123"
    assert response.json()["Name"] == "456"


def test_paging_headers_and_parameters(client: TestClient, auth: dict[str, str]) -> None:
    """page/pageSize/per_page/orderBy/sortOrderAsc work and Total-* headers are sent."""
    for name in ("b", "a", "c"):
        client.post("/v1.0/accounts", json={"Name": name}, headers=auth)
    first = client.get("/v1.0/accounts?pageSize=2&page=1&orderBy=Name", headers=auth)
    assert first.headers["Total-Records"] == "3"
    assert first.headers["Total-Pages"] == "2"
    assert [a["Name"] for a in first.json()] == ["a", "b"]
    assert _names(client, auth, "?per_page=2&page=2&orderBy=name") == ["c"]
    assert _names(client, auth, "?orderBy=Name&sortOrderAsc=false") == ["c", "b", "a"]


@pytest.mark.parametrize(
    "query", ["?page=0", "?pageSize=abc", "?pageSize=100000", "?sortOrderAsc=maybe"]
)
def test_bad_paging_is_400(client: TestClient, auth: dict[str, str], query: str) -> None:
    """Out-of-range or malformed paging parameters are a 400, not a crash."""
    response = client.get(f"/v1.0/accounts{query}", headers=auth)
    assert response.status_code == 400
    assert response.json()["Code"] == "invalid_query"


def test_errors_carry_nosniff_and_json_shape(client: TestClient, auth: dict[str, str]) -> None:
    """404s for unknown objects and unknown routes are JSON with Message and Code."""
    missing = client.get("/v1.0/accounts/nobody", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["Code"] == "account_not_found"
    assert missing.headers["x-content-type-options"] == "nosniff"
    route = client.get("/v1.0/no-such-thing", headers=auth)
    assert route.status_code == 404
    assert set(route.json()) == {"Message", "Code"}


def test_account_header_is_ignored_on_partner_calls(
    client: TestClient, auth: dict[str, str]
) -> None:
    """Cyclr clients send X-Cyclr-Account on partner-level calls; it changes nothing."""
    response = client.post(
        "/v1.0/accounts", json={"Name": "N"}, headers={**auth, "X-Cyclr-Account": "unknown"}
    )
    assert response.status_code == 200


def test_api_responses_are_not_cached(client: TestClient, auth: dict[str, str]) -> None:
    """API responses may hold secrets: Cache-Control no-store (L-04)."""
    response = client.get("/v1.0/accounts", headers=auth)
    assert response.headers["cache-control"] == "no-store"


def test_l03_bearer_in_query_string_is_refused(client: TestClient, token: str) -> None:
    """The partner key is accepted only in the Authorization header."""
    response = client.get(f"/v1.0/accounts?access_token={token}")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body", ['{"Name": "a\\u0000b"}', '{"Name": "\\ud800"}', '{"Na\\u0000me": "x"}']
)
def test_unstorable_text_in_bodies_is_400(
    client: TestClient, auth: dict[str, str], body: str
) -> None:
    """NUL and lone surrogates fit no database column: 400, nothing stored, on both backends."""
    response = client.post(
        "/v1.0/accounts", content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["Code"] == "invalid_text"
    assert client.get("/v1.0/accounts", headers=auth).json() == []


@pytest.mark.parametrize(
    "path",
    ["/v1.0/accounts/a%00b", "/v1.0/accounts?orderBy=%ED%A0%80", "/v1.0/accounts?orderBy=%00"],
)
def test_unstorable_text_in_urls_is_400(
    client: TestClient, auth: dict[str, str], path: str
) -> None:
    """The same characters in a path or query string are refused before any lookup."""
    response = client.get(path, headers=auth)
    assert response.status_code == 400
    assert response.json()["Code"] == "invalid_text"


def test_trailing_slash_answers_in_place(client: TestClient, auth: dict[str, str]) -> None:
    """A trailing slash reaches the same call, without a redirect to a Host-derived URL."""
    created = client.post(
        "/v1.0/accounts/", json={"Name": "Slash"}, headers=auth, follow_redirects=False
    )
    assert created.status_code == 200
    listed = client.get("/v1.0/accounts/", headers=auth, follow_redirects=False)
    assert listed.status_code == 200
    assert [a["Name"] for a in listed.json()] == ["Slash"]


def test_unknown_partner_api_paths_answer_401_without_a_token(
    client: TestClient, auth: dict[str, str]
) -> None:
    """Without a valid token even a path that matches no route is a 401 (with the Bearer
    challenge), so an anonymous caller cannot map the API; with one it is the usual 404."""
    for path in ("/v1.0/no-such-thing", "/v1.0/account/connectors/1/proxy/%0A"):
        anonymous = client.get(path)
        assert anonymous.status_code == 401, path
        assert anonymous.headers["www-authenticate"] == "Bearer"
        bad = client.get(path, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401, path
    assert client.get("/v1.0/no-such-thing", headers=auth).status_code == 404
    assert client.get("/no-such-thing").status_code == 404  # outside the partner API
