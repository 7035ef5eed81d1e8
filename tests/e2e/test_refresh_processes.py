"""Single flight across OS processes, on SQLite and PostgreSQL: real processes sharing one
database ask for one credential at once (SECURITY.md R-01, R-02 at CI size, R-08)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lifecycle import fast_context, install_double, renewal, stored, write_auth_value
from oauth_calls import code_tokens
from serving import clean_env

from tokenward.clock import SystemClock
from tokenward.crypto.fields import credential_aad
from tokenward.domain.models import AuthState
from tokenward.errors import StateConflict
from tokenward.runtime import Runtime
from tokenward.services.credentials import Mode, renew
from tokenward.testing import Failure, ProviderBehaviour, ProviderDouble

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("renew_worker.py")


@pytest.fixture
def behaviour() -> ProviderBehaviour:
    return ProviderBehaviour()


@pytest.fixture
def provider(behaviour: ProviderBehaviour) -> Iterator[ProviderDouble]:
    with ProviderDouble(behaviour) as double:  # real time: the workers use the system clock
        yield double


@pytest.fixture
def expired(
    client: TestClient, auth: dict[str, str], acct: dict[str, str], provider: ProviderDouble
) -> tuple[int, dict[str, Any]]:
    """An account connector whose access token expired a minute ago (real time)."""
    ac_id = install_double(client, auth, acct, provider)
    tokens = code_tokens(provider)
    write_auth_value(client, acct, ac_id, tokens, datetime.now(UTC) - timedelta(minutes=1))
    return ac_id, tokens


class Workers:
    """Worker processes started together; ``results()`` waits for them and parses stdout."""

    def __init__(
        self,
        tmp: Path,
        env: dict[str, str],
        runtime: Runtime,
        ac_id: int,
        *extra: str,
        processes: int = 4,
    ) -> None:
        account = renewal(runtime, ac_id)
        self.go = tmp / "go"
        self.procs: list[subprocess.Popen[str]] = []
        self.ready: list[Path] = []
        for index in range(processes):
            ready = tmp / f"ready-{index}"
            self.ready.append(ready)
            command = [sys.executable, str(WORKER), str(ac_id), account.account_id]
            command += [str(account.account_pk), "--ready", str(ready), "--go", str(self.go)]
            self.procs.append(
                subprocess.Popen(
                    [*command, *extra],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )

    def start(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(path.exists() for path in self.ready):
            for proc in self.procs:
                if proc.poll() is not None:
                    raise AssertionError(
                        f"worker died: {proc.stderr.read() if proc.stderr else ''}"
                    )
            assert time.monotonic() < deadline, "workers did not get ready"
            time.sleep(0.05)
        self.go.touch()

    def results(self, timeout: float = 120.0) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        for proc in self.procs:
            out, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err
            lines += [json.loads(line) for line in out.splitlines() if line.strip()]
        return lines


@pytest.fixture
def worker_env(database_url: str, encryption_keys: str, tmp_path: Path) -> dict[str, str]:
    return clean_env(
        database_url=database_url,
        encryption_keys=encryption_keys,
        allow_insecure_http="true",
        data_dir=str(tmp_path / "worker-data"),
        log_level="WARNING",
    )


def test_r01_one_refresh_for_100_callers_in_4_processes(
    runtime: Runtime,
    provider: ProviderDouble,
    expired: tuple[int, dict[str, Any]],
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    ac_id, _ = expired
    provider.fail_next(Failure.delay(0.5))  # keep the one refresh in flight while all arrive
    workers = Workers(tmp_path, worker_env, runtime, ac_id, "--callers", "25")
    workers.start()
    results = workers.results()
    assert len(results) == 100
    assert provider.refresh_count == 1
    assert provider.refresh_attempts == 1
    assert {r.get("error") for r in results} == {None}
    assert len({r["token"] for r in results}) == 1  # every caller got the same new token
    assert {r["version"] for r in results} == {stored(runtime, ac_id).version}
    assert stored(runtime, ac_id).state is AuthState.ACTIVE


def test_r02_strict_rotation_stays_active_under_concurrent_load(
    runtime: Runtime,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    expired: tuple[int, dict[str, Any]],
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """Every answer is immediately due again (hard margin > lifetime), so 4 processes of 10
    callers keep refreshing one credential; reuse of any rotated token would revoke the grant."""
    behaviour.reuse_revokes_grant = True
    cycles = int(os.environ.get("TW_R02_CYCLES", "100"))
    ac_id, _ = expired
    before = stored(runtime, ac_id).version
    stop = tmp_path / "stop"
    workers = Workers(
        tmp_path,
        worker_env,
        runtime,
        ac_id,
        "--callers",
        "10",
        "--loop-until",
        str(stop),
        "--hard-margin",
        "7200",
    )
    workers.start()
    deadline = time.monotonic() + 600
    while provider.refresh_count < cycles and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.touch()
    results = workers.results()
    refused = [
        r for r in provider.requests_to("/token") if r.form.get("grant_type") == "refresh_token"
    ]
    assert provider.refresh_count >= cycles
    assert len(refused) == provider.refresh_count  # no refresh was ever refused
    assert {r.get("error") for r in results} == {None}
    after = stored(runtime, ac_id)
    assert after.state is AuthState.ACTIVE
    assert after.version == before + provider.refresh_count  # one version per refresh


@pytest.mark.parametrize(
    ("grace", "ending"), [(60.0, AuthState.ACTIVE), (0.0, AuthState.NEEDS_REAUTH)]
)
async def test_r08_sigkill_mid_refresh_leaves_a_whole_credential_and_is_resumed(
    runtime: Runtime,
    provider: ProviderDouble,
    behaviour: ProviderBehaviour,
    expired: tuple[int, dict[str, Any]],
    worker_env: dict[str, str],
    tmp_path: Path,
    grace: float,
    ending: AuthState,
) -> None:
    behaviour.refresh_grace_seconds = grace
    ac_id, tokens = expired
    before = stored(runtime, ac_id)
    provider.fail_next(Failure.stall_after_rotate(3))
    short = ("--provider-timeout", "1", "--attempts", "1", "--lease-margin", "1")
    workers = Workers(tmp_path, worker_env, runtime, ac_id, "--callers", "1", *short, processes=1)
    victim = workers.procs[0]
    workers.start()
    deadline = time.monotonic() + 30
    while provider.refresh_count < 1:  # the provider issued new tokens ...
        assert time.monotonic() < deadline
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)  # ... and the process dies before storing them
    victim.communicate(timeout=10)
    killed = stored(runtime, ac_id)
    assert killed.version == before.version  # the old credential, whole
    assert killed.attempt_id is not None
    assert killed.secret_sealed == before.secret_sealed
    runtime.ctx.sealer.open(killed.secret_sealed or "", credential_aad(ac_id))
    policy = fast_context(runtime, provider_timeout=1.0, attempts=1, lease_margin=1.0)
    ctx = replace(policy, clock=SystemClock())  # the workers' leases are in real time
    started = time.monotonic()
    try:
        if ending is AuthState.ACTIVE:
            fresh = await renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
            assert fresh.access_token
        else:
            with pytest.raises(StateConflict, match="re-authenticated"):
                await renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    finally:
        await ctx.transport.aclose()
    assert time.monotonic() - started < ctx.lifecycle.lease.total_seconds() + 5
    resumed = stored(runtime, ac_id)
    assert resumed.state is ending
    if ending is AuthState.NEEDS_REAUTH:
        assert resumed.error_code == "refresh_response_lost"
    sent = [
        r.form["refresh_token"]
        for r in provider.requests_to("/token")
        if r.form.get("grant_type") == "refresh_token"
    ]
    assert sent == [tokens["refresh_token"]] * 2  # the killed one, and exactly one retry
