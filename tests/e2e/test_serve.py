"""``tokenward serve`` as a real process on a real socket (127.0.0.1 only): the embedded default,
fail-closed starts, settings errors, health, metrics, PostgreSQL, and the partner flow."""

from __future__ import annotations

import base64
import json
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote_plus

import httpx
import pytest
from serving import (
    COMMAND,
    Deployment,
    Server,
    bearer,
    clean_env,
    create_client,
    get_token,
    pg_schema_url,
    random_keys,
)

pytestmark = pytest.mark.slow

TWO_WEEKS = 14 * 24 * 3600


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """`tokenward serve` with no configuration, in an empty folder."""
    deployment = Deployment(tmp_path_factory.mktemp("embedded"), clean_env())
    try:
        yield deployment
    finally:
        deployment.server.stop()


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """`tokenward serve --migrate` on a new, empty PostgreSQL schema."""
    with pg_schema_url() as url:
        env = clean_env(database_url=url, encryption_keys=random_keys())
        deployment = Deployment(tmp_path_factory.mktemp("pg"), env, "--migrate")
        try:
            yield deployment
        finally:
            deployment.server.stop()


def test_embedded_default_creates_the_data_folder(embedded: Deployment) -> None:
    """With no configuration serve creates ./tokenward-data/ with the database and a 0600 key
    file, and says where on stderr."""
    data = embedded.cwd / "tokenward-data"
    assert (data / "tokenward.db").is_file()
    key = data / "tokenward.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    output = embedded.first.output
    assert f"data folder {data}" in output
    assert "created data folder" in output
    assert f"serving on http://127.0.0.1:{embedded.first.port}" in output


def test_readyz_and_metrics(embedded: Deployment) -> None:
    """/readyz is 200 when ready; /metrics is Prometheus text with request counts."""
    server = embedded.server
    ready = httpx.get(server.url + "/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    metrics = httpx.get(server.url + "/metrics", timeout=10)
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "tokenward_http_requests_total" in metrics.text


def test_partner_flow_over_the_socket(embedded: Deployment) -> None:
    """apiclient create → token (form body and HTTP Basic) → account → sign-in token."""
    server = embedded.server
    client = create_client(server, "e2e")
    response = get_token(server, client)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] == TWO_WEEKS
    assert body[".issued"].endswith(" GMT")
    assert body[".expires"].endswith(" GMT")
    credentials = f"{quote_plus(client[0])}:{quote_plus(client[1])}"
    basic = httpx.post(
        server.url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()},
        timeout=10,
    )
    assert basic.status_code == 200, basic.text
    headers = bearer(basic.json()["access_token"])
    account = httpx.post(
        server.url + "/v1.0/accounts", json={"Id": "acme", "Name": "Acme"}, headers=headers
    )
    assert account.status_code == 200, account.text
    signin = httpx.post(
        server.url + "/v1.0/accounts/acme/signintoken", json={"Username": "ann"}, headers=headers
    )
    assert signin.status_code == 200, signin.text
    secrets_seen = [client[1], body["access_token"], basic.json()["access_token"]]
    secrets_seen.append(signin.json()["Token"])
    assert '"path": "/v1.0/accounts/acme/signintoken"' in server.output  # the access log
    assert all(secret not in server.output for secret in secrets_seen)  # L-01


def test_apiclient_list_and_revoke(embedded: Deployment) -> None:
    """A revoked client gets no new token (401 invalid_client) and its bearer stops working
    within the API's 5-second principal cache."""
    server = embedded.server
    client = create_client(server, "to-revoke")
    token = get_token(server, client).json()["access_token"]
    assert httpx.get(server.url + "/v1.0/accounts", headers=bearer(token)).status_code == 200
    listed = server.cli("apiclient", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["ClientId"]: row for row in json.loads(listed.stdout)}
    assert rows[client[0]]["Revoked"] is False
    assert client[1] not in listed.stdout
    revoked = server.cli("apiclient", "revoke", client[0])
    assert revoked.returncode == 0, revoked.stderr
    started = time.monotonic()
    refused = get_token(server, client)
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert _until_refused(server, token) - started <= 6.5
    again = json.loads(server.cli("apiclient", "list", "--json").stdout)
    assert {r["ClientId"]: r["Revoked"] for r in again}[client[0]] is True


def _until_refused(server: Server, token: str) -> float:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = httpx.get(server.url + "/v1.0/accounts", headers=bearer(token)).status_code
        if status == 401:
            return time.monotonic()
        assert status == 200
        time.sleep(0.25)
    pytest.fail("a revoked client's bearer token still worked after 10 s")


def test_second_start_reuses_the_data_folder(embedded: Deployment) -> None:
    """Restarting on the same folder keeps the key (not regenerated) and the data."""
    key = embedded.cwd / "tokenward-data" / "tokenward.key"
    before = key.read_bytes()
    client = create_client(embedded.server, "survives-restart")
    server = embedded.restart()
    assert key.read_bytes() == before
    assert "created data folder" not in server.output
    assert get_token(server, client).status_code == 200
    account = httpx.get(
        server.url + "/v1.0/accounts/acme",
        headers=bearer(get_token(server, client).json()["access_token"]),
    )
    assert account.status_code == 200


@pytest.fixture(scope="module")
def existing_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder made by `tokenward migrate` (database and key file)."""
    cwd = tmp_path_factory.mktemp("existing")
    made = subprocess.run(
        [*COMMAND, "migrate"], cwd=cwd, env=clean_env(), capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, made.stderr
    return cwd / "tokenward-data"


def test_s05_missing_key_file_refuses_to_start(existing_folder: Path, tmp_path: Path) -> None:
    """A data folder whose key file is missing: serve exits non-zero, says so, makes no key."""
    shutil.copytree(existing_folder, tmp_path / "tokenward-data")
    (tmp_path / "tokenward-data" / "tokenward.key").unlink()
    server = Server(tmp_path, clean_env())
    assert server.wait_exit() != 0
    assert "key file" in server.output
    assert "missing" in server.output
    assert not (tmp_path / "tokenward-data" / "tokenward.key").exists()
    assert "serving on" not in server.output


def test_s05_wrong_key_refuses_to_start(existing_folder: Path, tmp_path: Path) -> None:
    """TOKENWARD_ENCRYPTION_KEYS that did not seal the database: serve refuses to start."""
    database = f"sqlite:///{existing_folder / 'tokenward.db'}"
    server = Server(tmp_path, clean_env(database_url=database, encryption_keys=random_keys()))
    assert server.wait_exit() != 0
    assert "encryption key does not match this database" in server.output
    assert "serving on" not in server.output


def test_invalid_settings_name_each_problem(tmp_path: Path) -> None:
    """Several invalid settings stop the start with one message naming each; nothing is made."""
    env = clean_env(service_url="ftp://x", allowed_target_origins="not-an-origin")
    server = Server(tmp_path, env)
    assert server.wait_exit() != 0
    assert "TOKENWARD_SERVICE_URL" in server.output
    assert "TOKENWARD_ALLOWED_TARGET_ORIGINS" in server.output
    assert "not-an-origin" in server.output
    assert not (tmp_path / "tokenward-data").exists()


def test_postgresql_serve_migrate_and_partner_flow(postgres: Deployment) -> None:
    """On a new PostgreSQL schema `serve --migrate` creates the schema, is ready, and serves
    the partner flow; no data folder is made."""
    server = postgres.server
    assert httpx.get(server.url + "/readyz", timeout=10).status_code == 200
    client = create_client(server, "pg")
    token = get_token(server, client)
    assert token.status_code == 200, token.text
    assert token.json()["expires_in"] == TWO_WEEKS
    headers = bearer(token.json()["access_token"])
    account = httpx.post(
        server.url + "/v1.0/accounts", json={"Id": "pg-acme", "Name": "PG"}, headers=headers
    )
    assert account.status_code == 200, account.text
    signin = httpx.post(
        server.url + "/v1.0/accounts/pg-acme/signintoken", json={"Username": "u"}, headers=headers
    )
    assert signin.status_code == 200, signin.text
    assert not (postgres.cwd / "tokenward-data").exists()
