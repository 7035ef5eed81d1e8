"""Token reads: ``GET /v1.0/account/connectors/{id}/token`` (a valid token) against ``/healthz``.

One command: ``python bench/credential_token.py`` (``--postgres URL`` for PostgreSQL). It starts
the provider double in its own process and a real ``tokenward serve`` (one worker, loopback,
``TOKENWARD_ALLOW_INSECURE_HTTP=true`` for the double's http URL), creates a custom OAuth 2.0
connector pointing at the double, installs it and writes tokens the double issued (expiring in a
day, so no refresh happens), then drives both endpoints with 16 keep-alive connections from a
separate load process, alternating rounds. Bar: the token read reaches half the throughput of
``/healthz`` measured in the same run. The account connector read of ``bench/api.py`` runs in
the same rounds for reference, and the CPU time of ``serve`` per request is printed too.
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
        expires = datetime.now(UTC) + timedelta(days=1)
        ac_id = install_with_tokens(partner, connector["Id"], double.password_tokens(), expires)
        base = f"{server.url}/v1.0/account/connectors/{ac_id}"
        targets = {
            "healthz": (f"{server.url}/healthz", {}),
            "read": (base, partner.acct),
            "token": (f"{base}/token", partner.acct),
        }
        watch = Watch({"serve": server.proc.pid}).calibrate()
        results = alternate(
            args.rounds,
            {
                name: lambda url=url, headers=headers: measure(  # type: ignore[misc]
                    url, headers, args.seconds, args.concurrency, watch
                )
                for name, (url, headers) in targets.items()
            },
        )
    report(args, results)


def report(args: argparse.Namespace, results: dict[str, list[LoadResult]]) -> None:
    rps = {name: median([r.rps for r in found]) for name, found in results.items()}
    cpu = {name: median([r.cpu_ms["serve"] for r in found]) for name, found in results.items()}
    backend = "postgresql" if args.postgres else "sqlite"
    print(
        f"backend: {backend}, 1 worker, concurrency {args.concurrency}, "
        f"{args.rounds} rounds x {args.seconds:g} s (medians; serve CPU per request with its "
        "idle CPU taken off)"
    )
    labels = {
        "healthz": "GET /healthz (baseline)",
        "read": "GET /v1.0/account/connectors/{id}",
        "token": "GET /v1.0/account/connectors/{id}/token",
    }
    for name, found in results.items():
        rounds = ", ".join(f"{r.rps:.0f}" for r in found)
        print(
            f"  {labels[name]:41} {rps[name]:7.0f} req/s  {cpu[name]:6.2f} CPU ms/req  "
            f"(rounds: {rounds})"
        )
    ratio = rps["token"] / rps["healthz"]
    print(
        f"  token read / account connector read: {rps['token'] / rps['read']:.2f} (req/s), "
        f"by CPU per request: healthz/token {cpu['healthz'] / cpu['token']:.2f}"
    )
    print(
        f"(a) token read / healthz = {ratio:.2f} req/s (bar >= {TARGET_RATIO}): "
        f"{verdict(ratio >= TARGET_RATIO)}"
    )


if __name__ == "__main__":
    main()
