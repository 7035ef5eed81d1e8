"""Which async HTTP client carries tokenward's outbound calls: tokenward's ``Transport`` (its
lean HTTP/1.1 client, ``outbound/http1.py``, with the egress policy on top) against a plain
``aiohttp.ClientSession`` (the transport's previous client) and httpx's ``AsyncClient``, all
pooled, at concurrency 16, on uvloop as under ``tokenward serve``.

One command: ``python bench/outbound_clients.py``. A minimal upstream (uvicorn, its own process,
127.0.0.1) answers a small JSON body; rounds alternate between the clients so machine noise hits
all alike; the result is requests/s and the client's CPU per request (medians of the rounds)
and the ratios to aiohttp. This is the measurement behind the choice of client
(docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import httpx
import uvloop

from tokenward.oauth.requests import HttpRequest
from tokenward.outbound.transport import Transport

_UPSTREAM = """
import uvicorn

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"id":"123","name":"Ada"}'})

uvicorn.run(app, host="127.0.0.1", port=int(__import__("sys").argv[1]), log_level="warning",
            access_log=False)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _drive(send: Callable[[], Awaitable[None]], requests: int, concurrency: int) -> Round:
    """Requests per second of ``send`` at ``concurrency``, and this process's CPU per request."""
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await send()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, used = time.perf_counter() - started, time.process_time() - cpu
    return Round(requests / elapsed, used * 1000 / requests)


@dataclass(frozen=True)
class Round:
    rps: float
    cpu_ms: float


async def _compare(url: str, rounds: int, requests: int, concurrency: int) -> None:
    transport = Transport(allow_insecure_http=True)
    request = HttpRequest("GET", url, {"Accept": "application/json"})
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with (
        httpx.AsyncClient(limits=limits, timeout=10) as client,
        aiohttp.ClientSession(connector=connector) as session,
    ):

        async def via_transport() -> None:
            answer = await transport.send(request, timeout=10)
            assert answer.status == 200

        async def via_aiohttp() -> None:
            async with session.get(url, headers={"Accept": "application/json"}) as answer:
                await answer.read()
                assert answer.status == 200

        async def via_httpx() -> None:
            answer = await client.get(url, headers={"Accept": "application/json"})
            assert answer.status_code == 200

        sides = {
            "Transport (http1)": via_transport,
            "aiohttp.ClientSession": via_aiohttp,
            "httpx.AsyncClient": via_httpx,
        }
        for send in sides.values():  # warm every pool
            await _drive(send, 200, concurrency)
        results: dict[str, list[Round]] = {name: [] for name in sides}
        for _ in range(rounds):
            for name, send in sides.items():
                results[name].append(await _drive(send, requests, concurrency))
    await transport.aclose()
    _report(results, concurrency)


def _report(results: dict[str, list[Round]], concurrency: int) -> None:
    rps = {name: statistics.median(r.rps for r in found) for name, found in results.items()}
    cpu = {name: statistics.median(r.cpu_ms for r in found) for name, found in results.items()}
    print(f"concurrency {concurrency}; CPU ms/req is the client process's own CPU per request")
    for name, found in results.items():
        each = ", ".join(f"{r.rps:.0f}" for r in found)
        print(f"{name:22s} {rps[name]:9.0f} req/s {cpu[name]:6.3f} CPU ms/req (rounds: {each})")
    base = "aiohttp.ClientSession"
    for name in results:
        if name != base:
            print(
                f"{name} / {base}: {rps[name] / rps[base]:.2f} x req/s, "
                f"{cpu[name] / cpu[base]:.2f} x CPU per request"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    port = _free_port()
    upstream = subprocess.Popen([sys.executable, "-c", _UPSTREAM, str(port)])
    url = f"http://127.0.0.1:{port}/api/me"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        # on uvloop, as under ``tokenward serve``
        uvloop.run(_compare(url, args.rounds, args.requests, args.concurrency))
    finally:
        upstream.terminate()
        upstream.wait(10)


if __name__ == "__main__":
    main()
