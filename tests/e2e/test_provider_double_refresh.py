"""The provider double's token life over real sockets: rotation, strict reuse, grace window,
idle expiry, canned failures, revocation and the protected resource."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from oauth_calls import basic, code_tokens, refresh

from tokenward.testing import (
    Failure,
    FakeClock,
    ProviderBehaviour,
    ProviderDouble,
    provider_fixture,
)

provider = provider_fixture()


def me(provider: ProviderDouble, token: str) -> httpx.Response:
    return httpx.get(f"{provider.url}/api/me", headers={"Authorization": f"Bearer {token}"})


def revoke(provider: ProviderDouble, token: str, hint: str) -> httpx.Response:
    form = {"token": token, "token_type_hint": hint}
    return httpx.post(f"{provider.url}/revoke", data=form, auth=basic(provider.client))


def test_rt02_rotation_issues_a_new_refresh_token_and_refuses_the_old(
    provider: ProviderDouble,
) -> None:
    """With rotation each refresh returns a new refresh token; the old one is invalid_grant."""
    old = code_tokens(provider)["refresh_token"]
    new = refresh(provider, old).json()
    again = refresh(provider, old)
    assert new["refresh_token"] != old
    assert again.json()["error"] == "invalid_grant"
    assert refresh(provider, new["refresh_token"]).status_code == 200
    assert (provider.refresh_count, provider.refresh_attempts) == (2, 3)


def test_rt02_without_rotation_the_refresh_token_is_kept(provider: ProviderDouble) -> None:
    """With rotation off the answer has no refresh_token and the old one keeps working."""
    provider.behaviour.rotate_refresh_tokens = False
    old = code_tokens(provider)["refresh_token"]
    first = refresh(provider, old).json()
    assert "refresh_token" not in first
    assert refresh(provider, old).status_code == 200


def test_rt01_refresh_scope_must_be_a_subset(provider: ProviderDouble) -> None:
    """A narrower scope is granted and echoed; a wider one is invalid_scope."""
    token = code_tokens(provider)["refresh_token"]
    wider = refresh(provider, token, scope="read admin")
    narrower = refresh(provider, token, scope="read")
    assert wider.json()["error"] == "invalid_scope"
    assert narrower.json()["scope"] == "read"


def test_r02_strict_reuse_revokes_the_whole_grant() -> None:
    """Presenting a rotated refresh token revokes the grant: the new refresh token and the
    access token stop working too."""
    with ProviderDouble(ProviderBehaviour(reuse_revokes_grant=True)) as double:
        old = code_tokens(double)["refresh_token"]
        new = refresh(double, old).json()
        reuse = refresh(double, old)
        after = refresh(double, new["refresh_token"])
        resource = me(double, new["access_token"])
    assert reuse.json()["error"] == after.json()["error"] == "invalid_grant"
    assert resource.status_code == 401


def test_r07_grace_window_accepts_the_previous_token_for_a_while() -> None:
    """Within refresh_grace_seconds the superseded token still refreshes; after it, not."""
    clock = FakeClock()
    with ProviderDouble(ProviderBehaviour(refresh_grace_seconds=30), clock=clock) as double:
        old = code_tokens(double)["refresh_token"]
        refresh(double, old)
        clock.advance(29)
        within = refresh(double, old)
        clock.advance(2)
        after = refresh(double, old)
    assert within.status_code == 200
    assert after.json()["error"] == "invalid_grant"


def test_r13_idle_refresh_tokens_expire_and_used_ones_do_not() -> None:
    """With idle expiry a refresh token used within the window lives on; one left idle dies."""
    clock = FakeClock()
    behaviour = ProviderBehaviour(idle_refresh_expiry_seconds=100, rotate_refresh_tokens=False)
    with ProviderDouble(behaviour, clock=clock) as double:
        token = code_tokens(double)["refresh_token"]
        clock.advance(90)
        kept_alive = refresh(double, token)
        clock.advance(101)
        idle = refresh(double, token)
    assert kept_alive.status_code == 200
    assert idle.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(("status", "retry_after"), [(500, None), (503, "2"), (429, "7")])
def test_r06_canned_status_failures_with_retry_after(
    provider: ProviderDouble, status: int, retry_after: str | None
) -> None:
    """A queued status failure answers once, with Retry-After when given, without rotating."""
    token = code_tokens(provider)["refresh_token"]
    provider.fail_next(Failure.http(status, retry_after=retry_after))
    failed = refresh(provider, token)
    succeeded = refresh(provider, token)
    assert failed.status_code == status
    assert failed.headers.get("retry-after") == retry_after
    assert succeeded.status_code == 200
    assert provider.refresh_count == 1


def test_rt05_200_with_error_body_and_r05_canned_invalid_grant(provider: ProviderDouble) -> None:
    """Failure.oauth_error(status=200) sends a 200 whose body is an error; invalid_grant is 400."""
    token = code_tokens(provider)["refresh_token"]
    provider.fail_next(
        Failure.oauth_error("temporarily_unavailable", status=200), Failure.invalid_grant()
    )
    ok_error = refresh(provider, token)
    invalid = refresh(provider, token)
    assert (ok_error.status_code, ok_error.json()["error"]) == (200, "temporarily_unavailable")
    assert (invalid.status_code, invalid.json()["error"]) == (400, "invalid_grant")
    assert provider.refresh_count == 0


def test_r06_delay_makes_a_client_time_out(provider: ProviderDouble) -> None:
    """A delayed answer outlasts a shorter client read timeout."""
    token = code_tokens(provider)["refresh_token"]
    provider.fail_next(Failure.delay(0.6))
    form = {"grant_type": "refresh_token", "refresh_token": token}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{provider.url}/token", data=form, auth=basic(provider.client), timeout=0.2)


def test_r07_drop_after_rotate_loses_the_response_but_rotates(provider: ProviderDouble) -> None:
    """The client sees a transport error, yet the double rotated: the old token is superseded."""
    token = code_tokens(provider)["refresh_token"]
    provider.fail_next(Failure.drop_after_rotate())
    with pytest.raises(httpx.TransportError):
        refresh(provider, token)
    assert provider.refresh_count == 1
    assert refresh(provider, token).json()["error"] == "invalid_grant"


def test_t04_omitted_expires_in_and_the_token_still_expires() -> None:
    """omit_expires_in hides the lifetime, but the access token still expires at the resource."""
    clock = FakeClock()
    behaviour = ProviderBehaviour(omit_expires_in=True, token_lifetime_seconds=60)
    with ProviderDouble(behaviour, clock=clock) as double:
        tokens = code_tokens(double)
        fresh = me(double, tokens["access_token"])
        clock.advance(60)
        expired = me(double, tokens["access_token"])
    assert "expires_in" not in tokens
    assert fresh.json()["sub"] == "alice"
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]


def test_resource_bearer_checks(provider: ProviderDouble) -> None:
    """/api/me: no token → 401 without an error code; unknown token → invalid_token; good → 200."""
    tokens = code_tokens(provider)
    missing = httpx.get(f"{provider.url}/api/me")
    unknown = me(provider, "nope")
    good = me(provider, tokens["access_token"])
    assert missing.status_code == 401
    assert "error=" not in missing.headers["www-authenticate"]
    assert 'error="invalid_token"' in unknown.headers["www-authenticate"]
    assert good.json()["scope"] == "read write"


def test_v01_revoking_the_refresh_token_revokes_the_grant(provider: ProviderDouble) -> None:
    """Revoking a refresh token answers 200 and kills the grant's access token too."""
    tokens = code_tokens(provider)
    answer = revoke(provider, tokens["refresh_token"], "refresh_token")
    assert answer.status_code == 200
    assert me(provider, tokens["access_token"]).status_code == 401
    assert refresh(provider, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_v02_revoking_an_access_token_or_an_unknown_token(provider: ProviderDouble) -> None:
    """An access token is revoked alone; an unknown token still answers 200."""
    tokens = code_tokens(provider)
    assert revoke(provider, tokens["access_token"], "access_token").status_code == 200
    assert revoke(provider, "unknown", "access_token").status_code == 200
    assert me(provider, tokens["access_token"]).status_code == 401
    assert refresh(provider, tokens["refresh_token"]).status_code == 200


def test_v03_revocation_503_then_success(provider: ProviderDouble) -> None:
    """A failure queued for /revoke answers 503 with Retry-After, and the token stays valid."""
    tokens = code_tokens(provider)
    provider.fail_next(Failure.http(503, retry_after=1, path="/revoke"))
    busy = revoke(provider, tokens["access_token"], "access_token")
    assert (busy.status_code, busy.headers["retry-after"]) == (503, "1")
    assert me(provider, tokens["access_token"]).status_code == 200
    assert revoke(provider, tokens["access_token"], "access_token").status_code == 200


def test_concurrent_refreshes_of_one_token_rotate_exactly_once(provider: ProviderDouble) -> None:
    """Eight threads refreshing the same token at once: exactly one rotates, seven get
    invalid_grant."""
    token = code_tokens(provider)["refresh_token"]
    statuses: list[int] = []
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        statuses.append(refresh(provider, token).status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [400] * 7
    assert provider.refresh_count == 1


def test_provider_shuts_down_promptly() -> None:
    """Leaving the context stops the server and frees the port within a second."""
    started = time.monotonic()
    with ProviderDouble() as double:
        url = double.url
    assert time.monotonic() - started < 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/.well-known/oauth-authorization-server")


def test_issue_grants_gives_independent_refreshable_grants(provider: ProviderDouble) -> None:
    """The bulk helper (for benchmarks) issues grants a client can refresh like a code flow's;
    refreshing one leaves the others alone."""
    issued = provider.state.issue_grants(provider.client.client_id, 3, scope="read")
    assert len({answer["refresh_token"] for answer in issued}) == 3
    assert me(provider, issued[0]["access_token"]).status_code == 200
    assert refresh(provider, issued[0]["refresh_token"]).status_code == 200
    assert refresh(provider, issued[1]["refresh_token"]).status_code == 200
    assert provider.refresh_count == 2
    with pytest.raises(ValueError, match="unknown client"):
        provider.state.issue_grants("nobody", 1)
