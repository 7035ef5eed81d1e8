"""Token revocation (RFC 7009; SECURITY.md V-01..V-04) against the provider double over real
sockets: de-authenticating or deleting an account connector stops serving its credential at
once and queues the revocation, sealed; the worker revokes the refresh token first, then the
access token; 200 is success whatever the body; 503 is retried from the queue until N attempts,
after which the queued secret is destroyed; unsupported_token_type is not retried. Each change
emits exactly one accountconnector.deauthenticated event, and no webhook carries a secret."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from oauth_calls import code_tokens
from sqlalchemy import select
from webhook_receiver import receiving

from tokenward.catalog.registry import Catalog
from tokenward.catalog.schema import Connector
from tokenward.clock import FakeClock
from tokenward.runtime import Runtime
from tokenward.services import revocation, webhooks
from tokenward.services.account_connector_changes import deauthenticate, delete_account_connector
from tokenward.services.account_connectors import get_account_connector
from tokenward.services.accounts import create_account
from tokenward.services.application_connectors import (
    ApplicationConnectorChanges,
    put_application_connector,
)
from tokenward.services.context import Principal, ServiceContext
from tokenward.services.install import InstallRequest, install
from tokenward.services.partner_settings import PartnerSettingsChanges, update_partner_settings
from tokenward.store.tables import audit_log, events, revocations
from tokenward.testing import Failure, ProviderDouble, provider_fixture

provider = provider_fixture()
ADMIN = Principal("tests")
CONNECTOR = 9300
PLAIN = 9301  # the same without RevokeUrl
ISSUER_ONLY = 9302  # no RevokeUrl, an Issuer whose metadata names the endpoint
AUTH_ID = "5b0c7c1e-8f0a-4c55-9a37-0d3f6f1e7009"


def _connector(connector_id: int, url: str, *, revoke: bool, issuer: bool = False) -> Connector:
    auth = {
        "Id": AUTH_ID,
        "AuthName": "OAuth 2.0",
        "AuthType": "OAuth2",
        "AuthoriseUrl": f"{url}/authorize",
        "AccessTokenUrl": f"{url}/token",
        "RevokeUrl": f"{url}/revoke" if revoke else None,
        "Issuer": url if issuer else None,
    }
    return Connector.model_validate(
        {
            "Id": connector_id,
            "Name": f"Revoking {connector_id}",
            "Version": "1.0",
            "BaseUrl": f"{url}/api",
            "Authentication": [auth],
        }
    )


@pytest.fixture
async def ctx(runtime: Runtime, provider: ProviderDouble) -> AsyncIterator[ServiceContext]:
    catalog = Catalog(
        [
            _connector(CONNECTOR, provider.url, revoke=True),
            _connector(PLAIN, provider.url, revoke=False),
        ]
    )
    runtime.ctx = replace(runtime.ctx, catalog=catalog)
    client = provider.client
    for connector_id in (CONNECTOR, PLAIN):
        changes = ApplicationConnectorChanges(
            client_id=client.client_id, client_secret=client.client_secret
        )
        put_application_connector(runtime.ctx, ADMIN, connector_id, changes)
    create_account(runtime.ctx, "Acme", "acme")
    yield runtime.ctx
    await runtime.ctx.transport.aclose()


def connect(
    ctx: ServiceContext, provider: ProviderDouble, connector_id: int = CONNECTOR
) -> tuple[int, dict[str, Any]]:
    """An account connector holding live tokens from the double; (its id, the tokens)."""
    tokens = code_tokens(provider)
    value = {"AccessToken": tokens["access_token"], "RefreshToken": tokens["refresh_token"]}
    view = install(
        ctx, ADMIN, "acme", str(connector_id), InstallRequest(auth_value=json.dumps(value))
    )
    assert view.credential.authenticated
    return view.item.id, tokens


def me(provider: ProviderDouble, access_token: str) -> int:
    headers = {"Authorization": f"Bearer {access_token}"}
    return httpx.get(f"{provider.url}/api/me", headers=headers).status_code


def revocation_rows(runtime: Runtime) -> list[Any]:
    with runtime.engine.connect() as conn:
        return list(conn.execute(select(revocations)))


def event_rows(runtime: Runtime) -> list[Any]:
    with runtime.engine.connect() as conn:
        return list(conn.execute(select(events).order_by(events.c.created_utc)))


def deauthenticated(runtime: Runtime) -> list[Any]:
    return [e for e in event_rows(runtime) if e.type == "accountconnector.deauthenticated"]


async def drain(
    ctx: ServiceContext,
    runtime: Runtime,
    clock: FakeClock,
    policy: revocation.RevocationPolicy | None = None,
) -> list[str]:
    """Run the worker, moving the fake clock to each next attempt, until the queue is empty."""
    outcomes: list[str] = []
    for _ in range(50):
        outcomes += await revocation.process_due(ctx, "worker-1", policy)
        due = [r.next_attempt_utc for r in revocation_rows(runtime) if r.next_attempt_utc]
        if not due:
            return outcomes
        clock.advance(max(0.0, (min(due) - clock.now()).total_seconds()))
    raise AssertionError("the revocation queue did not drain")


def basic_header(provider: ProviderDouble) -> str:
    """RFC 6749 §2.3.1: id and secret form-encoded, then base64."""
    client = provider.client
    pair = f"{quote_plus(client.client_id)}:{quote_plus(client.client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


async def test_V01_deauthenticate_revokes_refresh_then_access_token(
    ctx: ServiceContext, runtime: Runtime, provider: ProviderDouble
) -> None:
    """The credential stops being served at once; the worker revokes the refresh token first
    (hint refresh_token), then the access token, with client authentication; both are dead."""
    ac_id, tokens = connect(ctx, provider)
    deauthenticate(ctx, ADMIN, "acme", ac_id)
    view = get_account_connector(ctx, ADMIN, "acme", ac_id)
    assert (view.credential.authenticated, view.credential.auth_value) == (False, None)
    [row] = revocation_rows(runtime)
    assert row.outcome is None
    assert row.sealed is not None
    for secret in (tokens["access_token"], tokens["refresh_token"], provider.client.client_secret):
        assert secret not in row.sealed
    assert await revocation.process_due(ctx, "worker-1") == ["revoked"]
    first, second = provider.requests_to("/revoke")
    assert first.form == {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}
    assert second.form == {"token": tokens["access_token"], "token_type_hint": "access_token"}
    assert (
        first.headers["authorization"] == second.headers["authorization"] == basic_header(provider)
    )
    assert me(provider, tokens["access_token"]) == 401
    [done] = revocation_rows(runtime)
    assert (done.outcome, done.sealed, done.attempts) == ("revoked", None, 1)
    assert await revocation.process_due(ctx, "worker-1") == []


async def test_V01_delete_queues_the_revocation_and_one_event(
    ctx: ServiceContext, runtime: Runtime, provider: ProviderDouble, clock: FakeClock
) -> None:
    """Deleting an authenticated account connector revokes its tokens too, and emits one
    accountconnector.deauthenticated event (Reason "deleted") in the same transaction."""
    ac_id, tokens = connect(ctx, provider)
    delete_account_connector(ctx, ADMIN, "acme", ac_id)
    [event] = deauthenticated(runtime)
    assert (event.account_id, event.account_connector_id) == ("acme", ac_id)
    assert json.loads(event.data) == {"AuthState": "unauthenticated", "Reason": "deleted"}
    assert await drain(ctx, runtime, clock) == ["revoked"]
    assert me(provider, tokens["access_token"]) == 401


async def test_V02_200_is_success_whatever_the_body(
    ctx: ServiceContext, runtime: Runtime, provider: ProviderDouble, clock: FakeClock
) -> None:
    """A 200 carrying an error body, and a 200 for tokens that were already revoked, both count
    as revoked: no retry."""
    ac_id, _tokens = connect(ctx, provider)
    provider.fail_next(Failure.oauth_error("invalid_token", status=200, path="/revoke"))
    deauthenticate(ctx, ADMIN, "acme", ac_id)
    assert await drain(ctx, runtime, clock) == ["revoked"]
    other_id, other = connect(ctx, provider)
    form = {"token": other["refresh_token"], "token_type_hint": "refresh_token"}
    revoked = httpx.post(
        f"{provider.url}/revoke", data=form, headers={"Authorization": basic_header(provider)}
    )
    assert revoked.status_code == 200
    deauthenticate(ctx, ADMIN, "acme", other_id)
    assert await drain(ctx, runtime, clock) == ["revoked"]
    assert len(provider.requests_to("/revoke")) == 5
    assert {r.outcome for r in revocation_rows(runtime)} == {"revoked"}


async def test_V03_503_then_200_is_retried_from_the_queue(
    ctx: ServiceContext, runtime: Runtime, provider: ProviderDouble, clock: FakeClock
) -> None:
    """503 with Retry-After: the token is presumed valid, the sealed row stays queued and is
    retried after the Retry-After; meanwhile the local credential is already unusable."""
    ac_id, tokens = connect(ctx, provider)
    provider.fail_next(Failure.http(503, retry_after=120, path="/revoke"))
    deauthenticate(ctx, ADMIN, "acme", ac_id)
    assert not get_account_connector(ctx, ADMIN, "acme", ac_id).credential.authenticated
    assert await revocation.process_due(ctx, "worker-1") == ["retry"]
    [row] = revocation_rows(runtime)
    assert (row.attempts, row.last_error, row.outcome) == (1, "HTTP 503", None)
    assert row.sealed is not None
    assert (row.next_attempt_utc - clock.now()).total_seconds() >= 120
    assert me(provider, tokens["access_token"]) == 200  # still valid at the provider
    assert await revocation.process_due(ctx, "worker-1") == []  # not due yet
    assert await drain(ctx, runtime, clock) == ["revoked"]
    assert [r.form["token_type_hint"] for r in provider.requests_to("/revoke")] == [
        "refresh_token",
        "refresh_token",
        "access_token",
    ]
    assert me(provider, tokens["access_token"]) == 401


async def test_V03_after_n_failed_attempts_the_secret_is_destroyed_and_reported(
    ctx: ServiceContext,
    runtime: Runtime,
    provider: ProviderDouble,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every attempt answered 503 (or not at all): after N attempts the row is given up, its
    sealed tokens are destroyed, and the failure is logged and audited."""
    ac_id, tokens = connect(ctx, provider)
    provider.fail_next(*[Failure.http(503, path="/revoke")] * 3)
    deauthenticate(ctx, ADMIN, "acme", ac_id)
    policy = revocation.RevocationPolicy(attempts=3)
    with caplog.at_level("INFO", logger="tokenward.revocation"):
        assert await drain(ctx, runtime, clock, policy) == ["retry", "retry", "given_up"]
    [row] = revocation_rows(runtime)
    assert (row.outcome, row.sealed, row.attempts) == ("given_up", None, 3)
    assert row.finished_utc is not None
    assert row.next_attempt_utc is None
    assert "revocation_given_up" in caplog.messages
    for secret in (tokens["access_token"], tokens["refresh_token"]):
        assert secret not in caplog.text
    with runtime.engine.connect() as conn:
        details = [
            a.detail for a in conn.execute(select(audit_log)) if a.action == "credential.revocation"
        ]
    assert details == ["outcome=given_up"]


async def test_V03_transport_errors_are_retried(
    ctx: ServiceContext, runtime: Runtime, provider: ProviderDouble, clock: FakeClock
) -> None:
    """A provider that does not answer in time is retried like a 503."""
    ac_id, _ = connect(ctx, provider)
    deauthenticate(ctx, ADMIN, "acme", ac_id)
    provider.fail_next(Failure.delay(1.0, path="/revoke"))
    quick = replace(ctx, lifecycle=replace(ctx.lifecycle, provider_timeout=0.3))
    assert await revocation.process_due(quick, "worker-1") == ["retry"]
    assert revocation_rows(runtime)[0].last_error == "transport timeout"
    assert await drain(ctx, runtime, clock) == ["revoked"]


async def test_V04_unsupported_token_type_is_logged_and_not_retried(
    ctx: ServiceContext,
    runtime: Runtime,
    provider: ProviderDouble,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """unsupported_token_type for the refresh token: logged, never retried; the access token is
    still revoked; the row is finished and its secret destroyed."""
    ac_id, tokens = connect(ctx, provider)
    provider.fail_next(Failure.oauth_error("unsupported_token_type", path="/revoke"))
    deauthenticate(ctx, ADMIN, "acme", ac_id)
    with caplog.at_level("INFO", logger="tokenward.revocation"):
        assert await revocation.process_due(ctx, "worker-1") == ["unsupported"]
    assert "revocation_unsupported_token_type" in caplog.messages
    [row] = revocation_rows(runtime)
    assert (row.outcome, row.sealed, row.next_attempt_utc) == ("unsupported", None, None)
    assert len(provider.requests_to("/revoke")) == 2
    assert me(provider, tokens["access_token"]) == 401


async def test_deauthenticate_emits_exactly_one_event_and_revokes_once(
    ctx: ServiceContext, runtime: Runtime, provider: ProviderDouble
) -> None:
    """A second de-authenticate changes nothing: no second event, no second revocation."""
    ac_id, _ = connect(ctx, provider)
    deauthenticate(ctx, ADMIN, "acme", ac_id)
    deauthenticate(ctx, ADMIN, "acme", ac_id)
    [event] = deauthenticated(runtime)
    assert json.loads(event.data) == {"AuthState": "unauthenticated", "Reason": "deauthenticated"}
    assert len(revocation_rows(runtime)) == 1


async def test_without_revoke_url_the_credential_is_only_dropped(
    ctx: ServiceContext, runtime: Runtime, provider: ProviderDouble
) -> None:
    """A connector without RevokeUrl: no queue row, the credential is dropped, one event."""
    ac_id, tokens = connect(ctx, provider, PLAIN)
    deauthenticate(ctx, ADMIN, "acme", ac_id)
    assert revocation_rows(runtime) == []
    assert len(deauthenticated(runtime)) == 1
    assert not get_account_connector(ctx, ADMIN, "acme", ac_id).credential.authenticated
    assert me(provider, tokens["access_token"]) == 200


async def test_no_secret_in_any_webhook_payload(
    ctx: ServiceContext, runtime: Runtime, provider: ProviderDouble
) -> None:
    """The authenticated and deauthenticated events of a connector reach the webhook without
    any token, client secret or webhook secret in their bodies or headers."""
    webhook_secret = "whsec-canary-0123456789"
    ac_id, tokens = connect(ctx, provider)
    deauthenticate(ctx, ADMIN, "acme", ac_id)
    async with receiving() as receiver:
        changes = PartnerSettingsChanges(
            given=frozenset({"webhook_url", "webhook_secret"}),
            webhook_url=receiver.url,
            webhook_secret=webhook_secret,
        )
        update_partner_settings(ctx, ADMIN, changes)
        await webhooks.deliver_due(ctx, "dispatcher-1")
    types = [d.json["Type"] for d in receiver.deliveries]
    assert sorted(types) == ["accountconnector.authenticated", "accountconnector.deauthenticated"]
    secrets = [tokens["access_token"], tokens["refresh_token"], provider.client.client_secret]
    for delivery in receiver.deliveries:
        seen = delivery.body.decode() + json.dumps(delivery.headers)
        for secret in [*secrets, webhook_secret]:
            assert secret not in seen


async def test_V01_the_issuers_metadata_names_the_revocation_endpoint(
    ctx: ServiceContext, runtime: Runtime, provider: ProviderDouble
) -> None:
    """A connector with an Issuer and no RevokeUrl: the revocation endpoint comes from the
    RFC 8414 metadata, looked up when the queued row is sent."""
    catalog = Catalog([_connector(ISSUER_ONLY, provider.url, revoke=False, issuer=True)])
    ctx = replace(ctx, catalog=catalog)
    runtime.ctx = ctx
    client = provider.client
    changes = ApplicationConnectorChanges(
        client_id=client.client_id, client_secret=client.client_secret
    )
    put_application_connector(ctx, ADMIN, ISSUER_ONLY, changes)
    ac_id, tokens = connect(ctx, provider, ISSUER_ONLY)
    deauthenticate(ctx, ADMIN, "acme", ac_id)
    assert await revocation.process_due(ctx, "worker-1") == ["revoked"]
    assert len(provider.requests_to("/.well-known/oauth-authorization-server")) == 1
    revoked = [r.form["token"] for r in provider.requests_to("/revoke")]
    assert revoked == [tokens["refresh_token"], tokens["access_token"]]
    assert me(provider, tokens["access_token"]) == 401
