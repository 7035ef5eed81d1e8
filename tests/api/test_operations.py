"""Operations endpoints (/readyz, /metrics) and TRUSTED_PROXIES, through the ASGI app."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import secrets
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tokenward.runtime import Runtime
from tokenward.settings import load_settings
from tokenward.store.engine import transaction
from tokenward.web.app import create_app


def test_readyz_is_200_when_ready_and_quiet(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """/readyz answers 200 and, called often, starts no Alembic machinery (no log lines)."""
    with caplog.at_level(logging.DEBUG):
        for _ in range(5):
            response = client.get("/readyz")
            assert response.status_code == 200
            assert response.json() == {"status": "ready", "problems": []}
    assert not [r for r in caplog.records if r.name.startswith("alembic")]


def test_readyz_is_503_when_the_schema_is_behind(client: TestClient, runtime: Runtime) -> None:
    """A database whose recorded revision is not this version's head is not ready."""
    with transaction(runtime.engine, write=True) as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "not current" in response.json()["problems"][0]
    finally:
        with transaction(runtime.engine, write=True) as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_database_is_unreachable(
    client: TestClient, app: FastAPI, runtime: Runtime
) -> None:
    """With the database out of reach /readyz says so (503) instead of failing."""
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app.state.runtime = dataclasses.replace(runtime, engine=dead)
    try:
        response = client.get("/readyz")
    finally:
        app.state.runtime = runtime
        dead.dispose()
    assert response.status_code == 503
    assert response.json()["problems"] == ["the database is unreachable (OperationalError)"]


def test_metrics_serve_prometheus_text(client: TestClient) -> None:
    """/metrics is Prometheus text with request counts by route template."""
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'tokenward_http_requests_total{method="GET",route="/healthz",status="200"}' in (
        response.text
    )
    assert "tokenward_http_request_seconds_bucket" in response.text


def _proxied_app(trusted: str) -> FastAPI:
    settings = load_settings(
        database_url="sqlite:///unused.db",
        encryption_keys="k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        trusted_proxies=trusted,
    )
    app = create_app(settings)

    async def probe(request: Request) -> dict[str, Any]:
        assert request.client is not None
        return {"client": request.client.host, "scheme": request.url.scheme}

    app.add_api_route("/probe", probe)
    return app


def _call(app: FastAPI, client_host: str, headers: dict[str, str]) -> dict[str, Any]:
    """One raw ASGI request from ``client_host``; the JSON it answers."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/probe",
        "raw_path": b"/probe",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": (client_host, 41000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    result: dict[str, Any] = json.loads(body)
    return result


FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


@pytest.mark.parametrize("proxy", ["10.0.0.7", "192.168.4.20"])
def test_forwarded_headers_are_believed_from_a_trusted_proxy(proxy: str) -> None:
    """From an address in TOKENWARD_TRUSTED_PROXIES (address or network), X-Forwarded-For and
    X-Forwarded-Proto give the client address and scheme."""
    app = _proxied_app("10.0.0.7,192.168.0.0/16")
    assert _call(app, proxy, FORWARDED) == {"client": "203.0.113.9", "scheme": "https"}


def test_forwarded_headers_are_ignored_from_anyone_else() -> None:
    """Any other peer's X-Forwarded-* headers are ignored: it cannot claim another address."""
    app = _proxied_app("10.0.0.7")
    assert _call(app, "198.51.100.3", FORWARDED) == {"client": "198.51.100.3", "scheme": "http"}


def test_forwarded_headers_are_ignored_without_trusted_proxies() -> None:
    """With no TOKENWARD_TRUSTED_PROXIES no peer is believed, not even loopback."""
    app = _proxied_app("")
    assert _call(app, "127.0.0.1", FORWARDED) == {"client": "127.0.0.1", "scheme": "http"}
