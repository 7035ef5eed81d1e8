"""Logs redact secrets (L-01), the access log has no query string (L-05), and errors carry no
request headers or bodies (L-06)."""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient

from tokenward.logging import configure_logging, redact
from tokenward.settings import load_settings
from tokenward.web.app import create_app

CANARY = "canary" + secrets.token_hex(8)


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """tokenward's JSON logging into a buffer; the previous logging set-up is restored after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("uvicorn.access").disabled)
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    clients = [logging.getLogger(name) for name in ("httpx", "httpx2")]
    client_levels = [c.level for c in clients]
    for c in clients:  # the test client logs its own request URLs: not the server's logs
        c.setLevel(logging.WARNING)
    try:
        yield stream
    finally:
        for c, level in zip(clients, client_levels, strict=True):
            c.setLevel(level)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("uvicorn.access").disabled = saved[2]
        structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_l01_bearer_and_basic_credentials_in_messages_are_redacted(
    log_stream: io.StringIO,
) -> None:
    """A bearer or basic credential inside a message or its arguments never reaches the log."""
    log = logging.getLogger("tokenward.test")
    log.info("calling upstream with Bearer %s", CANARY)
    log.info(f"header was Basic {base64.b64encode(CANARY.encode()).decode()}")
    structlog.get_logger("tokenward.test").info("outbound", header=f"Bearer {CANARY}")
    output = log_stream.getvalue()
    assert CANARY not in output
    assert base64.b64encode(CANARY.encode()).decode() not in output
    assert output.count("[redacted]") == 3


@pytest.mark.parametrize("parameter", ["token", "code", "state", "client_secret", "access_token"])
def test_l05_secret_query_values_are_redacted(log_stream: io.StringIO, parameter: str) -> None:
    """``token=`` and the other secret query parameters lose their values in any logged URL;
    other parameters stay readable."""
    logging.getLogger("tokenward.test").warning(
        "redirect to %s", f"https://x.example/cb?{parameter}={CANARY}&page=2"
    )
    (line,) = lines(log_stream)
    assert CANARY not in json.dumps(line)
    assert f"{parameter}=[redacted]&page=2" in line["event"]


def test_l01_secret_named_fields_are_redacted_at_any_depth(log_stream: io.StringIO) -> None:
    """Fields named like secrets are redacted, in extras, structlog fields and nested dicts."""
    logging.getLogger("tokenward.test").info(
        "stored",
        extra={"client_secret": CANARY, "refresh_token": CANARY, "account_id": "acme"},
    )
    structlog.get_logger("tokenward.test").info(
        "saved",
        password=CANARY,
        body={"AuthValue": CANARY, "Name": "visible", "Nested": {"ApiKey": CANARY}},
        items=[{"code_verifier": CANARY}],
    )
    output = log_stream.getvalue()
    assert CANARY not in output
    first, second = lines(log_stream)
    assert first["client_secret"] == "[redacted]"
    assert first["account_id"] == "acme"
    assert second["body"]["Name"] == "visible"
    assert second["body"]["AuthValue"] == "[redacted]"


def test_redact_leaves_ordinary_values_alone() -> None:
    """Redaction is targeted: ordinary text, numbers and names pass unchanged."""
    assert redact("GET /v1.0/accounts?page=2") == "GET /v1.0/accounts?page=2"
    assert redact({"Name": "Acme", "Count": 3}) == {"Name": "Acme", "Count": 3}
    assert redact(["a", 1, None]) == ["a", 1, None]


@pytest.fixture
def app_client(tmp_path: Any) -> Iterator[TestClient]:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        encryption_keys="k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    )
    app = create_app(settings, migrate=True)

    async def boom() -> None:
        raise RuntimeError("failed while handling the request")

    app.add_api_route("/v1.0/boom", boom, methods=["POST"])
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_l05_access_log_line_has_no_query_string(
    app_client: TestClient, log_stream: io.StringIO
) -> None:
    """The access log records method, path and status, never the query string."""
    assert app_client.get(f"/healthz?token={CANARY}&x=1").status_code == 200
    access = [line for line in lines(log_stream) if line["event"] == "request"]
    assert len(access) == 1
    assert access[0]["path"] == "/healthz"
    assert access[0]["method"] == "GET"
    assert access[0]["status"] == 200
    assert CANARY not in log_stream.getvalue()
    assert "x=1" not in log_stream.getvalue()


def test_l06_errors_carry_no_request_headers_or_bodies(
    app_client: TestClient, log_stream: io.StringIO
) -> None:
    """A crash answers a bare 500 and logs the failure without the request's headers or body."""
    token = app_client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_secret": CANARY}
    )
    assert token.status_code == 401
    response = app_client.post(
        "/v1.0/boom",
        headers={"Authorization": f"Bearer {CANARY}", "X-Secret-Thing": CANARY},
        content=json.dumps({"Password": CANARY}),
    )
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert CANARY not in log_stream.getvalue()
