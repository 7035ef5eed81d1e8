"""What the benchmarks share: a real ``tokenward serve`` on a loopback port, a private
PostgreSQL schema, the provider double in its own process, and load generators that run in a
separate process (so they do not share the interpreter with what they measure).

Every address is 127.0.0.1. Rounds alternate between the compared sides (:func:`alternate`), so
the noise of a shared machine hits both alike; results are medians of the rounds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import multiprocessing
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from multiprocessing import Process, Queue
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import create_engine, text

from tokenward.crypto.keyring import new_keyring, write_key_file
from tokenward.domain.authvalue import format_utc

__all__ = [
    "Double",
    "LoadResult",
    "Partner",
    "Serve",
    "Watch",
    "add_double_connector",
    "alternate",
    "auth_value",
    "basic_auth",
    "call",
    "clean_env",
    "connector_definition",
    "cpu_seconds",
    "database_env",
    "double_process",
    "free_port",
    "in_child",
    "install_with_tokens",
    "measure",
    "median",
    "seed_partner",
    "verdict",
]

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without TOKENWARD_* variables, plus ``settings``
    (``allow_insecure_http="true"`` → ``TOKENWARD_ALLOW_INSECURE_HTTP=true``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENWARD_")}
    env["TOKENWARD_LOG_LEVEL"] = "WARNING"
    env.update({f"TOKENWARD_{name.upper()}": value for name, value in settings.items()})
    return env


@contextlib.contextmanager
def database_env(postgres: str | None, work: Path) -> Iterator[dict[str, str]]:
    """The TOKENWARD_* settings of the benchmark's database: embedded SQLite in ``work`` (the
    default deployment), or a private schema of the PostgreSQL database ``postgres`` (dropped
    afterwards, so the benchmark never touches other data there)."""
    if postgres is None:
        yield {"data_dir": str(work / "data")}
        return
    schema = f"tw_bench_{secrets.token_hex(4)}"
    engine = create_engine(postgres)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    key_file = work / "bench.key"
    write_key_file(key_file, new_keyring())
    sep = "&" if "?" in postgres else "?"
    try:
        yield {
            "database_url": f"{postgres}{sep}options=-csearch_path%3D{schema}",
            "key_file": str(key_file),
        }
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


class Serve:
    """One ``tokenward serve`` process (one worker) on a free loopback port; its output goes
    to files in ``work`` (a pipe could fill up)."""

    def __init__(self, work: Path, env: dict[str, str], *, migrate: bool = True) -> None:
        self.work, self.env = work, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / f"serve-{self.port}.log"
        command = [sys.executable, "-m", "tokenward.cli.main", "serve", "--port", str(self.port)]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*command, *(["--migrate"] if migrate else [])],
                env=env,
                cwd=work,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started = time.time()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"tokenward serve exited during start-up:\n{self.output()}")
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("tokenward serve did not become ready")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def cli(self, *args: str) -> str:
        """Another tokenward command in the same folder and environment; its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "tokenward.cli.main", *args],
            env=self.env,
            cwd=self.work,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def __enter__(self) -> Serve:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def call(
    base: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: Any = None,
) -> Any:
    """One JSON request (``body`` is JSON-encoded unless it is bytes); the parsed answer."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        raise SystemExit(f"{method} {path} answered {exc.code}: {detail}") from None


@dataclass(frozen=True)
class Partner:
    """A partner's view of a served tokenward: bearer headers, and the same with the account."""

    base: str
    auth: dict[str, str]
    acct: dict[str, str]

    def call(self, method: str, path: str, body: Any = None, *, account: bool = True) -> Any:
        return call(self.base, method, path, self.acct if account else self.auth, body)


def seed_partner(server: Serve, account: str = "bench") -> Partner:
    """An API client (``tokenward apiclient create``), its bearer token and one account."""
    creds = json.loads(server.cli("apiclient", "create", "--name", "bench", "--json"))
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": creds["ClientId"],
            "client_secret": creds["ClientSecret"],
        }
    ).encode()
    token = call(
        server.url,
        "POST",
        "/oauth/token",
        {"Content-Type": "application/x-www-form-urlencoded"},
        form,
    )["access_token"]
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    call(server.url, "POST", "/v1.0/accounts", auth, {"Id": account, "Name": "Bench"})
    return Partner(server.url, auth, {**auth, "X-Cyclr-Account": account})


def connector_definition(provider_url: str) -> dict[str, Any]:
    """A custom OAuth 2.0 connector whose token endpoint and API are the provider double's
    (``tests/e2e/lifecycle.py`` builds the same); one method, ``GET /api/me``."""
    return {
        "Name": "Double",
        "Version": "1.0",
        "BaseUrl": provider_url,
        "Authentication": [
            {
                "AuthName": "OAuth 2.0",
                "AuthType": "OAuth2",
                "OAuth2Type": "AuthorisationCode",
                "AuthoriseUrl": f"{provider_url}/authorize",
                "AccessTokenUrl": f"{provider_url}/token",
                "Scopes": ["read", "write"],
            }
        ],
        "Methods": [{"Name": "Get Me", "HttpMethod": "GET", "EndPoint": "/api/me"}],
    }


def auth_value(tokens: Mapping[str, Any], expires: datetime) -> str:
    """The AuthValue JSON of an OAuth 2.0 token response, expiring at ``expires``."""
    document = {
        "AccessToken": tokens["access_token"],
        "RefreshToken": tokens["refresh_token"],
        "Expires": format_utc(expires),
    }
    return json.dumps(document)


def add_double_connector(
    partner: Partner, url: str, client_id: str, client_secret: str
) -> dict[str, Any]:
    """Create the custom connector and its library entry (the double's client); the
    connector as created (``Id``, ``Methods`` with their Ids)."""
    created: dict[str, Any] = partner.call(
        "POST", "/v1.0/connectors", connector_definition(url), account=False
    )
    library = {"ClientId": client_id, "ClientSecret": client_secret}
    partner.call("PUT", f"/v1.0/applicationconnectors/{created['Id']}", library, account=False)
    return created


def install_with_tokens(
    partner: Partner, connector_id: int, tokens: Mapping[str, Any], expires: datetime
) -> int:
    """Install the connector in the partner's account and write the tokens; the account
    connector's Id."""
    installed = partner.call("POST", f"/v1.0/connectors/{connector_id}/install", {})
    ac_id = int(installed["Id"])
    body = {"AuthValue": auth_value(tokens, expires)}
    partner.call("PUT", f"/v1.0/account/connectors/{ac_id}", body)
    return ac_id


def basic_auth(client_id: str, client_secret: str) -> str:
    """HTTP Basic with id and secret form-urlencoded first (RFC 6749 §2.3.1)."""
    pair = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


# -- the provider double in its own process -------------------------------------------------


@dataclass(frozen=True)
class Double:
    """A provider double running in another process: its URL and its registered client."""

    url: str
    client_id: str
    client_secret: str
    pid: int

    def password_tokens(self) -> dict[str, Any]:
        """A new grant (the double's password grant for alice): access and refresh token."""
        form = urllib.parse.urlencode(
            {"grant_type": "password", "username": "alice", "password": "wonderland"}
        ).encode()
        headers = {
            "Authorization": basic_auth(self.client_id, self.client_secret),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return call(self.url, "POST", "/token", headers, form)  # type: ignore[no-any-return]


def _run_double(behaviour: dict[str, Any], out: Queue[tuple[str, str, str]], stop: Any) -> None:
    from tokenward.testing import ProviderBehaviour, ProviderDouble

    with ProviderDouble(ProviderBehaviour(**behaviour)) as double:
        out.put((double.url, double.client.client_id, double.client.client_secret))
        stop.wait()


@contextlib.contextmanager
def double_process(**behaviour: Any) -> Iterator[Double]:
    """The provider double (``tokenward.testing.ProviderDouble``) in a process of its own, so
    that its HTTP server does not share an interpreter with the benchmark."""
    out: Queue[tuple[str, str, str]] = Queue()
    stop = multiprocessing.Event()
    proc = Process(target=_run_double, args=(behaviour, out, stop), daemon=True)
    proc.start()
    try:
        yield Double(*out.get(timeout=30), pid=proc.pid or 0)
    finally:
        stop.set()
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()


# -- load generation in a separate process --------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    """One round: requests per second and latencies (seconds) of every request."""

    rps: float
    latencies: tuple[float, ...]
    #: CPU milliseconds per request of each watched process (see :func:`measure`)
    cpu_ms: Mapping[str, float] = field(default_factory=dict)

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _drive(
    url: str, headers: Mapping[str, str], seconds: float, concurrency: int
) -> LoadResult:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=dict(headers)) as session:

        async def warm() -> None:  # open the connections before the clock starts
            async with session.get(url) as response:
                await response.read()

        await asyncio.gather(*(warm() for _ in range(concurrency)))

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        raise SystemExit(f"{url} answered {response.status}")
                latencies.append(time.perf_counter() - started)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return LoadResult(len(latencies) / elapsed, tuple(latencies))


def _child(out: Queue[Any], fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        result = fn(*args)
    except BaseException as exc:
        out.put(("error", f"{type(exc).__name__}: {exc}"))
        return
    out.put(("ok", result))


def in_child(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a new process; its result (picklable) or its error re-raised here."""
    out: Queue[Any] = Queue()
    proc = Process(target=_child, args=(out, fn, args))
    proc.start()
    kind, value = out.get()
    proc.join()
    if kind == "error":
        raise SystemExit(f"load process failed: {value}")
    return value


def _load(url: str, headers: Mapping[str, str], seconds: float, concurrency: int) -> LoadResult:
    return asyncio.run(_drive(url, headers, seconds, concurrency))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Watch:
    """Processes whose CPU time per request :func:`measure` reports (name → pid). The CPU
    they burn while idle (background workers, timers) is measured first by :meth:`calibrate`
    and taken off, so that a slow side is not charged with the idle time of a longer round."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self.idle = dict.fromkeys(self.pids, 0.0)  # CPU seconds per second while idle

    def calibrate(self, seconds: float = 3.0) -> Watch:
        before, started = self.sample(), time.perf_counter()
        time.sleep(seconds)
        elapsed = time.perf_counter() - started
        self.idle = {name: used / elapsed for name, used in self.since(before).items()}
        return self

    def sample(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def since(self, before: Mapping[str, float]) -> dict[str, float]:
        return {name: now - before[name] for name, now in self.sample().items()}


def measure(
    url: str,
    headers: Mapping[str, str],
    seconds: float,
    concurrency: int,
    watch: Watch | None = None,
) -> LoadResult:
    """``GET url`` with ``concurrency`` keep-alive connections for ``seconds``, from a separate
    process, so the load generator is not inside what it measures. With ``watch``, the CPU
    time per request of each watched process is reported too (less noisy than requests/s on a
    shared machine, and it says which process the time goes to)."""
    before, started = (watch.sample() if watch else {}), time.perf_counter()
    result: LoadResult = in_child(_load, url, dict(headers), seconds, concurrency)
    if watch is None:
        return result
    elapsed = time.perf_counter() - started
    count = max(1, len(result.latencies))
    used = {
        name: max(0.0, cpu - watch.idle[name] * elapsed) * 1000 / count
        for name, cpu in watch.since(before).items()
    }
    return replace(result, cpu_ms=used)


def alternate(rounds: int, sides: Mapping[str, Callable[[], Any]]) -> dict[str, list[Any]]:
    """Run every side once per round, in turn, ``rounds`` times; the results per side."""
    results: dict[str, list[Any]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            results[name].append(run())
    return results


def median(values: list[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"
