"""L-01, S-01, S-07, S-08: planted canary secrets never leak.

Canaries: an API client secret, bearer and sign-in tokens, OAuth AuthValue tokens, an API key,
a sensitive property, an application connector client secret and the webhook secret. After a
run of calls that touch each, no canary appears in any log line (SQLAlchemy's query log
included), in any API response beyond what DESIGN.md §5 allows, or in the database's raw bytes.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from tokenward.runtime import Runtime

ACCESS = "canary-access-token-3f9a1c"
REFRESH = "canary-refresh-token-77b2e0"
API_KEY = "canary-api-key-51d7aa"
SENSITIVE = "canary-sensitive-property-0c4e"
APP_SECRET = "canary-app-client-secret-9e12"
WEBHOOK_SECRET = "canary-webhook-secret-a61f"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(
            record.getMessage()
            + " "
            + json.dumps({k: str(v) for k, v in vars(record).items()}, default=str)
        )


@pytest.fixture
def captured() -> Iterator[_Capture]:
    handler = _Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # query log with parameters
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


def _exercise(
    client: TestClient, auth: dict[str, str], acct: dict[str, str], responses: list[str]
) -> str:
    """Touch every secret-bearing call; returns the sign-in token (a canary of its own)."""

    def keep(response: Any) -> Any:
        assert response.status_code < 500, response.text
        responses.append(response.text + json.dumps(dict(response.headers)))
        return response

    oauth_value = json.dumps(
        {"AccessToken": ACCESS, "RefreshToken": REFRESH, "Expires": "2099-01-01T00:00:00Z"}
    )
    props = [
        {"Name": "AuthoriseUrl", "Value": "https://id.example.com/authorize"},
        {"Name": "AccessTokenUrl", "Value": "https://id.example.com/token"},
        {"Name": "BaseUrl", "Value": "https://api.example.com"},
        {"Name": "ClientSecret", "Value": SENSITIVE},
    ]
    oauth = keep(
        client.post(
            "/v1.0/connectors/Generic OAuth 2.0/install",
            headers=acct,
            json={"AuthValue": oauth_value, "Properties": props},
        )
    ).json()
    key = keep(
        client.post(
            "/v1.0/connectors/1002/install",
            headers=acct,
            json={
                "AuthValue": API_KEY,
                "Properties": [{"Name": "BaseUrl", "Value": "https://api.example.com"}],
            },
        )
    ).json()
    for ac in (oauth, key):
        keep(client.get(f"/v1.0/account/connectors/{ac['Id']}", headers=acct))
        keep(client.get(f"/v1.0/account/connectors/{ac['Id']}/properties", headers=acct))
    keep(client.get("/v1.0/account/connectors", headers=acct))
    keep(
        client.put(
            f"/v1.0/account/connectors/{key['Id']}",
            headers=acct,
            json={"AuthValue": API_KEY + "-2"},
        )
    )
    keep(
        client.put(
            f"/v1.0/applicationconnectors/{oauth['Connector']['Id']}",
            headers=auth,
            json={"ClientId": "app-client", "ClientSecret": APP_SECRET},
        )
    )
    keep(client.get("/v1.0/applicationconnectors", headers=auth))
    keep(client.put("/v1.0/partner/settings", headers=auth, json={"WebhookSecret": WEBHOOK_SECRET}))
    keep(client.get("/v1.0/partner/settings", headers=auth))
    keep(
        client.post(
            "/v1.0/connectors/1002/install",
            headers=acct,
            json={"AuthValue": json.dumps({"AccessToken": ACCESS, "Bogus": 1})},
        )
    )
    signin = client.post("/v1.0/accounts/acme/signintoken", headers=auth, json={"Username": "ann"})
    return str(signin.json()["Token"])


def _database_bytes(runtime: Runtime) -> bytes:
    url = make_url(runtime.settings.resolved_database_url())
    runtime.engine.dispose()
    if url.get_backend_name() == "sqlite":
        base = Path(str(url.database))
        return b"".join(p.read_bytes() for p in base.parent.glob(base.name + "*"))
    schema = str(url.query.get("options", "")).split("=")[-1]
    dump = subprocess.run(
        [
            "pg_dump",
            "-h",
            url.host or "127.0.0.1",
            "-U",
            url.username or "postgres",
            "-n",
            schema,
            url.database or "test",
        ],
        capture_output=True,
        check=True,
    )
    return dump.stdout


def test_l01_s01_canaries_never_leak(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    api_client: tuple[str, str],
    token: str,
    runtime: Runtime,
    captured: _Capture,
) -> None:
    """No canary in logs, in responses (beyond the sign-in token's own) or in the database."""
    responses: list[str] = []
    signin = _exercise(client, auth, acct, responses)
    canaries = [
        ACCESS,
        REFRESH,
        API_KEY,
        SENSITIVE,
        APP_SECRET,
        WEBHOOK_SECRET,
        api_client[1],
        token,
        signin,
    ]
    logs = "\n".join(captured.lines)
    assert captured.lines, "nothing was logged: the capture is not working"
    served = "\n".join(responses)
    stored = _database_bytes(runtime)
    for canary in canaries:
        assert canary not in logs, f"canary in logs: {canary[:12]}…"
        assert canary not in served, f"canary in a response: {canary[:12]}…"
        assert canary.encode() not in stored, f"canary in the database: {canary[:12]}…"
