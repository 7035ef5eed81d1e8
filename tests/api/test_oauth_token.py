"""``POST /oauth/token`` and bearer tokens (K-01, L-03) and sign-in tokens (K-02), through HTTP
on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import logging
import re
import threading
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote_plus

import httpx
import pytest
from fastapi.testclient import TestClient

from tokenward.clock import FakeClock
from tokenward.crypto.hashing import hash_token
from tokenward.runtime import Runtime

RFC1123 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$"
)
TWO_WEEKS = 14 * 24 * 3600


def basic(user: str, password: str) -> dict[str, str]:
    """RFC 6749 §2.3.1: each part form-urlencoded, then ``user:password`` in base64."""
    raw = f"{quote_plus(user)}:{quote_plus(password)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def request_token(
    client: TestClient, api_client: tuple[str, str], **extra: str
) -> dict[str, object]:
    data = {"grant_type": "client_credentials", "client_id": api_client[0]}
    data["client_secret"] = api_client[1]
    response = client.post("/oauth/token", data={**data, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_k01_client_credentials_in_the_body(
    client: TestClient, api_client: tuple[str, str], clock: FakeClock
) -> None:
    """client_secret_post gives a bearer token with Cyclr's fields: 14 days, RFC 1123 dates."""
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": api_client[0],
            "client_secret": api_client[1],
        },
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == TWO_WEEKS
    assert body["clientId"] == api_client[0]
    assert RFC1123.match(body[".issued"])
    assert RFC1123.match(body[".expires"])
    assert parsedate_to_datetime(body[".issued"]) == clock.now()
    assert parsedate_to_datetime(body[".expires"]) == clock.now() + timedelta(seconds=TWO_WEEKS)
    assert "refresh_token" not in body
    assert client.get("/v1.0/accounts", headers=bearer(body["access_token"])).status_code == 200


def test_k01_client_credentials_with_http_basic(
    client: TestClient, api_client: tuple[str, str]
) -> None:
    """HTTP Basic works, and each part is form-url-decoded after base64 (RFC 6749 §2.3.1)."""
    plain = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(*api_client)
    )
    assert plain.status_code == 200, plain.text
    encoded_secret = "".join(f"%{b:02X}" for b in api_client[1].encode())
    raw = f"{api_client[0]}:{encoded_secret}".encode()
    header = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    encoded = client.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=header)
    assert encoded.status_code == 200, encoded.text
    token = encoded.json()["access_token"]
    assert client.get("/v1.0/accounts", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("how", ["body", "basic", "unknown_client", "no_secret"])
def test_k01_bad_client_credentials_are_401_invalid_client(
    client: TestClient, api_client: tuple[str, str], runtime: Runtime, how: str
) -> None:
    """A wrong secret or unknown client is 401 invalid_client with WWW-Authenticate; no token
    is stored."""
    grant = {"grant_type": "client_credentials"}
    wrong = api_client[1][:-2] + "xx"
    cases = {
        "body": ({**grant, "client_id": api_client[0], "client_secret": wrong}, {}),
        "basic": (grant, basic(api_client[0], wrong)),
        "unknown_client": ({**grant, "client_id": "nobody", "client_secret": wrong}, {}),
        "no_secret": ({**grant, "client_id": api_client[0]}, {}),
    }
    data, headers = cases[how]
    response = client.post("/oauth/token", data=data, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert response.headers["cache-control"] == "no-store"
    assert _token_count(runtime) == 0


def _token_count(runtime: Runtime) -> int:
    from sqlalchemy import func, select

    from tokenward.store.engine import transaction
    from tokenward.store.tables import api_tokens

    with transaction(runtime.engine, write=False) as conn:
        return int(conn.execute(select(func.count()).select_from(api_tokens)).scalar_one())


def test_unknown_grant_type_is_400_unsupported_grant_type(
    client: TestClient, api_client: tuple[str, str]
) -> None:
    """Only client_credentials, password and refresh_token are grants."""
    response = client.post(
        "/oauth/token", data={"grant_type": "implicit"}, headers=basic(*api_client)
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_scope_account_restricts_the_token(
    client: TestClient, api_client: tuple[str, str], auth: dict[str, str], account: str
) -> None:
    """scope=account:{id}: the token reaches that account only and makes no partner calls."""
    client.post("/v1.0/accounts", json={"Id": "other", "Name": "Other"}, headers=auth)
    token = request_token(client, api_client, scope=f"account:{account}")["access_token"]
    own = {**bearer(token), "X-Cyclr-Account": account}
    foreign = {**bearer(token), "X-Cyclr-Account": "other"}
    assert client.get("/v1.0/account/connectors", headers=own).status_code == 200
    assert client.get(f"/v1.0/accounts/{account}", headers=bearer(token)).status_code == 200
    denied = client.get("/v1.0/account/connectors", headers=foreign)
    assert denied.status_code == 403
    assert denied.json()["Code"] == "account_forbidden"
    assert client.get("/v1.0/accounts/other", headers=bearer(token)).status_code == 403
    created = client.post("/v1.0/accounts", json={"Id": "new", "Name": "N"}, headers=bearer(token))
    assert created.status_code == 403
    assert client.get("/v1.0/accounts/new", headers=auth).status_code == 404


@pytest.mark.parametrize("scope", ["account:nope", "accounts:acme", "account:", "everything"])
def test_scope_for_an_unknown_account_or_malformed_is_400_invalid_scope(
    client: TestClient, api_client: tuple[str, str], account: str, runtime: Runtime, scope: str
) -> None:
    """A scope naming no existing account, or not of the form account:{id}, issues nothing."""
    before = _token_count(runtime)
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers=basic(*api_client),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert _token_count(runtime) == before


def _password_grant(
    client: TestClient, api_client: tuple[str, str], username: str, password: str
) -> httpx.Response:
    return client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": api_client[0],
            "username": username,
            "password": password,
        },
    )


def test_password_grant_restricts_to_the_users_account_with_a_refresh_token(
    client: TestClient, api_client: tuple[str, str], acct: dict[str, str], auth: dict[str, str]
) -> None:
    """Cyclr's legacy password grant: a user's password gives a token for that account only,
    with a refresh token; a wrong password is 400 invalid_grant."""
    client.post("/v1.0/accounts", json={"Id": "other", "Name": "Other"}, headers=auth)
    saved = client.put(
        "/v1.0/accounts/acme/users", json={"UserName": "ann", "Password": "s3cret!"}, headers=acct
    )
    assert saved.status_code == 200
    response = _password_grant(client, api_client, "ann", "s3cret!")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["userName"] == "ann"
    assert body["refresh_token"]
    token = body["access_token"]
    assert client.get("/v1.0/accounts/acme", headers=bearer(token)).status_code == 200
    assert client.get("/v1.0/accounts/other", headers=bearer(token)).status_code == 403
    assert client.get("/v1.0/accounts", headers=bearer(token)).status_code == 403
    wrong = _password_grant(client, api_client, "ann", "guess")
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    unknown = _password_grant(client, api_client, "bob", "s3cret!")
    assert unknown.json()["error"] == "invalid_grant"


def test_refresh_token_grant_is_single_use(
    client: TestClient, api_client: tuple[str, str], acct: dict[str, str]
) -> None:
    """A refresh token gives a new token (same account) once; its second use is invalid_grant."""
    client.put(
        "/v1.0/accounts/acme/users", json={"UserName": "ann", "Password": "pw"}, headers=acct
    )
    first = _password_grant(client, api_client, "ann", "pw").json()
    data = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    renewed = client.post("/oauth/token", data=data)
    assert renewed.status_code == 200, renewed.text
    body = renewed.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["userName"] == "ann"
    assert (
        client.get("/v1.0/accounts/acme", headers=bearer(body["access_token"])).status_code == 200
    )
    again = client.post("/oauth/token", data=data)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    missing = client.post("/oauth/token", data={"grant_type": "refresh_token"})
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


def test_l03_a_bearer_key_in_the_query_string_is_401_and_not_logged(
    client: TestClient, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The partner API takes its key only from the Authorization header; ?access_token= is
    refused and the key appears in no log record."""
    with caplog.at_level(logging.DEBUG):
        response = client.get(f"/v1.0/accounts?access_token={token}")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    server_side = [r for r in caplog.records if not r.name.startswith("httpx")]  # not the client
    assert server_side
    for record in server_side:
        assert token not in repr(record.__dict__)
        assert token not in record.getMessage()


def test_an_expired_bearer_token_is_401(
    client: TestClient, api_client: tuple[str, str], clock: FakeClock
) -> None:
    """A bearer token stops working when its 14 days are over."""
    token = request_token(client, api_client)["access_token"]
    clock.advance(TWO_WEEKS + 1)
    response = client.get("/v1.0/accounts", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_k02_signin_token_is_url_safe_five_minutes_and_hashed(
    client: TestClient, acct: dict[str, str], runtime: Runtime, clock: FakeClock
) -> None:
    """A sign-in token is URL-safe, expires in 5 minutes, creates its unknown user, and only
    its hash is stored."""
    assert "newbie" not in client.get("/v1.0/accounts/acme/users", headers=acct).json()
    response = client.post(
        "/v1.0/accounts/acme/signintoken", json={"Username": "newbie"}, headers=acct
    )
    assert response.status_code == 200
    body = response.json()
    assert re.fullmatch(r"[A-Za-z0-9_-]+", body["Token"])
    assert len(body["Token"]) >= 43  # 256 random bits
    expires = body["ExpiresAtUtc"].replace("Z", "+00:00")
    assert datetime.fromisoformat(expires) == clock.now() + timedelta(minutes=5)
    assert "newbie" in client.get("/v1.0/accounts/acme/users", headers=acct).json()
    with runtime.ctx.db.read() as tx:
        stored = tx.signin_tokens.get(hash_token(body["Token"]))
        assert tx.signin_tokens.get(body["Token"]) is None
    assert stored is not None
    assert stored.username == "newbie"
    assert stored.used_utc is None


def test_k02_fifty_concurrent_consumers_exactly_one_wins(
    client: TestClient, acct: dict[str, str], runtime: Runtime, clock: FakeClock
) -> None:
    """Consuming a sign-in token is atomic: of 50 threads at once exactly one succeeds."""
    token = client.post(
        "/v1.0/accounts/acme/signintoken", json={"Username": "u"}, headers=acct
    ).json()["Token"]
    ctx, start = runtime.ctx, threading.Barrier(50)
    results: list[bool] = []
    lock = threading.Lock()

    def consume() -> None:
        start.wait()
        with ctx.db.write() as tx:
            won = tx.signin_tokens.consume(hash_token(token), clock.now()) is not None
        with lock:
            results.append(won)

    threads = [threading.Thread(target=consume) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 50
    assert results.count(True) == 1


def test_k02_an_expired_or_used_signin_token_is_not_consumed(
    client: TestClient, acct: dict[str, str], runtime: Runtime, clock: FakeClock
) -> None:
    """After its 5 minutes, or once used, a sign-in token no longer consumes."""

    def issue() -> str:
        url = "/v1.0/accounts/acme/signintoken"
        return str(client.post(url, json={"Username": "u"}, headers=acct).json()["Token"])

    used, late = issue(), issue()
    with runtime.ctx.db.write() as tx:
        assert tx.signin_tokens.consume(hash_token(used), clock.now()) is not None
    clock.advance(301)
    with runtime.ctx.db.write() as tx:
        assert tx.signin_tokens.consume(hash_token(used), clock.now()) is None
        assert tx.signin_tokens.consume(hash_token(late), clock.now()) is None
