"""L-01, L-06, S-01 over the credential lifecycle: after a webflow (code, PKCE verifier, state,
sign-in token, binding cookie), a method call, a refresh with rotation and a de-authentication,
none of the secrets the provider or tokenward generated appear in any captured log line
(SQLAlchemy's query log with parameters included) or in the raw database bytes."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from webflow_support import (
    CLIENT_SECRET,
    CODE,
    Flow,
    install,
    provider_double,
    signin_token,
    start,
    with_catalog,
)

from tokenward.runtime import Runtime
from tokenward.testing import ProviderDouble

provider = provider_double()


@pytest.fixture
def runtime(runtime: Runtime, provider: ProviderDouble) -> Runtime:
    return with_catalog(runtime, provider)


# The test's own HTTP clients and the provider double's server log what *they* send and
# receive (the double is the provider); tokenward's logs are everything else.
_NOT_OURS = frozenset({"httpx", "httpx2", "httpcore", "uvicorn"})


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in _NOT_OURS:
            return
        fields = json.dumps({k: str(v) for k, v in vars(record).items()}, default=str)
        self.lines.append(f"{record.getMessage()} {fields}")


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every log record of the run, the SQL query log with its parameters included."""
    handler = _Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


def database_bytes(runtime: Runtime) -> bytes:
    """The SQLite files' raw bytes, or a pg_dump of the test schema."""
    url = make_url(runtime.settings.resolved_database_url())
    runtime.engine.dispose()
    if url.get_backend_name() == "sqlite":
        base = Path(str(url.database))
        return b"".join(p.read_bytes() for p in base.parent.glob(base.name + "*"))
    schema = str(url.query.get("options", "")).split("=")[-1]
    command = ["pg_dump", "-h", url.host or "127.0.0.1", "-U", url.username or "postgres"]
    command += ["-n", schema, url.database or "test"]
    return subprocess.run(command, capture_output=True, check=True).stdout


def test_l01_s01_flow_and_refresh_secrets_never_leak(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
    logs: list[str],
) -> None:
    ac_id = install(client, acct, CODE)
    token = signin_token(client, auth)
    flow = Flow(client, provider, start(client, ac_id, token))
    state = flow.state
    callback = flow.authorize()
    assert flow.back(callback).status_code == 303
    assert flow.complete().status_code == 200
    binding = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    for _ in range(2):
        refreshed = client.post(f"/v1.0/account/connectors/{ac_id}/refresh", headers=acct)
        assert refreshed.status_code == 200, refreshed.text
    assert client.get(f"/v1.0/account/connectors/{ac_id}/token", headers=acct).status_code == 200
    assert (
        client.put(f"/v1.0/account/connectors/{ac_id}/deauthenticate", headers=acct).status_code
        == 200
    )

    state_of = provider.state
    secrets = {
        "sign-in token": token,
        "state": state,
        "client secret": CLIENT_SECRET,
        **{f"code {i}": code for i, code in enumerate(state_of.codes)},
        **{f"refresh {i}": rt for i, rt in enumerate(state_of.refresh_tokens)},
        **{f"access {i}": at for i, at in enumerate(state_of.access_tokens)},
        **{
            f"verifier {i}": r.form["code_verifier"]
            for i, r in enumerate(provider.requests_to("/token"))
            if "code_verifier" in r.form
        },
    }
    secrets.update({f"cookie {i}": c for i, c in enumerate(binding.split("; ")) if c})
    assert len(secrets) >= 10
    text = "\n".join(logs)
    dump = database_bytes(runtime)
    for name, value in secrets.items():
        assert value not in text, f"{name} in the logs"
        assert value.encode() not in dump, f"{name} in the database bytes"
    assert any("connector/callback" in line for line in logs)  # the capture saw the flow
