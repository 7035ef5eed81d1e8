"""Refresh stampede: 200 concurrent callers of ``GET …/token`` on one expired credential get
the same new token from exactly one refresh at the provider.

One command: ``python bench/refresh_stampede.py`` (``--postgres URL`` for PostgreSQL). The
provider double runs in this process (its request log is the judge); a real ``tokenward serve``
runs with its background refresher off, so the callers are the ones who find the token expired.
Each round installs a new account connector whose token expired a minute ago, opens 200
keep-alive connections from a separate process, then sends the 200 requests at once and times
them until the last answer. Alternating with it, the same 200 callers read a valid token (no
refresh), as the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from _harness import (
    Partner,
    Serve,
    add_double_connector,
    clean_env,
    database_env,
    in_child,
    install_with_tokens,
    seed_partner,
    verdict,
)
from tokenward.testing import ProviderBehaviour, ProviderDouble

CALLERS = 200


async def _stampede(url: str, headers: Mapping[str, str], callers: int) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=callers)
    async with aiohttp.ClientSession(connector=connector, headers=dict(headers)) as session:
        health = url.split("/v1.0/", 1)[0] + "/healthz"

        async def warm() -> None:  # one open keep-alive connection per caller
            async with session.get(health) as response:
                await response.read()

        await asyncio.gather(*(warm() for _ in range(callers)))
        go = asyncio.Event()

        async def caller() -> tuple[int, str | None, float]:
            await go.wait()
            async with session.get(url) as response:
                body = await response.read()
            token = json.loads(body).get("AccessToken") if response.status == 200 else None
            return response.status, token, time.perf_counter()

        tasks = [asyncio.create_task(caller()) for _ in range(callers)]
        await asyncio.sleep(0.05)  # every caller is waiting on the event
        started = time.perf_counter()
        go.set()
        answers = await asyncio.gather(*tasks)
    times = sorted(at - started for _, _, at in answers)
    return {
        "seconds": times[-1],
        "first": times[0],
        "p50": times[len(times) // 2],
        "statuses": sorted({status for status, _, _ in answers}),
        "tokens": len({token for _, token, _ in answers if token}),
        "answered": sum(1 for status, _, _ in answers if status == 200),
    }


def _run(url: str, headers: Mapping[str, str], callers: int) -> dict[str, Any]:
    return asyncio.run(_stampede(url, headers, callers))


def stampede(partner: Partner, ac_id: int, callers: int) -> dict[str, Any]:
    url = f"{partner.base}/v1.0/account/connectors/{ac_id}/token"
    return in_child(_run, url, partner.acct, callers)  # type: ignore[no-any-return]


def refresh_requests(provider: ProviderDouble) -> list[str]:
    return [
        r.form.get("refresh_token", "")
        for r in provider.requests
        if r.path == "/token" and r.form.get("grant_type") == "refresh_token"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--callers", type=int, default=CALLERS)
    parser.add_argument("--postgres", help="a PostgreSQL URL instead of embedded SQLite")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tokenward-bench-"))
    behaviour = ProviderBehaviour(reuse_revokes_grant=True)
    settings = {"allow_insecure_http": "true", "refresher_enabled": "false"}
    with (
        ProviderDouble(behaviour) as provider,
        database_env(args.postgres, work) as db,
        Serve(work, clean_env(**settings, **db)) as server,
    ):
        partner = seed_partner(server)
        client = provider.client
        connector = add_double_connector(
            partner, provider.url, client.client_id, client.client_secret
        )
        valid_id = install_with_tokens(
            partner,
            connector["Id"],
            provider.state.issue_grants(client.client_id, 1)[0],
            datetime.now(UTC) + timedelta(days=1),
        )
        valid: list[dict[str, Any]] = []
        expired: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            valid.append(stampede(partner, valid_id, args.callers))
            tokens = provider.state.issue_grants(client.client_id, 1)[0]
            ac_id = install_with_tokens(
                partner, connector["Id"], tokens, datetime.now(UTC) - timedelta(minutes=1)
            )
            before = len(refresh_requests(provider))
            found = stampede(partner, ac_id, args.callers)
            sent = refresh_requests(provider)[before:]
            found["refreshes"] = len(sent)
            found["own_token_once"] = sent == [tokens["refresh_token"]]
            expired.append(found)
    report(args, valid, expired, provider.refresh_count)


def report(
    args: argparse.Namespace,
    valid: list[dict[str, Any]],
    expired: list[dict[str, Any]],
    issued: int,
) -> None:
    backend = "postgresql" if args.postgres else "sqlite"
    print(
        f"backend: {backend}, 1 worker, background refresher off, {args.callers} concurrent "
        f"callers, {args.rounds} rounds"
    )
    for n, (v, e) in enumerate(zip(valid, expired, strict=True), 1):
        print(
            f"  round {n}: valid token {v['seconds'] * 1000:7.0f} ms | expired token "
            f"{e['seconds'] * 1000:7.0f} ms (first {e['first'] * 1000:.0f}, half "
            f"{e['p50'] * 1000:.0f}), {e['answered']} answered 200, {e['tokens']} "
            f"distinct token(s), {e['refreshes']} refresh request(s) at the provider"
        )
    median_valid = statistics.median(v["seconds"] for v in valid) * 1000
    median_expired = statistics.median(e["seconds"] for e in expired) * 1000
    print(f"time to answer all {args.callers}: valid token {median_valid:.0f} ms (median)")
    print(
        f"time to answer all {args.callers}: expired token {median_expired:.0f} ms (median; "
        f"{median_expired - median_valid:+.0f} ms for the refresh)"
    )
    single = all(
        e["refreshes"] == 1
        and e["own_token_once"]
        and e["answered"] == args.callers
        and e["tokens"] == 1
        for e in expired
    )
    every = all(v["answered"] == args.callers for v in valid)
    print(
        f"(d) exactly one refresh per expired credential, every caller served the same new "
        f"token: {verdict(single and every)} ({issued} refreshes issued for {len(expired)} "
        "expired credentials)"
    )


if __name__ == "__main__":
    main()
