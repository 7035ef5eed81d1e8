"""Helpers of the end-to-end tests: a real ``tokenward serve`` process on a free loopback port
(127.0.0.1 only), other CLI commands in the same folder and environment, a private PostgreSQL
schema, and the partner API's client credentials and bearer tokens."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

__all__ = [
    "COMMAND",
    "Deployment",
    "Server",
    "bearer",
    "clean_env",
    "create_client",
    "free_port",
    "get_token",
    "pg_schema_url",
    "random_keys",
]

_SCRIPT = Path(sys.executable).with_name("tokenward")
COMMAND = (
    [str(_SCRIPT)]
    if _SCRIPT.exists()
    else [sys.executable, "-c", "from tokenward.cli.main import main; main()"]
)


def pg_base_url() -> str:
    """The PostgreSQL test database (as tests/conftest.py reads it; not imported from there:
    several test folders have a ``conftest`` module)."""
    return os.environ.get(
        "TOKENWARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any TOKENWARD_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENWARD_")}
    env.update({f"TOKENWARD_{name.upper()}": value for name, value in settings.items()})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def random_keys() -> str:
    return "k1:" + base64.b64encode(secrets.token_bytes(32)).decode()


class Server:
    """One ``tokenward serve`` process; its stderr goes to a file (a pipe could fill up)."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        self.cwd, self.env = cwd, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{self.port}.stderr"
        self.stdout_log = cwd / f"serve-{self.port}.stdout"
        with self.log.open("wb") as err, self.stdout_log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*COMMAND, "serve", "--port", str(self.port), *args],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    @property
    def output(self) -> str:
        """What the process wrote to stderr (messages and JSON logs)."""
        return self.log.read_text(errors="replace")

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"serve exited with {self.proc.returncode}:\n{self.output}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail(f"serve did not become healthy:\n{self.output}")

    def wait_exit(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Another tokenward command in the same folder and environment."""
        return subprocess.run(
            [*COMMAND, *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


class Deployment:
    """A served data folder that can be restarted."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str) -> None:
        self.cwd, self.env, self.args = cwd, env, args
        self.first = self.server = self.start()

    def start(self) -> Server:
        server = Server(self.cwd, self.env, *self.args)
        server.wait_healthy()
        return server

    def restart(self) -> Server:
        self.server.stop()
        self.server = self.start()
        return self.server


@contextmanager
def pg_schema_url(prefix: str = "tw_e2e") -> Iterator[str]:
    """The URL of a new, empty PostgreSQL schema of the test database; dropped afterwards."""
    schema = f"{prefix}_{secrets.token_hex(5)}"
    admin = create_engine(pg_base_url())
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    base = pg_base_url()
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def create_client(server: Server, name: str) -> tuple[str, str]:
    """``tokenward apiclient create --name NAME --json`` → (ClientId, ClientSecret)."""
    made = server.cli("apiclient", "create", "--name", name, "--json")
    assert made.returncode == 0, made.stderr
    pair = json.loads(made.stdout)
    return pair["ClientId"], pair["ClientSecret"]


def get_token(server: Server, client: tuple[str, str], **extra: str) -> httpx.Response:
    """``POST /oauth/token`` with the client credentials grant (credentials in the form)."""
    data = {"grant_type": "client_credentials", "client_id": client[0], "client_secret": client[1]}
    return httpx.post(server.url + "/oauth/token", data={**data, **extra}, timeout=10)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
