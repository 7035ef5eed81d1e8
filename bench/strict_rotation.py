"""Strict rotation at full size (SECURITY.md R-02): 1,000 refresh cycles of one credential
under concurrent load against a real authorization server, and the credential stays active.

One command: ``python bench/strict_rotation.py`` (``--cycles 1000`` by default; ``--postgres
URL`` for PostgreSQL). The server is panva's ``oidc-provider`` on loopback
(``tests/interop/oidc_server.py``; Node.js 20+ and npm needed): every refresh rotates the refresh
token, and presenting a rotated one revokes the whole grant. An account connector is installed
(through the services) with tokens from a real authorization-code flow with PKCE. Then 4 worker
processes of 10 callers each (``tests/e2e/renew_worker.py``) ask for its credential in a loop
with a hard margin longer than the token lifetime, so every answer is immediately due again and
the 40 callers keep refreshing the same credential until ``--cycles`` refreshes are stored.

Checks: no caller ever got an error; the credential is active and its version grew by one per
refresh; its last access token is accepted by the server's API and one more refresh through
tokenward succeeds (a reused refresh token would have revoked the grant, failing both).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import REPO, clean_env, database_env, verdict
from tokenward.domain.authvalue import format_utc
from tokenward.domain.models import AuthState
from tokenward.oauth import pkce
from tokenward.oauth.requests import (
    HttpRequest,
    authorization_url,
    token_request_authorization_code,
)
from tokenward.oauth.responses import TokenSet, parse_token_response
from tokenward.runtime import Runtime, open_runtime
from tokenward.services.accounts import create_account
from tokenward.services.application_connectors import (
    ApplicationConnectorChanges,
    put_application_connector,
)
from tokenward.services.context import Principal
from tokenward.services.credentials import Mode, Renewal, renew
from tokenward.services.custom_connectors import create_custom_connector
from tokenward.services.install import InstallRequest, install
from tokenward.settings import load_settings

sys.path.insert(0, str(REPO / "tests" / "interop"))
from oidc_server import OidcProvider, callback_params, start_oidc_provider

WORKER = REPO / "tests" / "e2e" / "renew_worker.py"
ACCOUNT = "rotation"
PROCESSES = 4
CALLERS = 10


def connector_definition(provider: OidcProvider) -> dict[str, Any]:
    """A custom connector for the server: its ``oauth2_auth()`` entry, API at the issuer."""
    auth = provider.oauth2_auth().model_dump(exclude_none=True, exclude={"Id"})
    return {
        "Name": "oidc-provider",
        "Version": "1.0",
        "BaseUrl": provider.issuer,
        "Authentication": [auth],
        "Methods": [{"Name": "Get Me", "HttpMethod": "GET", "EndPoint": "/api/me"}],
    }


async def code_flow(runtime: Runtime, provider: OidcProvider) -> TokenSet:
    """The authorization-code flow with PKCE through the simulated browser; the tokens."""
    auth, client = provider.oauth2_auth(), provider.client
    verifier = pkce.new_verifier()
    url = authorization_url(
        auth,
        client_id=client.client_id,
        redirect_uri=client.redirect_uri,
        state=secrets.token_urlsafe(16),
        code_challenge=pkce.challenge_s256(verifier),
    )
    answer = callback_params(provider.simulate_browser(url))
    request = token_request_authorization_code(
        auth,
        client_id=client.client_id,
        client_secret=client.client_secret,
        code=answer["code"],
        redirect_uri=client.redirect_uri,
        code_verifier=verifier,
    )
    ctx = runtime.ctx
    try:
        response = await ctx.transport.send(request, timeout=10)
    finally:
        await ctx.transport.aclose()
    return parse_token_response(
        response.status,
        response.headers,
        response.body,
        now=ctx.clock.now(),
        default_expires_in=None,
        previous_refresh_token=None,
    )


def seed(runtime: Runtime, provider: OidcProvider) -> Renewal:
    ctx = runtime.ctx
    principal = Principal(client_id="bench")
    connector = create_custom_connector(ctx, principal, connector_definition(provider))
    library = ApplicationConnectorChanges(
        client_id=provider.client.client_id, client_secret=provider.client.client_secret
    )
    put_application_connector(ctx, principal, connector.Id, library)
    account = create_account(ctx, "Rotation", ACCOUNT)
    tokens = asyncio.run(code_flow(runtime, provider))
    assert tokens.refresh_token
    assert tokens.expires_at
    document = {
        "AccessToken": tokens.access_token,
        "RefreshToken": tokens.refresh_token,
        "Expires": format_utc(tokens.expires_at),
    }
    request = InstallRequest(auth_value=json.dumps(document))
    view = install(ctx, principal, ACCOUNT, str(connector.Id), request)
    return Renewal(ACCOUNT, account.pk, int(view.item.id), 0)


def stored(runtime: Runtime, ac_id: int) -> Any:
    with runtime.ctx.db.read() as tx:
        return tx.credentials.get(ac_id)


def start_workers(work: Path, env: dict[str, str], renewal: Renewal) -> list[Any]:
    go, stop = work / "go", work / "stop"
    procs = []
    for index in range(PROCESSES):
        ready = work / f"ready-{index}"
        command = [sys.executable, str(WORKER), str(renewal.account_connector_id), ACCOUNT]
        command += [str(renewal.account_pk), "--ready", str(ready), "--go", str(go)]
        command += ["--callers", str(CALLERS), "--loop-until", str(stop), "--hard-margin", "7200"]
        procs.append(
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    deadline = time.monotonic() + 120
    while not all((work / f"ready-{i}").exists() for i in range(PROCESSES)):
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            raise SystemExit("a worker process did not start")
        time.sleep(0.05)
    go.touch()
    return procs


def results(procs: list[Any]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise SystemExit(f"a worker process failed:\n{err[-2000:]}")
        lines += [json.loads(line) for line in out.splitlines() if line.strip()]
    return lines


async def final_checks(runtime: Runtime, provider: OidcProvider, renewal: Renewal) -> bool:
    """The last access token is accepted by the API, and one more refresh succeeds."""
    ctx = runtime.ctx
    try:
        current = await renew(ctx, renewal, mode=Mode.DEMAND)
        headers = {"Authorization": f"Bearer {current.access_token}"}
        answer = await ctx.transport.send(
            HttpRequest("GET", provider.resource_url, headers), timeout=10
        )
        forced = await renew(ctx, renewal, mode=Mode.FORCE)
    finally:
        await ctx.transport.aclose()
    print(f"last access token at {provider.resource_url}: HTTP {answer.status}")
    print(f"one more refresh through tokenward: version {current.version} -> {forced.version}")
    return answer.status == 200 and forced.version == current.version + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=900, help="seconds before giving up")
    parser.add_argument("--postgres", help="a PostgreSQL URL instead of embedded SQLite")
    args = parser.parse_args()
    logging.getLogger("tokenward").setLevel(logging.ERROR)  # the seeding runtime's notices
    work = Path(tempfile.mkdtemp(prefix="tokenward-bench-"))
    with (
        start_oidc_provider(access_token_ttl=60) as provider,
        database_env(args.postgres, work) as db,
    ):
        settings = {"allow_insecure_http": "true", **db}
        runtime = open_runtime(
            load_settings(**settings), migrate=True, create_keys=args.postgres is None
        )
        try:
            renewal = seed(runtime, provider)
            before = stored(runtime, renewal.account_connector_id).version
            procs = start_workers(work, clean_env(**settings), renewal)
            started = time.monotonic()
            version = before
            while version - before < args.cycles and time.monotonic() - started < args.timeout:
                time.sleep(0.2)
                cred = stored(runtime, renewal.account_connector_id)
                version = cred.version
                if cred.state is not AuthState.ACTIVE and cred.state is not AuthState.REFRESHING:
                    break
            elapsed = time.monotonic() - started
            (work / "stop").touch()
            answers = results(procs)
            after = stored(runtime, renewal.account_connector_id)
            alive = asyncio.run(final_checks(runtime, provider, renewal))
        finally:
            runtime.close()
    cycles = after.version - before
    errors = [a["error"] for a in answers if "error" in a]
    print(
        f"oidc-provider (strict rotation, reuse revokes the grant), {PROCESSES} processes x "
        f"{CALLERS} callers, hard margin 7200 s > token lifetime 60 s"
    )
    print(
        f"{cycles} refresh cycles in {elapsed:.1f} s ({cycles / max(elapsed, 1e-9):.1f}/s), "
        f"{len(answers)} answers to callers, {len(errors)} errors {sorted(set(errors))}"
    )
    print(f"credential after: state {after.state.value}, version {before} -> {after.version}")
    ok = cycles >= args.cycles and not errors and after.state is AuthState.ACTIVE and alive
    print(f"(e) R-02: {cycles} refresh cycles, credential still active: {verdict(ok)}")


if __name__ == "__main__":
    main()
