"""Refresh storm: N account connectors whose tokens expire within the next two minutes, all
refreshed ahead of expiry by the background refresher of ``tokenward serve``, none twice.

One command: ``python bench/refresh_storm.py`` (``--count 10000`` by default; try
``--count 500`` first; ``--postgres URL`` for PostgreSQL). The provider double (strict rotation:
a reused refresh token revokes its grant) runs in this process and issues N grants in bulk. The
account connectors are seeded in bulk before ``serve`` starts (see :func:`seed`), each with
``Expires`` at a random point 60-120 s after it is written; then ``tokenward serve`` starts with
its refresher on (the defaults: 4 refreshes at once per connector, a 300 s jitter window) and
real time runs.

Checks: every credential was refreshed before its ``Expires``; each seeded refresh token was
presented to the provider exactly once and no other refresh happened; every credential's
version grew by exactly 1 and it is still active. Reports refreshes/s, the spread of the
refreshes, how long after its due time each was refreshed, and the headroom left before expiry.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from _harness import Serve, auth_value, clean_env, connector_definition, database_env, verdict
from tokenward.crypto.fields import credential_aad
from tokenward.domain.authvalue import parse_auth_value
from tokenward.domain.models import AuthState, Credential
from tokenward.runtime import Runtime, open_runtime
from tokenward.services.accounts import create_account
from tokenward.services.application_connectors import (
    ApplicationConnectorChanges,
    put_application_connector,
)
from tokenward.services.auth_values import authentication_entry
from tokenward.services.context import Principal
from tokenward.services.credential_documents import next_refresh
from tokenward.services.custom_connectors import create_custom_connector
from tokenward.settings import load_settings
from tokenward.store.engine import transaction
from tokenward.store.repos.lifecycle import credential_from_row, credential_values
from tokenward.store.tables import account_connectors, credentials
from tokenward.testing import ProviderBehaviour, ProviderDouble

ACCOUNT = "storm"
_LIVE = {"active", "refreshing"}  # refreshing: a refresh still in flight at the end


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def seed(
    runtime: Runtime, provider: ProviderDouble, count: int
) -> tuple[dict[int, datetime], set[str]]:
    """N installed account connectors with tokens the provider issued: their Expires by Id,
    and the refresh tokens written.

    The connector, its library entry and the account go through the services; the N account
    connectors and credentials are inserted in bulk (one statement each), because writing 10,000
    one by one takes minutes on a small machine, longer than the tokens live. Each credential row
    is the one ``store_auth_value`` writes for a ``PUT`` of the AuthValue: parsed and sealed the
    same way, version 1, active, its next refresh scheduled by the same ``next_refresh`` rule
    (the audit and event rows of a PUT are left out).
    """
    ctx = runtime.ctx
    principal = Principal(client_id="bench")
    connector = create_custom_connector(ctx, principal, connector_definition(provider.url))
    client = provider.client
    library = ApplicationConnectorChanges(
        client_id=client.client_id, client_secret=client.client_secret
    )
    put_application_connector(ctx, principal, connector.Id, library)
    account = create_account(ctx, "Storm", ACCOUNT)
    entry_id = str(authentication_entry(connector, None).Id)
    now = ctx.clock.now()
    items = [
        {
            "account_pk": account.pk,
            "connector_id": connector.Id,
            "authentication_id": entry_id,
            "name": f"Storm {i}",
            "description": None,
            "is_partner_integration": False,
            "created_utc": now,
            "updated_utc": now,
        }
        for i in range(count)
    ]
    with transaction(runtime.engine, write=True) as conn:
        conn.execute(insert(account_connectors), items)
        ids = [
            int(row[0])
            for row in conn.execute(
                select(account_connectors.c.id)
                .where(account_connectors.c.account_pk == account.pk)
                .order_by(account_connectors.c.id)
            )
        ]
    grants = provider.state.issue_grants(client.client_id, count, scope="read write")
    pick = random.Random(20261128)  # a reproducible spread
    expires: dict[int, datetime] = {}
    rows: list[dict[str, Any]] = []
    for ac_id, tokens in zip(ids, grants, strict=True):
        now = ctx.clock.now()
        parsed = parse_auth_value(
            "OAuth2", auth_value(tokens, now + timedelta(seconds=pick.uniform(60, 120)))
        )
        assert parsed.expires_utc is not None
        expires[ac_id] = parsed.expires_utc
        credential = Credential(
            account_connector_id=ac_id,
            state=AuthState.ACTIVE,
            version=1,
            secret_sealed=ctx.sealer.seal(parsed.document, credential_aad(ac_id)),
            masked=parsed.masked,
            expires_utc=parsed.expires_utc,
            refresh_expires_utc=parsed.refresh_expires_utc,
            next_refresh_utc=next_refresh(
                ctx.lifecycle,
                now,
                expires_utc=parsed.expires_utc,
                renewable=True,
                last_refreshed_utc=None,
            ),
        )
        rows.append(credential_values(credential, now))
    with transaction(runtime.engine, write=True) as conn:
        conn.execute(insert(credentials), rows)
    return expires, {tokens["refresh_token"] for tokens in grants}


def rows(runtime: Runtime) -> dict[int, Any]:
    with runtime.engine.connect() as conn:
        found = conn.execute(select(credentials)).all()
    return {row.account_connector_id: credential_from_row(row) for row in found}


def refreshed_count(runtime: Runtime) -> int:
    with runtime.engine.connect() as conn:
        query = select(func.count()).select_from(credentials).where(credentials.c.version >= 2)
        return int(conn.execute(query).scalar_one())


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL instead of embedded SQLite")
    parser.add_argument(
        "--refresher-concurrency", type=int, help="TOKENWARD_REFRESHER_CONCURRENCY (default 4)"
    )
    args = parser.parse_args()
    logging.getLogger("tokenward").setLevel(logging.ERROR)  # the seeding runtime's notices
    work = Path(tempfile.mkdtemp(prefix="tokenward-bench-"))
    behaviour = ProviderBehaviour(reuse_revokes_grant=True)
    with ProviderDouble(behaviour) as provider, database_env(args.postgres, work) as db:
        settings = {"allow_insecure_http": "true", **db}
        if args.refresher_concurrency:
            settings["refresher_concurrency"] = str(args.refresher_concurrency)
        runtime = open_runtime(
            load_settings(**settings), migrate=True, create_keys=args.postgres is None
        )
        try:
            started = time.monotonic()
            expires, seeded_tokens = seed(runtime, provider, args.count)
            seeded = time.monotonic() - started
            due = {ac_id: cred.next_refresh_utc for ac_id, cred in rows(runtime).items()}
            print(f"seeded {args.count} account connectors in {seeded:.1f} s", flush=True)
            with Serve(work, clean_env(**settings)):
                ready_wall, ready = datetime.now(UTC), time.monotonic()
                deadline = ready + (max(expires.values()) - ready_wall).total_seconds() + 15
                done, last_print = 0, 0.0
                while done < args.count and time.monotonic() < deadline:
                    time.sleep(1)
                    done = refreshed_count(runtime)
                    if time.monotonic() - last_print >= 10:
                        last_print = time.monotonic()
                        print(f"  +{last_print - ready:5.0f} s: {done} refreshed", flush=True)
                time.sleep(2)  # anything still in flight (a second refresh would show now)
            after = rows(runtime)
        finally:
            runtime.close()
        requests = [
            r
            for r in provider.requests
            if r.path == "/token" and r.form.get("grant_type") == "refresh_token"
        ]
        report(
            args.count, provider, requests, ready, ready_wall, expires, due, after, seeded_tokens
        )


def report(
    count: int,
    provider: ProviderDouble,
    requests: list[Any],
    ready: float,
    ready_wall: datetime,
    expires: dict[int, datetime],
    due: dict[int, datetime | None],
    after: dict[int, Any],
    seeded_tokens: set[str],
) -> None:
    presented = Counter(r.form.get("refresh_token") for r in requests)
    repeated = sum(1 for n in presented.values() if n > 1)
    times = sorted(r.at - ready for r in requests)
    refreshed_at = {
        ac_id: _utc(cred.last_refreshed_utc)
        for ac_id, cred in after.items()
        if cred.version >= 2 and cred.last_refreshed_utc is not None
    }
    late = [ac_id for ac_id, when in expires.items() if refreshed_at.get(ac_id, when) >= when]
    headroom = [(expires[i] - when).total_seconds() for i, when in refreshed_at.items()]
    lag = [
        (when - _utc(due_at)).total_seconds()
        for i, when in refreshed_at.items()
        if (due_at := due.get(i)) is not None
    ]
    due_offsets = [(_utc(d) - ready_wall).total_seconds() for d in due.values() if d is not None]
    versions = Counter(cred.version for cred in after.values())
    states = Counter(cred.state.value for cred in after.values())
    spread = (times[-1] - times[0]) if len(times) > 1 else 0.0
    buckets = Counter(int(t) for t in times)
    print(f"refresh storm: {count} account connectors, Expires 60-120 s after seeding")
    print(
        f"due (next_refresh_utc): +{min(due_offsets):.1f} s .. +{max(due_offsets):.1f} s "
        "after serve was ready (negative: already due at start)"
    )
    if times:
        print(
            f"refresh requests at the provider: {len(requests)}, first +{times[0]:.1f} s, "
            f"last +{times[-1]:.1f} s, spread {spread:.1f} s"
        )
        print(
            f"refreshes/s: {len(requests) / max(spread, 1e-9):.0f} average over the spread, "
            f"peak {max(buckets.values())} in one second"
        )
    if lag:
        print(
            f"refreshed after due: p50 {statistics.median(lag):.1f} s, "
            f"p99 {quantile(lag, 0.99):.1f} s, max {max(lag):.1f} s"
        )
    if headroom:
        print(
            f"headroom before Expires: min {min(headroom):.1f} s, p50 "
            f"{statistics.median(headroom):.1f} s"
        )
    print(f"versions after: {dict(versions)}, states: {dict(states)}")
    print(f"provider: {provider.refresh_count} refreshes issued tokens")
    on_time = not late and len(refreshed_at) == count
    print(
        f"(c) all {count} refreshed before Expires: {verdict(on_time)} ({len(late)} late or never)"
    )
    unknown = len(set(presented) - seeded_tokens)
    once = repeated == 0 and unknown == 0 and max(versions) <= 2 and states.keys() <= _LIVE
    print(
        f"(c) none refreshed twice: {verdict(once)} ({repeated} refresh tokens presented more "
        f"than once, {unknown} presented that were not seeded, highest version "
        f"{max(versions)})"
    )


if __name__ == "__main__":
    main()
