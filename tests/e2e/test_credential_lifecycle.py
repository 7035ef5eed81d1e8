"""The credential lifecycle against the provider double over real sockets, on SQLite and
PostgreSQL: refresh on demand and ahead of time, single flight, error classification, the
lost-response rule, versions and events (DESIGN.md §8; SECURITY.md §3.2, RT-, R-, T-04, T-05)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lifecycle import (
    fast_context,
    install_double,
    renewal,
    stored,
    stored_events,
    write_auth_value,
)
from oauth_calls import code_tokens

from tokenward.clock import FakeClock
from tokenward.crypto.fields import credential_aad
from tokenward.domain.authvalue import format_utc
from tokenward.domain.models import AuthState
from tokenward.errors import ProviderUnavailable, StateConflict
from tokenward.runtime import Runtime
from tokenward.services import credentials
from tokenward.services.credential_documents import read_document
from tokenward.services.credentials import Mode
from tokenward.testing import Failure, ProviderBehaviour, ProviderDouble


@pytest.fixture
def behaviour() -> ProviderBehaviour:
    return ProviderBehaviour()


@pytest.fixture
def provider(behaviour: ProviderBehaviour, clock: FakeClock) -> Iterator[ProviderDouble]:
    with ProviderDouble(behaviour, clock=clock) as double:
        yield double


@pytest.fixture
def connected(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
    clock: FakeClock,
) -> tuple[int, dict[str, Any]]:
    """An account connector holding tokens the double issued (1 h), and those tokens."""
    ac_id = install_double(client, auth, acct, provider)
    tokens = code_tokens(provider)
    write_auth_value(client, acct, ac_id, tokens, clock.now() + timedelta(hours=1))
    return ac_id, tokens


@pytest.fixture(autouse=True)
async def _close_transport(runtime: Runtime) -> AsyncIterator[None]:
    """The outbound pool belongs to the test's event loop: close it there."""
    yield
    await runtime.ctx.transport.aclose()


def _document(runtime: Runtime, ac_id: int) -> Any:
    cred = stored(runtime, ac_id)
    assert cred.secret_sealed is not None
    return read_document(
        "OAuth2", runtime.ctx.sealer.open(cred.secret_sealed, credential_aad(ac_id))
    )


async def test_demand_serves_a_valid_token_without_contacting_the_provider(
    runtime: Runtime, provider: ProviderDouble, connected: tuple[int, dict[str, Any]]
) -> None:
    ac_id, tokens = connected
    ctx = fast_context(runtime)
    fresh = await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    assert fresh.access_token == tokens["access_token"]
    assert provider.refresh_attempts == 0


async def test_rt02_expired_token_is_refreshed_and_the_rotated_token_stored_first(
    runtime: Runtime,
    provider: ProviderDouble,
    connected: tuple[int, dict[str, Any]],
    clock: FakeClock,
) -> None:
    ac_id, tokens = connected
    ctx = fast_context(runtime)
    clock.advance(3600)
    before = stored(runtime, ac_id)
    fresh = await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    after = stored(runtime, ac_id)
    document = _document(runtime, ac_id)
    assert fresh.access_token != tokens["access_token"]
    assert fresh.access_token == document.access_token  # committed before it was handed out
    assert document.refresh_token != tokens["refresh_token"]
    assert after.version == before.version + 1 == fresh.version
    assert after.state is AuthState.ACTIVE
    assert after.lease_owner is None
    assert after.attempt_id is None
    assert after.last_refreshed_utc == clock.now()
    # RT-02: the old refresh token is never sent again
    clock.advance(3600)
    await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    sent = [r.form.get("refresh_token") for r in provider.requests_to("/token")]
    assert sent.count(tokens["refresh_token"]) == 1
    assert provider.refresh_count == 2


async def test_r01_concurrent_callers_in_one_process_share_one_refresh(
    runtime: Runtime,
    provider: ProviderDouble,
    connected: tuple[int, dict[str, Any]],
    clock: FakeClock,
) -> None:
    ac_id, _ = connected
    ctx = fast_context(runtime)
    clock.advance(3600)
    provider.fail_next(Failure.delay(0.2))  # keep the refresh in flight while callers arrive
    results = await asyncio.gather(
        *(credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND) for _ in range(50))
    )
    assert provider.refresh_count == 1
    assert len({r.access_token for r in results}) == 1


async def test_r04_valid_token_served_while_provider_down_then_503_with_retry_after(
    runtime: Runtime,
    provider: ProviderDouble,
    connected: tuple[int, dict[str, Any]],
    clock: FakeClock,
) -> None:
    ac_id, tokens = connected
    ctx = fast_context(runtime)
    clock.advance(3600 - 60)  # due (inside the margin) but still valid
    provider.fail_next(*[Failure.http(503)] * 3)
    fresh = await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.BACKGROUND)
    assert fresh.access_token == tokens["access_token"]
    assert provider.refresh_attempts == 3
    cred = stored(runtime, ac_id)
    assert cred.state is AuthState.ACTIVE
    assert cred.failures == 1
    assert cred.error_code == "server_error"
    assert cred.retry_after_utc is not None
    clock.advance(120)  # now expired, the provider still down
    provider.fail_next(*[Failure.http(503)] * 3)
    with pytest.raises(ProviderUnavailable) as caught:
        await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    assert caught.value.retry_after is not None
    assert caught.value.retry_after >= 1
    assert provider.refresh_attempts == 6
    # inside the cooldown that follows, callers get the 503 without hammering the provider
    with pytest.raises(ProviderUnavailable):
        await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    assert provider.refresh_attempts == 6


async def test_r05_rt03_invalid_grant_needs_reauth_once_with_one_event(
    runtime: Runtime,
    provider: ProviderDouble,
    connected: tuple[int, dict[str, Any]],
    clock: FakeClock,
) -> None:
    ac_id, _ = connected
    ctx = fast_context(runtime)
    clock.advance(3600)
    provider.fail_next(Failure.invalid_grant())
    with pytest.raises(StateConflict) as caught:
        await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    assert caught.value.code == "needs_reauth"
    cred = stored(runtime, ac_id)
    assert (cred.state, cred.error_code) == (AuthState.NEEDS_REAUTH, "invalid_grant")
    for _ in range(3):
        with pytest.raises(StateConflict):
            await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    assert provider.refresh_attempts == 1
    reauth = [e for e in stored_events(runtime) if e.type == "accountconnector.reauth_required"]
    assert len(reauth) == 1
    assert reauth[0].account_connector_id == ac_id


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_r06_transient_failures_are_retried_with_growing_jittered_delays(
    runtime: Runtime,
    provider: ProviderDouble,
    connected: tuple[int, dict[str, Any]],
    clock: FakeClock,
    status: int,
) -> None:
    ac_id, _ = connected
    ctx = fast_context(runtime, backoff_base=0.05, backoff_cap=0.5)
    clock.advance(3600)
    provider.fail_next(Failure.http(status), Failure.http(status))
    fresh = await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    assert fresh.access_token
    assert provider.refresh_attempts == 3
    assert stored(runtime, ac_id).failures == 0
    # the lease covers every attempt, its timeout and the pauses between them
    policy = ctx.lifecycle
    deadline = (
        policy.attempts * policy.provider_timeout + (policy.attempts - 1) * policy.backoff_cap
    )
    assert policy.lease.total_seconds() > deadline


async def test_r06_retry_after_is_respected(
    runtime: Runtime,
    provider: ProviderDouble,
    connected: tuple[int, dict[str, Any]],
    clock: FakeClock,
) -> None:
    ac_id, _ = connected
    ctx = fast_context(runtime, backoff_base=0.01, backoff_cap=2.0)
    clock.advance(3600)
    provider.fail_next(Failure.http(429, retry_after=1))
    await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    first, second = (r.at for r in provider.requests_to("/token")[-2:])
    assert second - first >= 1.0


async def test_r06_read_timeout_is_transient_and_bounded(
    runtime: Runtime,
    provider: ProviderDouble,
    connected: tuple[int, dict[str, Any]],
    clock: FakeClock,
    behaviour: ProviderBehaviour,
) -> None:
    ac_id, _ = connected
    behaviour.rotate_refresh_tokens = False  # a timed-out refresh must not kill the grant here
    ctx = fast_context(runtime, provider_timeout=0.3)
    clock.advance(3600)
    provider.fail_next(*[Failure.delay(1.0)] * 5)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable):
        await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    assert time.monotonic() - started < ctx.lifecycle.lease.total_seconds()
    cred = stored(runtime, ac_id)
    assert cred.state is AuthState.ACTIVE
    assert cred.failures == 1
    assert cred.error_code == "provider_timeout"


@pytest.mark.parametrize(("grace", "ending"), [(30.0, "active"), (0.0, "needs_reauth")])
async def test_r07_lost_response_retries_once_with_the_old_token(
    runtime: Runtime,
    provider: ProviderDouble,
    connected: tuple[int, dict[str, Any]],
    clock: FakeClock,
    behaviour: ProviderBehaviour,
    grace: float,
    ending: str,
) -> None:
    ac_id, tokens = connected
    behaviour.refresh_grace_seconds = grace
    ctx = fast_context(runtime)
    clock.advance(3600)
    provider.fail_next(Failure.drop_after_rotate())
    if ending == "active":
        fresh = await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
        assert fresh.access_token
    else:
        with pytest.raises(StateConflict):
            await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    cred = stored(runtime, ac_id)
    assert cred.state.value == ending
    if ending == "needs_reauth":
        assert cred.error_code == "refresh_response_lost"
    sent = [
        r.form["refresh_token"]
        for r in provider.requests_to("/token")
        if r.form.get("grant_type") == "refresh_token"
    ]
    assert sent == [tokens["refresh_token"]] * 2  # exactly one retry, never a loop


async def test_r10_a_refresh_that_outlived_its_lease_cannot_overwrite_a_newer_credential(
    runtime: Runtime,
    client: TestClient,
    acct: dict[str, str],
    provider: ProviderDouble,
    connected: tuple[int, dict[str, Any]],
    clock: FakeClock,
) -> None:
    from tokenward.services.credential_leases import _take
    from tokenward.services.refresh import exchange

    ac_id, _ = connected
    ctx = fast_context(runtime)
    clock.advance(3600)
    lease = _take(ctx, renewal(runtime, ac_id), Mode.DEMAND, None, "slow-owner")
    assert isinstance(lease, credentials.Lease)
    newer = code_tokens(provider)
    write_auth_value(client, acct, ac_id, newer, clock.now() + timedelta(hours=1))
    written = stored(runtime, ac_id)
    assert await exchange(ctx, lease) is None  # discarded
    assert stored(runtime, ac_id).version == written.version
    assert _document(runtime, ac_id).access_token == newer["access_token"]


async def test_r11_versions_strictly_increase(
    runtime: Runtime,
    provider: ProviderDouble,
    connected: tuple[int, dict[str, Any]],
    clock: FakeClock,
) -> None:
    ac_id, _ = connected
    ctx = fast_context(runtime)
    seen = [stored(runtime, ac_id).version]
    for _ in range(5):
        clock.advance(3600)
        await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
        seen.append(stored(runtime, ac_id).version)
    assert seen == sorted(set(seen))
    assert len(seen) == 6


async def test_r13_keepalive_refreshes_idle_credentials(
    runtime: Runtime,
    provider: ProviderDouble,
    client: TestClient,
    acct: dict[str, str],
    auth: dict[str, str],
    clock: FakeClock,
    behaviour: ProviderBehaviour,
) -> None:
    behaviour.idle_refresh_expiry_seconds = 36 * 3600
    behaviour.token_lifetime_seconds = 90 * 24 * 3600
    ac_id = install_double(client, auth, acct, provider)
    tokens = code_tokens(provider)
    write_auth_value(client, acct, ac_id, tokens, clock.now() + timedelta(days=90))
    ctx = fast_context(runtime)
    for _ in range(4):  # four idle days: the refresh token would have expired after 36 h
        clock.advance(25 * 3600)
        await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.BACKGROUND)
    assert provider.refresh_count == 4
    assert stored(runtime, ac_id).state is AuthState.ACTIVE


async def test_r14_exhausted_after_the_horizon_and_a_manual_refresh_resets_it(
    runtime: Runtime,
    provider: ProviderDouble,
    connected: tuple[int, dict[str, Any]],
    clock: FakeClock,
) -> None:
    ac_id, _ = connected
    ctx = fast_context(runtime, attempts=1, exhausted_after=timedelta(hours=5))
    clock.advance(3600)
    for _ in range(3):
        provider.fail_next(Failure.http(503))
        with pytest.raises(ProviderUnavailable):
            await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.BACKGROUND)
        clock.advance(2 * 3600)
    provider.fail_next(Failure.http(503))
    with pytest.raises(StateConflict) as caught:
        await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.BACKGROUND)
    assert caught.value.code == "exhausted"
    attempts = provider.refresh_attempts
    with pytest.raises(StateConflict):
        await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.BACKGROUND)
    assert provider.refresh_attempts == attempts  # stopped retrying
    assert stored(runtime, ac_id).state is AuthState.EXHAUSTED
    clock.advance(1)
    fresh = await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.FORCE)
    assert fresh.access_token
    assert stored(runtime, ac_id).state is AuthState.ACTIVE
    types = [e.type for e in stored_events(runtime)]
    assert types[-1] == "accountconnector.recovered"
    assert types.count("accountconnector.refresh_failed") == 2  # first failure, exhausted


async def test_rt04_invalid_client_is_a_configuration_error(
    runtime: Runtime,
    provider: ProviderDouble,
    connected: tuple[int, dict[str, Any]],
    clock: FakeClock,
) -> None:
    ac_id, _ = connected
    ctx = fast_context(runtime)
    clock.advance(3600)
    provider.fail_next(Failure.oauth_error("invalid_client", status=401))
    with pytest.raises(StateConflict) as caught:
        await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    assert caught.value.code == "error_config"
    assert stored(runtime, ac_id).state is AuthState.ERROR_CONFIG


async def test_t04_t05_missing_expires_in_and_unknown_members(
    runtime: Runtime,
    provider: ProviderDouble,
    connected: tuple[int, dict[str, Any]],
    clock: FakeClock,
    behaviour: ProviderBehaviour,
) -> None:
    ac_id, _ = connected
    behaviour.omit_expires_in = True
    behaviour.extra_token_fields = {"instance_url": "https://eu1.example.com"}
    ctx = fast_context(runtime)
    clock.advance(3600)
    fresh = await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    assert fresh.expires_utc is None  # unknown, not infinite
    cred = stored(runtime, ac_id)
    assert cred.expires_utc is None
    assert cred.secret_sealed is not None
    opened = runtime.ctx.sealer.open(cred.secret_sealed, credential_aad(ac_id))
    assert "instance_url" in opened  # kept, sealed
    assert "instance_url" not in (cred.masked or "")


async def test_client_credentials_authenticate_lazily_and_remint_on_expiry(
    runtime: Runtime,
    provider: ProviderDouble,
    client: TestClient,
    acct: dict[str, str],
    auth: dict[str, str],
    clock: FakeClock,
) -> None:
    ac_id = install_double(
        client, auth, acct, provider, OAuth2Type="ClientCredentials", AuthoriseUrl=None
    )
    write_auth_value(client, acct, ac_id, "{}")
    ctx = fast_context(runtime)
    first = await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    assert first.access_token
    assert stored(runtime, ac_id).state is AuthState.ACTIVE
    again = await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    assert again.access_token == first.access_token
    clock.advance(3600)
    renewed = await credentials.renew(ctx, renewal(runtime, ac_id), mode=Mode.DEMAND)
    assert renewed.access_token != first.access_token
    grants = [r.form.get("grant_type") for r in provider.requests_to("/token")]
    assert grants == ["client_credentials", "client_credentials"]
    types = [e.type for e in stored_events(runtime)]
    assert types.count("accountconnector.authenticated") == 1


async def test_refresh_expires_is_respected_without_contacting_the_provider(
    runtime: Runtime,
    provider: ProviderDouble,
    client: TestClient,
    acct: dict[str, str],
    auth: dict[str, str],
    clock: FakeClock,
) -> None:
    """A refresh token past its ``RefreshExpires`` is not sent: the credential needs re-auth."""
    ac_id = install_double(client, auth, acct, provider)
    tokens = code_tokens(provider)
    value = {
        "AccessToken": tokens["access_token"],
        "RefreshToken": tokens["refresh_token"],
        "Expires": format_utc(clock.now() + timedelta(hours=1)),
        "RefreshExpires": format_utc(clock.now() + timedelta(hours=2)),
    }
    write_auth_value(client, acct, ac_id, json.dumps(value))
    clock.advance(3 * 3600)
    with pytest.raises(StateConflict) as caught:
        await credentials.renew(fast_context(runtime), renewal(runtime, ac_id), mode=Mode.DEMAND)
    assert caught.value.code == "needs_reauth"
    cred = stored(runtime, ac_id)
    assert (cred.state, cred.error_code) == (AuthState.NEEDS_REAUTH, "refresh_token_expired")
    assert provider.refresh_attempts == 0
