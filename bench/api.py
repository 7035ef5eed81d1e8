"""Partner API throughput: ``GET /v1.0/account/connectors/{id}`` against ``/healthz``.

One command: ``python bench/api.py``. It starts a real ``tokenward serve`` (one worker, embedded
SQLite by default, ``--postgres URL`` for PostgreSQL) on a loopback port, seeds an API client, an
account and an installed connector, then drives both endpoints with 16 concurrent connections
from a separate load process, alternating rounds so that machine noise hits both alike. It prints
requests/s of each and their ratio (the baseline, ``/healthz``, is measured in the same run).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _harness import Serve, alternate, clean_env, database_env, measure, median, seed_partner

TARGET_RATIO = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres", help="a PostgreSQL URL instead of embedded SQLite")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tokenward-bench-"))
    with database_env(args.postgres, work) as db, Serve(work, clean_env(**db)) as server:
        partner = seed_partner(server)
        install = {
            "AuthValue": "bench-api-key-value",
            "Properties": [{"Name": "BaseUrl", "Value": "https://api.example.com"}],
        }
        installed = partner.call("POST", "/v1.0/connectors/1002/install", install)
        path = f"/v1.0/account/connectors/{installed['Id']}"
        results = alternate(
            args.rounds,
            {
                "healthz": lambda: (
                    measure(server.url + "/healthz", {}, args.seconds, args.concurrency).rps
                ),
                "account_connector": lambda: (
                    measure(server.url + path, partner.acct, args.seconds, args.concurrency).rps
                ),
            },
        )
    health = median(results["healthz"])
    reads = median(results["account_connector"])
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
