"""R-03 at CI size: many credentials expiring in the same second are refreshed by the background
refresher spread over the window before their expiry, none twice, and a partner's request for a
still-valid token is answered without waiting for the storm."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from lifecycle import install_double, stored
from oauth_calls import code_tokens

from tokenward.clock import FakeClock
from tokenward.domain.authvalue import format_utc, parse_auth_value
from tokenward.runtime import Runtime
from tokenward.services.auth_values import store_auth_value
from tokenward.services.context import Principal
from tokenward.services.credentials import FreshCredential, peek
from tokenward.testing import ProviderDouble
from tokenward.worker.refresher import Refresher

COUNT = 200
STEP = 10  # seconds of fake time per refresher round


@pytest.fixture
def provider(clock: FakeClock) -> Iterator[ProviderDouble]:
    with ProviderDouble(clock=clock) as double:
        yield double


@pytest.fixture(autouse=True)
async def _close_transport(runtime: Runtime) -> AsyncIterator[None]:
    yield
    await runtime.ctx.transport.aclose()


def _seed(runtime: Runtime, provider: ProviderDouble, first: int, expires: str) -> list[int]:
    """``COUNT`` account connectors of the connector of ``first``, all expiring at ``expires``."""
    ctx = runtime.ctx
    ids = []
    with ctx.db.write() as tx:
        account = tx.accounts.get("acme")
        template = tx.account_connectors.get(account.pk, first) if account else None
        assert account is not None
        assert template is not None
        for index in range(COUNT):
            tokens = code_tokens(provider)
            value = json.dumps(
                {
                    "AccessToken": tokens["access_token"],
                    "RefreshToken": tokens["refresh_token"],
                    "Expires": expires,
                }
            )
            ac_id = tx.account_connectors.add(
                account.pk,
                template.connector_id,
                None,
                f"storm {index}",
                None,
                False,
                ctx.clock.now(),
            )
            item = tx.account_connectors.get(account.pk, ac_id)
            assert item is not None
            parsed = parse_auth_value("OAuth2", value)
            store_auth_value(ctx, tx, item, parsed, Principal("storm"), "acme")
            ids.append(ac_id)
    return ids


@pytest.mark.slow
async def test_r03_a_mass_expiry_is_refreshed_spread_over_the_window(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
    clock: FakeClock,
) -> None:
    first = install_double(client, auth, acct, provider)
    expiry = clock.now() + timedelta(hours=1)
    ids = _seed(runtime, provider, first, format_utc(expiry))
    versions = {ac_id: stored(runtime, ac_id).version for ac_id in ids}
    refresher = Refresher(runtime.ctx, concurrency=4)
    rounds: Counter[int] = Counter()
    probe = ids[0]
    clock.advance(45 * 60)  # nothing is due yet: the window opens 5 minutes before the margin
    assert await refresher.run_once() == 0
    while clock.now() < expiry:
        clock.advance(STEP)
        before = provider.refresh_count
        while await refresher.run_once():
            pass
        rounds[int((expiry - clock.now()).total_seconds())] += provider.refresh_count - before
        if provider.refresh_count < COUNT and stored(runtime, probe).version == versions[probe]:
            # a partner's request in the middle of the storm: one read, no waiting
            found = peek(runtime.ctx, Principal("p"), "acme", probe)
            assert isinstance(found, FreshCredential)
    assert provider.refresh_count == COUNT  # every one refreshed, none twice
    for ac_id in ids:
        cred = stored(runtime, ac_id)
        assert cred.version == versions[ac_id] + 1
        assert cred.last_refreshed_utc is not None
        assert cred.last_refreshed_utc < expiry  # before it expired
    busy = [count for count in rounds.values() if count]
    window_rounds = runtime.ctx.lifecycle.refresh_window.total_seconds() / STEP
    assert len(busy) >= window_rounds * 0.8  # spread over (nearly) every round of the window
    assert max(busy) <= 4 * COUNT / window_rounds  # no round takes a burst
