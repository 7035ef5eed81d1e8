"""Shared fixtures: every store and API test runs on a real SQLite file and on PostgreSQL.

PostgreSQL: ``TOKENWARD_TEST_POSTGRES_URL`` (default: the local server, database ``test``). Each
test session works in its own schema, so parallel runs never meet; tables are emptied between
tests. In CI (``CI`` set) an unreachable PostgreSQL fails the run instead of skipping it.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tokenward.clock import FakeClock
from tokenward.runtime import Runtime, open_runtime
from tokenward.services import api_clients
from tokenward.settings import Settings, load_settings
from tokenward.store.tables import metadata
from tokenward.web.app import create_app

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgres"]


def pg_base_url() -> str:
    return os.environ.get("TOKENWARD_TEST_POSTGRES_URL", DEFAULT_PG)


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A private schema in the PostgreSQL test database, migrated once for the session."""
    base = pg_base_url()
    schema = f"tw_{secrets.token_hex(6)}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL at {base} is not reachable: {type(exc).__name__}: {exc}")
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    from tokenward.store.migrate import upgrade

    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    from tokenward.store.migrate import upgrade

    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "tokenward.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_schema_url")
    _truncate_pg(url)
    return url


@pytest.fixture
def encryption_keys() -> str:
    return "k1:" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def settings(database_url: str, encryption_keys: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        encryption_keys=encryption_keys,
        data_dir=tmp_path / "data",
        allow_insecure_http=True,
        allowed_target_origins="https://partner.example",
    )


@pytest.fixture
def clock() -> FakeClock:
    from datetime import UTC, datetime

    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    rt = open_runtime(settings, clock=clock)
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture
def app(settings: Settings, runtime: Runtime) -> Any:
    return create_app(settings, runtime=runtime)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


@pytest.fixture
def api_client(runtime: Runtime) -> tuple[str, str]:
    """A partner API client: (ClientId, ClientSecret)."""
    created, secret = api_clients.create_client(runtime.ctx, "tests")
    return created.client_id, secret


@pytest.fixture
def token(client: TestClient, api_client: tuple[str, str]) -> str:
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": api_client[0],
            "client_secret": api_client[1],
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    """Headers of a partner-level call."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def account(client: TestClient, auth: dict[str, str]) -> str:
    """An account's API ID."""
    response = client.post("/v1.0/accounts", json={"Id": "acme", "Name": "Acme"}, headers=auth)
    assert response.status_code == 200, response.text
    return "acme"


@pytest.fixture
def acct(auth: dict[str, str], account: str) -> dict[str, str]:
    """Headers of an account-level call on ``account``."""
    return {**auth, "X-Cyclr-Account": account}
