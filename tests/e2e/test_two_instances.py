"""R-15: two ``tokenward serve`` instances on one PostgreSQL database refresh each credential
exactly once (R-01), survive strict rotation under load (R-02), apply the lost-response rule
(R-07) and resume after one instance is killed mid-refresh (R-08)."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lifecycle import connector_definition
from oauth_calls import code_tokens
from serving import Server, bearer, clean_env, create_client, get_token, pg_schema_url, random_keys

from tokenward.domain.authvalue import format_utc
from tokenward.testing import Failure, ProviderBehaviour, ProviderDouble

pytestmark = pytest.mark.slow


class Pair:
    """Two instances on one database, an account with one connector installed at the double."""

    def __init__(self, tmp: Path, url: str, provider: ProviderDouble) -> None:
        env = clean_env(
            database_url=url,
            encryption_keys=random_keys(),
            allow_insecure_http="true",
            refresher_enabled="false",  # only on-demand refreshes race here
            provider_timeout_seconds="2",
        )
        self.servers: list[Server] = []
        self.provider = provider
        try:
            self._start(tmp, env)
        except BaseException:
            self.stop()  # never leave a started instance behind a failed set-up
            raise

    def _start(self, tmp: Path, env: dict[str, str]) -> None:
        self.servers.append(Server(tmp, env, "--migrate"))
        self.servers[0].wait_healthy()
        self.servers.append(Server(tmp, env))
        self.servers[1].wait_healthy()
        provider = self.provider
        client = create_client(self.servers[0], "r15")
        token = get_token(self.servers[0], client).json()["access_token"]
        self.auth = bearer(token)
        self.acct = {**self.auth, "X-Cyclr-Account": "acme"}
        base = self.servers[0].url
        made = httpx.post(
            f"{base}/v1.0/accounts", json={"Id": "acme", "Name": "Acme"}, headers=self.auth
        )
        assert made.status_code == 200, made.text
        connector = httpx.post(
            f"{base}/v1.0/connectors", json=connector_definition(provider), headers=self.auth
        ).json()["Id"]
        library = {
            "ClientId": provider.client.client_id,
            "ClientSecret": provider.client.client_secret,
        }
        httpx.put(f"{base}/v1.0/applicationconnectors/{connector}", json=library, headers=self.auth)
        installed = httpx.post(
            f"{base}/v1.0/connectors/{connector}/install", json={}, headers=self.acct
        )
        self.ac_id = int(installed.json()["Id"])

    def write_expired_tokens(self) -> dict[str, Any]:
        tokens = code_tokens(self.provider)
        value = {
            "AccessToken": tokens["access_token"],
            "RefreshToken": tokens["refresh_token"],
            "Expires": format_utc(datetime.now(UTC) - timedelta(minutes=1)),
        }
        url = f"{self.servers[0].url}/v1.0/account/connectors/{self.ac_id}"
        written = httpx.put(url, json={"AuthValue": json.dumps(value)}, headers=self.acct)
        assert written.status_code == 200, written.text
        return tokens

    def token(self, index: int, timeout: float = 30.0) -> httpx.Response:
        url = f"{self.servers[index].url}/v1.0/account/connectors/{self.ac_id}/token"
        return httpx.get(url, headers=self.acct, timeout=timeout)

    def state(self) -> dict[str, Any]:
        url = f"{self.servers[1].url}/v1.0/account/connectors/{self.ac_id}"
        found: dict[str, Any] = httpx.get(url, headers=self.acct).json()
        return found

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def behaviour() -> ProviderBehaviour:
    return ProviderBehaviour()


@pytest.fixture
def pair(tmp_path: Path, behaviour: ProviderBehaviour) -> Iterator[Pair]:
    with ProviderDouble(behaviour) as provider, pg_schema_url("tw_r15") as url:
        both = Pair(tmp_path, url, provider)
        try:
            yield both
        finally:
            both.stop()


def _concurrently(pair: Pair, count: int) -> list[httpx.Response]:
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def call(index: int) -> None:
        answer = pair.token(index % 2)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_r15_r01_two_instances_refresh_once(pair: Pair) -> None:
    pair.write_expired_tokens()
    pair.provider.fail_next(Failure.delay(0.5))
    answers = _concurrently(pair, 40)
    assert [a.status_code for a in answers] == [200] * 40
    assert len({a.json()["AccessToken"] for a in answers}) == 1
    assert pair.provider.refresh_count == 1


def test_r15_r02_strict_rotation_through_two_instances(
    pair: Pair, behaviour: ProviderBehaviour
) -> None:
    behaviour.reuse_revokes_grant = True
    behaviour.token_lifetime_seconds = 1  # inside the hard margin: every call refreshes
    pair.write_expired_tokens()
    for _ in range(10):
        answers = _concurrently(pair, 10)
        assert [a.status_code for a in answers] == [200] * 10
    assert pair.provider.refresh_count >= 10
    assert pair.state()["AuthState"] == "active"


@pytest.mark.parametrize(("grace", "ending"), [(60.0, "active"), (0.0, "needs_reauth")])
def test_r15_r07_lost_response_through_an_instance(
    pair: Pair, behaviour: ProviderBehaviour, grace: float, ending: str
) -> None:
    behaviour.refresh_grace_seconds = grace
    pair.write_expired_tokens()
    pair.provider.fail_next(Failure.drop_after_rotate())
    answer = pair.token(0)
    assert answer.status_code == (200 if ending == "active" else 409)
    assert pair.state()["AuthState"] == ending


def test_r15_r08_killed_instance_is_resumed_by_the_other(
    pair: Pair, behaviour: ProviderBehaviour
) -> None:
    behaviour.refresh_grace_seconds = 60.0
    tokens = pair.write_expired_tokens()
    pair.provider.fail_next(Failure.stall_after_rotate(3))

    def doomed_call() -> None:
        with contextlib.suppress(httpx.HTTPError):  # its instance is about to be killed
            pair.token(0, timeout=10)

    caller = threading.Thread(target=doomed_call, daemon=True)
    caller.start()
    deadline = time.monotonic() + 30
    while pair.provider.refresh_count < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    pair.servers[0].proc.send_signal(signal.SIGKILL)
    pair.servers[0].proc.wait(10)
    caller.join(15)
    # the lease (provider timeout 2 s x 3 attempts + pauses + margin) runs out, then the
    # other instance retries once with the same refresh token and the grace window takes it
    answer = pair.token(1, timeout=60)
    assert answer.status_code == 200, answer.text
    assert pair.state()["AuthState"] == "active"
    sent = [
        r.form["refresh_token"]
        for r in pair.provider.requests_to("/token")
        if r.form.get("grant_type") == "refresh_token"
    ]
    assert sent == [tokens["refresh_token"]] * 2
