"""Which async HTTP client carries tokenward's outbound calls: aiohttp (through tokenward's own
``Transport``, as shipped) against httpx's ``AsyncClient``, both pooled, at concurrency 16.

One command: ``python bench/outbound_clients.py``. A minimal upstream (uvicorn, one process,
127.0.0.1) answers a small JSON body; rounds alternate between the clients so machine noise hits
both alike; the result is requests/s of each (median of the rounds) and their ratio. This is the
measurement behind DESIGN.md's choice of aiohttp (docs/benchmarks.md).
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

import httpx

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


async def _drive(send: object, requests: int, concurrency: int) -> float:
    """Requests per second of ``send`` (an async callable) at ``concurrency``."""
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await send()  # type: ignore[operator]

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


async def _compare(url: str, rounds: int, requests: int, concurrency: int) -> None:
    transport = Transport(allow_insecure_http=True)
    request = HttpRequest("GET", url, {"Accept": "application/json"})
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def via_aiohttp() -> None:
            answer = await transport.send(request, timeout=10)
            assert answer.status == 200

        async def via_httpx() -> None:
            answer = await client.get(url, headers={"Accept": "application/json"})
            assert answer.status_code == 200

        await _drive(via_aiohttp, 200, concurrency)  # warm both pools
        await _drive(via_httpx, 200, concurrency)
        results: dict[str, list[float]] = {"aiohttp (Transport)": [], "httpx.AsyncClient": []}
        for _ in range(rounds):
            for name, send in (
                ("aiohttp (Transport)", via_aiohttp),
                ("httpx.AsyncClient", via_httpx),
            ):
                results[name].append(await _drive(send, requests, concurrency))
    await transport.aclose()
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, value in medians.items():
        each = ", ".join(f"{v:.0f}" for v in results[name])
        print(f"{name:22s} {value:9.0f} req/s (rounds: {each})")
    ratio = medians["aiohttp (Transport)"] / medians["httpx.AsyncClient"]
    print(f"ratio aiohttp / httpx: {ratio:.2f} (concurrency {concurrency})")


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
        asyncio.run(_compare(url, args.rounds, args.requests, args.concurrency))
    finally:
        upstream.terminate()
        upstream.wait(10)


if __name__ == "__main__":
    main()
