"""A separate OS process that asks for one account connector's credential, for the
multi-process lifecycle tests (SECURITY.md R-01, R-02, R-08, R-15).

    python renew_worker.py AC_ID ACCOUNT_ID ACCOUNT_PK --callers 25 --go FILE [--loop-until FILE]

Settings (database, keys, insecure http) come from the TOKENWARD_* environment. Each caller
calls ``renew`` (on demand) once — or in a loop until the ``--loop-until`` file exists — and one
JSON line per answer goes to stdout: ``{"version": N, "token": sha256-prefix}`` or
``{"error": Code}``. ``--ready`` is created once the process is ready; callers start together
when the ``--go`` file appears.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from tokenward.errors import ServiceError
from tokenward.runtime import open_runtime
from tokenward.services.credentials import Mode, Renewal, renew
from tokenward.settings import load_settings


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("ac_id", type=int)
    parser.add_argument("account_id")
    parser.add_argument("account_pk", type=int)
    parser.add_argument("--callers", type=int, default=25)
    parser.add_argument("--ready", type=Path, required=True)
    parser.add_argument("--go", type=Path, required=True)
    parser.add_argument("--loop-until", type=Path)
    parser.add_argument("--hard-margin", type=float, default=30.0)
    parser.add_argument("--provider-timeout", type=float, default=10.0)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--lease-margin", type=float, default=15.0)
    return parser.parse_args()


async def _caller(ctx: object, renewal: Renewal, stop: Path | None) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    while True:
        try:
            fresh = await renew(ctx, renewal, mode=Mode.DEMAND)  # type: ignore[arg-type]
            digest = hashlib.sha256((fresh.access_token or "").encode()).hexdigest()[:16]
            out.append({"version": fresh.version, "token": digest})
        except ServiceError as exc:
            out.append({"error": exc.code})
        if stop is None or stop.exists():
            return out


async def _main() -> None:
    args = _args()
    from datetime import timedelta

    runtime = open_runtime(load_settings(), migrate=False)
    policy = replace(
        runtime.ctx.lifecycle,
        hard_margin=timedelta(seconds=args.hard_margin),
        provider_timeout=args.provider_timeout,
        attempts=args.attempts,
        lease_margin=args.lease_margin,
    )
    ctx = replace(runtime.ctx, lifecycle=policy)
    renewal = Renewal(args.account_id, args.account_pk, args.ac_id, 0)
    args.ready.touch()
    while not args.go.exists():
        time.sleep(0.01)
    results = await asyncio.gather(
        *(_caller(ctx, renewal, args.loop_until) for _ in range(args.callers))
    )
    await ctx.transport.aclose()
    runtime.close()
    for found in results:
        for line in found:
            sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(_main())
