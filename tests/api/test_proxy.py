"""The proxy through HTTP against provider doubles, on SQLite and PostgreSQL (SECURITY.md P-01
to P-06, L-02)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from ac_support import audit_actions
from fastapi.testclient import TestClient
from upstream_support import (
    API_KEY,
    Connected,
    api_requests,
    close_transport,
    connect_oauth,
    entry,
    install,
    revoke_access_token,
)

from tokenward.clock import FakeClock
from tokenward.errors import InvalidRequest
from tokenward.runtime import Runtime
from tokenward.services.proxy import check_path
from tokenward.services.upstream import destination_problem
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


def proxy_url(ac_id: int, path: str) -> str:
    return f"/v1.0/account/connectors/{ac_id}/proxy/{path}"


def test_P06_request_is_forwarded_with_safe_headers_only(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """Method, path, query, body and the partner's own headers go upstream; the partner's
    Authorization, X-Cyclr-Account, Cookie and hop-by-hop headers do not; the credential is in
    Authorization only (L-02)."""
    headers = {
        **acct,
        "Notion-Version": "2022-06-28",
        "Content-Type": "application/json",
        "Cookie": "partner-session=1",
        "Connection": "X-Hop-Secret",
        "X-Hop-Secret": "hop",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Proxy-Authorization": "Basic cHJveHk6cHJveHk=",
    }
    response = api.post(
        proxy_url(connected.ac_id, "echo/v2/items?limit=5&q=a%20b"),
        content=b'{"name": "Widget"}',
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers[MARK] == "1"
    [seen] = api_requests(provider)
    assert (seen.method, seen.path, seen.query) == (
        "POST",
        "/api/echo/v2/items",
        {"limit": "5", "q": "a b"},
    )
    assert seen.body == b'{"name": "Widget"}'
    assert seen.headers["notion-version"] == "2022-06-28"
    assert seen.headers["authorization"] == f"Bearer {connected.tokens['access_token']}"
    for name in (
        "x-cyclr-account",
        "cookie",
        "x-hop-secret",
        "keep-alive",
        "te",
        "proxy-authorization",
    ):
        assert name not in seen.headers, name
    assert acct["Authorization"].split()[1] not in str(seen.headers)


def test_P06_provider_cookies_and_caching_headers_do_not_come_back(
    api: TestClient, acct: dict[str, str], connected: Connected
) -> None:
    """Set-Cookie and the provider's Cache-Control are dropped; the answer is no-store."""
    response = api.get(proxy_url(connected.ac_id, "echo/x"), headers=acct)
    assert response.status_code == 200, response.text
    assert "set-cookie" not in response.headers
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    "path",
    [
        "/evil.example/x",  # //evil.example/x after the proxy/ separator
        "https://evil.example/x",
        "http:evil.example",
        "@evil.example/x",
        "evil@/x",
        "%2F%2Fevil.example/x",
        "%2fevil.example",
        "%5Cevil.example",
        "x%5C..%5Cadmin",
        "%40evil.example",
        "%252F%252Fevil.example",
        "https%3A%2F%2Fevil.example",
        "%2E%2E/admin",
        "echo/%2e%2e/%2e%2e/token",
        "echo/%01",
        "echo/%ZZ%ff",
    ],
)
def test_P01_paths_that_could_leave_the_base_url_are_400_before_any_call(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble, path: str
) -> None:
    """Host-changing, traversing or encoded paths → 400 invalid_proxy_path; the provider
    receives nothing (not even a refresh) and the answer is not marked upstream."""
    before = len(provider.requests)
    response = api.get(proxy_url(connected.ac_id, path), headers=acct)
    assert response.status_code == 400, response.text
    assert response.json()["Code"] == "invalid_proxy_path"
    assert MARK not in response.headers
    assert len(provider.requests) == before


@pytest.mark.parametrize(
    "path", ["//evil", "https://evil", "@evil", "\\evil", "%2F%2Fevil", "%5Cevil", "%40evil", ".."]
)
def test_P01_path_check_as_a_function(path: str) -> None:
    """The path rule itself, independent of how an HTTP client normalises URLs."""
    with pytest.raises(InvalidRequest, match="proxy path is not allowed"):
        check_path(path)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.example.com/v1/x", True),
        ("https://API.example.com:443/v1/x", True),
        ("https://api.example.com.evil.example/x", False),
        ("https://evil.example@api.example.com/x", False),
        ("https://api.example.com:8443/x", False),
        ("http://api.example.com/x", False),
        ("https://other.example.com/x", False),
    ],
)
def test_P01_final_url_must_keep_the_base_urls_origin(url: str, allowed: bool) -> None:
    """Same scheme, exact host, same port, no user information (the last guard)."""
    problem = destination_problem(url, "https://api.example.com/v1", allow_insecure_http=True)
    assert (problem is None) is allowed


def test_P02_redirects_are_returned_not_followed(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """A 302 to another host comes back as it is; the other host never hears from us, so the
    credential never travels there."""
    with ProviderDouble() as elsewhere:
        target = f"{elsewhere.url}/api/echo/steal"
        response = api.get(
            proxy_url(connected.ac_id, "redirect"),
            params={"to": target},
            headers=acct,
            follow_redirects=False,
        )
        assert response.status_code == 302
        assert response.headers["location"] == target
        assert response.headers[MARK] == "1"
        assert elsewhere.requests == []
    assert len(api_requests(provider)) == 1


@pytest.mark.parametrize(
    "base_url",
    [
        "https://169.254.169.254/latest",
        "https://10.1.2.3/api",
        "https://[fd00::1]/api",
        "https://metadata.internal.test/api",  # resolves to 169.254.169.254 (see the fixture)
    ],
)
def test_P03_internal_destinations_are_refused(
    api: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    base_url: str,
) -> None:
    """Literal or resolved link-local, private and unique-local addresses are refused (502
    destination_refused) even with allow_insecure_http, which opens loopback only."""
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "metadata.internal.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    found = install(api, auth, acct, base_url, entry("ApiKey"), API_KEY)
    response = api.get(proxy_url(found.ac_id, "x"), headers=acct)
    assert (response.status_code, response.json()["Code"]) == (502, "destination_refused")
    assert MARK not in response.headers


def test_P04_a_provider_401_refreshes_once_and_retries_once(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """The stored token is refused → one refresh, one retry that succeeds."""
    revoke_access_token(provider, connected.tokens["access_token"])
    response = api.get(proxy_url(connected.ac_id, "me"), headers=acct)
    assert response.status_code == 200, response.text
    assert provider.refresh_count == 1
    assert len(provider.requests_to("/api/me")) == 2


def test_P04_the_second_401_is_the_answer(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """401 after the refresh too: surfaced, marked upstream, one refresh, two calls."""
    provider.fail_next(Failure.http(401, path="/api/me"), Failure.http(401, path="/api/me"))
    response = api.get(proxy_url(connected.ac_id, "me"), headers=acct)
    assert response.status_code == 401
    assert response.headers[MARK] == "1"
    assert provider.refresh_count == 1
    assert len(provider.requests_to("/api/me")) == 2


def test_P05_retries_only_idempotent_or_keyed_requests(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """GET 503 → retried once; POST 503 → returned; POST with Idempotency-Key → retried."""
    path = "/api/echo/p05"
    url = proxy_url(connected.ac_id, "echo/p05")
    provider.fail_next(Failure.http(503, path=path))
    assert api.get(url, headers=acct).status_code == 200
    provider.fail_next(Failure.http(503, path=path))
    assert api.post(url, content=b"x", headers=acct).status_code == 503
    provider.fail_next(Failure.http(503, path=path))
    keyed = api.post(url, content=b"x", headers={**acct, "Idempotency-Key": "p05"})
    assert keyed.status_code == 200
    assert len(provider.requests_to(path)) == 5


def test_provider_errors_are_marked_tokenwards_are_not(
    api: TestClient, acct: dict[str, str], connected: Connected
) -> None:
    """The provider's 404 is marked X-Tokenward-Upstream; tokenward's own 404 is not."""
    upstream = api.get(proxy_url(connected.ac_id, "nothing-here"), headers=acct)
    own = api.get(proxy_url(424242, "me"), headers=acct)
    assert (upstream.status_code, upstream.headers[MARK]) == (404, "1")
    assert own.status_code == 404
    assert MARK not in own.headers


def test_409_when_not_authenticated(
    api: TestClient, auth: dict[str, str], acct: dict[str, str], provider: ProviderDouble
) -> None:
    """No credential → 409 not_authenticated, nothing sent."""
    found = install(api, auth, acct, f"{provider.url}/api", entry("ApiKey"))
    response = api.get(proxy_url(found.ac_id, "me"), headers=acct)
    assert (response.status_code, response.json()["Code"]) == (409, "not_authenticated")
    assert api_requests(provider) == []


def test_head_and_the_base_url_itself(
    api: TestClient, acct: dict[str, str], connected: Connected, provider: ProviderDouble
) -> None:
    """HEAD is forwarded; ``…/proxy`` alone reaches the base URL (where the double has
    nothing: its 404, marked upstream)."""
    head = api.head(proxy_url(connected.ac_id, "echo/h"), headers=acct)
    base = api.get(f"/v1.0/account/connectors/{connected.ac_id}/proxy", headers=acct)
    assert (head.status_code, head.headers[MARK]) == (200, "1")
    assert (base.status_code, base.headers[MARK]) == (404, "1")
    assert [(r.method, r.path) for r in api_requests(provider)] == [("HEAD", "/api/echo/h")]


def test_proxy_calls_are_audited(
    api: TestClient, acct: dict[str, str], connected: Connected, runtime: Runtime
) -> None:
    """Each proxied call leaves an audit entry (written in the next batch)."""
    assert api.get(proxy_url(connected.ac_id, "me"), headers=acct).status_code == 200
    assert "proxy.call" in audit_actions(runtime)
