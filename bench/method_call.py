"""Calls through tokenward against the same request sent straight to the provider.

One command: ``python bench/method_call.py`` (``--postgres URL`` for PostgreSQL). The provider
double runs in its own process (a real HTTP server on loopback); a real ``tokenward serve``
holds a custom connector pointing at it, installed with tokens the double issued. Three ways to
``GET /api/me`` are compared, in alternating rounds, from a separate load process:

* ``direct``: ``GET {double}/api/me`` with the bearer token (the baseline);
* ``method``: ``GET /v1.0/account/connectors/{id}/methods/{methodId}`` (EndPoint ``/api/me``);
* ``proxy``: ``GET /v1.0/account/connectors/{id}/proxy/api/me``.

Bars: throughput at concurrency 16 through tokenward at least 0.5 of direct, and the p50
latency that tokenward adds at concurrency 1 at most 1 ms. It also prints the CPU time per
request of the ``serve`` process and of the double, which the noise of a shared machine moves
much less than requests/s.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _harness import (
    LoadResult,
    Serve,
    Watch,
    add_double_connector,
    alternate,
    clean_env,
    database_env,
    double_process,
    install_with_tokens,
    measure,
    median,
    seed_partner,
    verdict,
)

TARGET_RATIO = 0.5
TARGET_ADDED_P50_MS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres", help="a PostgreSQL URL instead of embedded SQLite")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tokenward-bench-"))
    with (
        double_process(token_lifetime_seconds=2 * 86400) as double,
        database_env(args.postgres, work) as db,
        Serve(work, clean_env(allow_insecure_http="true", **db)) as server,
    ):
        partner = seed_partner(server)
        connector = add_double_connector(
            partner, double.url, double.client_id, double.client_secret
        )
        method_id = connector["Methods"][0]["Id"]
        tokens = double.password_tokens()
        expires = datetime.now(UTC) + timedelta(days=1)
        ac_id = install_with_tokens(partner, connector["Id"], tokens, expires)
        targets = {
            "direct": (
                f"{double.url}/api/me",
                {"Authorization": f"Bearer {tokens['access_token']}"},
            ),
            "method": (
                f"{server.url}/v1.0/account/connectors/{ac_id}/methods/{method_id}",
                partner.acct,
            ),
            "proxy": (f"{server.url}/v1.0/account/connectors/{ac_id}/proxy/api/me", partner.acct),
        }

        watch = Watch({"serve": server.proc.pid, "double": double.pid}).calibrate()

        def side(name: str, concurrency: int) -> LoadResult:
            url, headers = targets[name]
            return measure(url, headers, args.seconds, concurrency, watch)

        wide = alternate(
            args.rounds,
            {name: lambda n=name: side(n, args.concurrency) for name in targets},  # type: ignore[misc]
        )
        single = alternate(args.rounds, {name: lambda n=name: side(n, 1) for name in targets})  # type: ignore[misc]
    report(args, wide, single)


def report(
    args: argparse.Namespace,
    wide: dict[str, list[LoadResult]],
    single: dict[str, list[LoadResult]],
) -> None:
    backend = "postgresql" if args.postgres else "sqlite"
    print(
        f"backend: {backend}, 1 worker, provider double in its own process, "
        f"{args.rounds} rounds x {args.seconds:g} s per side and concurrency"
    )
    rps = {name: median([r.rps for r in found]) for name, found in wide.items()}
    p50 = {name: median([r.p50 * 1000 for r in found]) for name, found in single.items()}
    p99 = {name: median([r.p99 * 1000 for r in found]) for name, found in single.items()}
    cpu = {
        name: {proc: median([r.cpu_ms[proc] for r in found]) for proc in ("serve", "double")}
        for name, found in wide.items()
    }
    print("CPU ms/req: CPU time of the process per request, its idle CPU taken off")
    print(
        f"{'':8} {'req/s @' + str(args.concurrency):>12} {'p50 ms @1':>10} {'p99 ms @1':>10} "
        f"{'serve CPU ms/req':>17} {'double CPU ms/req':>18}"
    )
    for name in wide:
        print(
            f"{name:8} {rps[name]:12.0f} {p50[name]:10.2f} {p99[name]:10.2f} "
            f"{cpu[name]['serve']:17.2f} {cpu[name]['double']:18.2f}"
        )
    for name in ("method", "proxy"):
        ratio = rps[name] / rps["direct"]
        added = p50[name] - p50["direct"]
        print(
            f"(b) {name}: throughput {ratio:.2f} x direct (bar >= {TARGET_RATIO}): "
            f"{verdict(ratio >= TARGET_RATIO)}"
        )
        print(
            f"(b) {name}: added p50 {added:.2f} ms ({p50[name]:.2f} - {p50['direct']:.2f}; "
            f"bar <= {TARGET_ADDED_P50_MS} ms): {verdict(added <= TARGET_ADDED_P50_MS)}"
        )


if __name__ == "__main__":
    main()
