"""Partner API throughput: ``GET /v1.0/account/connectors/{id}`` against ``/healthz``.

One command: ``python bench/api.py``. It starts a real ``tokenward serve`` (one worker, embedded
SQLite by default, ``--postgres URL`` for PostgreSQL) on a loopback port, seeds an API client, an
account and an installed connector, then drives both endpoints with 16 concurrent connections
from a separate load process, alternating rounds so that machine noise hits both alike. It prints
requests/s of each and their ratio (the baseline, ``/healthz``, is measured in the same run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from multiprocessing import Process, Queue
from pathlib import Path

import aiohttp
from sqlalchemy import create_engine, text

from tokenward.crypto.keyring import new_keyring, write_key_file

TARGET_RATIO = 0.5


def _create_schema(url: str) -> str:
    """A private schema, so the benchmark never touches other data in the database."""
    schema = f"tw_bench_{secrets.token_hex(4)}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return schema


def _drop_schema(url: str, schema: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _call(
    base: str, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> dict[str, object]:
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")  # type: ignore[no-any-return]


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if server.poll() is not None:
            raise SystemExit("tokenward serve exited during start-up")
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("tokenward serve did not become ready")


def _seed(base: str, env: dict[str, str], cwd: str) -> tuple[str, dict[str, str]]:
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "tokenward.cli.main",
            "apiclient",
            "create",
            "--name",
            "bench",
            "--json",
        ],
        env=env,
        cwd=cwd,
        capture_output=True,
        check=True,
    )
    creds = json.loads(created.stdout)
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": creds["ClientId"],
            "client_secret": creds["ClientSecret"],
        }
    ).encode()
    token = _call(
        base, "POST", "/oauth/token", {"Content-Type": "application/x-www-form-urlencoded"}, form
    )["access_token"]
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    _call(base, "POST", "/v1.0/accounts", auth, json.dumps({"Id": "bench", "Name": "B"}).encode())
    acct = {**auth, "X-Cyclr-Account": "bench"}
    install = json.dumps(
        {
            "AuthValue": "bench-api-key-value",
            "Properties": [{"Name": "BaseUrl", "Value": "https://api.example.com"}],
        }
    )
    installed = _call(base, "POST", "/v1.0/connectors/1002/install", acct, install.encode())
    return f"/v1.0/account/connectors/{installed['Id']}", acct


async def _drive(url: str, headers: dict[str, str], seconds: float, concurrency: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        raise SystemExit(f"{url} answered {response.status}")
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - start)


def _load(
    url: str, headers: dict[str, str], seconds: float, concurrency: int, out: Queue[float]
) -> None:
    out.put(asyncio.run(_drive(url, headers, seconds, concurrency)))


def measure(url: str, headers: dict[str, str], seconds: float, concurrency: int) -> float:
    """Requests/s from a separate process, so the load generator is not inside the server."""
    out: Queue[float] = Queue()
    proc = Process(target=_load, args=(url, headers, seconds, concurrency, out))
    proc.start()
    proc.join()
    return out.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres", help="a PostgreSQL URL instead of embedded SQLite")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="tokenward-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENWARD_")}
    env["TOKENWARD_LOG_LEVEL"] = "WARNING"
    schema = None
    if args.postgres:
        schema = _create_schema(args.postgres)
        sep = "&" if "?" in args.postgres else "?"
        env["TOKENWARD_DATABASE_URL"] = f"{args.postgres}{sep}options=-csearch_path%3D{schema}"
        env["TOKENWARD_KEY_FILE"] = str(Path(work) / "bench.key")
        write_key_file(Path(env["TOKENWARD_KEY_FILE"]), new_keyring())
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "tokenward.cli.main", "serve", "--port", str(port), "--migrate"],
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(base, server)
        path, headers = _seed(base, env, work)
        results: dict[str, list[float]] = {"healthz": [], "account_connector": []}
        for _ in range(args.rounds):
            results["healthz"].append(
                measure(base + "/healthz", {}, args.seconds, args.concurrency)
            )
            results["account_connector"].append(
                measure(base + path, headers, args.seconds, args.concurrency)
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
        if schema is not None:
            _drop_schema(args.postgres, schema)
    health = statistics.median(results["healthz"])
    reads = statistics.median(results["account_connector"])
    ratio = reads / health
    backend = "postgresql" if args.postgres else "sqlite"
    print(
        f"backend: {backend}, 1 worker, concurrency {args.concurrency}, "
        f"{args.rounds} rounds x {args.seconds:.0f} s"
    )
    print(f"GET /healthz                       {health:8.0f} req/s (baseline)")
    print(f"GET /v1.0/account/connectors/{{id}}  {reads:8.0f} req/s")
    print(
        f"ratio {ratio:.2f} (target >= {TARGET_RATIO}) "
        f"{'PASS' if ratio >= TARGET_RATIO else 'BELOW TARGET'}"
    )


if __name__ == "__main__":
    main()
