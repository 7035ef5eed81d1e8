"""The webflow for grants without a provider page (DESIGN.md §7 step 3): client credentials and
password tokens are fetched server-side and the flow completes at once — as Cyclr documents for
SugarCRM. On SQLite and PostgreSQL, against the provider double over a real socket."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from webflow_support import (
    CC,
    PARTNER,
    PASSWORD,
    credential,
    install,
    provider_double,
    query_of,
    script_values,
    signin_token,
    start,
    with_catalog,
)

from tokenward.runtime import Runtime
from tokenward.testing import Failure, ProviderDouble

provider = provider_double()


@pytest.fixture
def runtime(runtime: Runtime, provider: ProviderDouble) -> Runtime:
    return with_catalog(runtime, provider)


def test_client_credentials_complete_at_once_and_reauthenticate_in_place(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
) -> None:
    """No provider page: one client-credentials request (Basic, T-01), then a 303 to the
    completion (L-05: no token in the URL), whose page posts callbackMessage. A second run
    re-authenticates the same account connector."""
    ac_id = install(client, acct, CC)
    for version in (1, 2):
        token = signin_token(client, auth)
        started = start(client, ac_id, token)
        assert started.status_code == 303
        location = started.headers["location"]
        assert location.startswith("http://127.0.0.1:8000/connector/complete?flow=")
        assert token not in location
        assert "set-cookie" not in started.headers
        page = client.get(location)
        assert script_values(page.text) == ("connected!", PARTNER)
        assert (credential(runtime, ac_id).state, credential(runtime, ac_id).version) == (
            "active",
            version,
        )
    requests = provider.requests_to("/token")
    assert [r.form["grant_type"] for r in requests] == ["client_credentials"] * 2
    assert requests[0].form["scope"] == "read write"
    assert requests[0].headers["authorization"].startswith("Basic ")


def test_password_grant_uses_the_username_and_password_properties(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
) -> None:
    """A PasswordCredentials connector sends its Username/Password properties; in redirect
    mode the browser goes straight back to the partner with the result."""
    ac_id = install(client, acct, PASSWORD, {"Username": "alice", "Password": "wonderland"})
    started = start(client, ac_id, signin_token(client, auth), f"{PARTNER}/back", None)
    assert query_of(started.headers["location"]) == {
        "status": "success",
        "AccountConnectorId": str(ac_id),
    }
    (request,) = provider.requests_to("/token")
    assert (request.form["grant_type"], request.form["username"]) == ("password", "alice")
    assert credential(runtime, ac_id).state == "active"


def test_T06_refused_grant_completes_with_provider_error(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
) -> None:
    """A wrong password (invalid_grant): one request, the page told provider_error (or the
    errorCallbackMessage), nothing stored; the token is spent all the same."""
    ac_id = install(client, acct, PASSWORD, {"Username": "alice", "Password": "wrong"})
    token = signin_token(client, auth)
    started = start(client, ac_id, token, errorCallbackMessage="failed!")
    page = client.get(started.headers["location"])
    assert script_values(page.text) == ("failed!", PARTNER)
    assert len(provider.requests_to("/token")) == 1
    assert credential(runtime, ac_id) is None
    assert start(client, ac_id, token).status_code == 403


def test_T03_provider_outage_and_unusable_answers_fail_cleanly(
    runtime: Runtime,
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    provider: ProviderDouble,
) -> None:
    """A 503 and a ``token_type: mac`` answer both end as provider_error, nothing stored."""
    ac_id = install(client, acct, CC)
    provider.fail_next(Failure.http(503))
    first = client.get(start(client, ac_id, signin_token(client, auth)).headers["location"])
    provider.behaviour.token_type = "mac"
    second = client.get(start(client, ac_id, signin_token(client, auth)).headers["location"])
    for page in (first, second):
        assert json.loads(script_values(page.text)[0])["error"] == "provider_error"
    assert credential(runtime, ac_id) is None
