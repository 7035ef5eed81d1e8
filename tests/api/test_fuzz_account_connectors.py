"""Generated JSON thrown at install, account connector PUT and property POST/PUT: never a 5xx,
and whenever the answer is a 4xx nothing stored has changed (no partial writes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ac_support import APIKEY, BASIC, MASK, OAUTH, installed, snapshot, with_test_catalog
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenward.runtime import Runtime

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REAL_KEYS = [
    "Name",
    "name",
    "Description",
    "AuthenticationId",
    "AuthValue",
    "authvalue",
    "Properties",
    "Value",
    "Id",
    "IsPartnerIntegrationConnector",
    "AccessToken",
    "RefreshToken",
    "Expires",
    "Subdomain",
    "ClientSecret",
]
REAL_TEXT = [
    "Subdomain",
    "Region",
    "SigningSecret",
    "ClientId",
    "ClientSecret",
    "EndpointUrl",
    MASK,
    "{}",
    "true",
    "false",
    "acme",
    "dXNlcjpwYXNz",
    '{"AccessToken":"a","Expires":"2031-01-01T00:00:00Z"}',
    '{"RefreshToken":"r","Unknown":1}',
    "0b7d4e4a-1c4f-4c39-9f0e-7a1f0f3e0004",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(REAL_TEXT)
)
keys = st.sampled_from(REAL_KEYS) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=20,
)
properties = st.lists(
    st.fixed_dictionaries(
        {"Name": st.sampled_from(REAL_TEXT) | st.text(max_size=10)},
        optional={"Value": scalars, "Id": scalars},
    ),
    max_size=4,
)
bodies = (
    json_values
    | st.fixed_dictionaries(
        {},
        optional={
            "Name": scalars,
            "Description": scalars,
            "AuthenticationId": scalars,
            "AuthValue": scalars | json_values.map(json.dumps),
            "Properties": properties | json_values,
            "IsPartnerIntegrationConnector": scalars,
        },
    )
    | st.fixed_dictionaries({"Value": scalars}, optional={"Name": scalars, "Id": scalars})
)


@pytest.fixture
def runtime(runtime: Runtime) -> Runtime:
    """The shared runtime serving the test catalog."""
    return with_test_catalog(runtime)


@pytest.fixture
def targets(client: TestClient, acct: dict[str, str]) -> dict[str, int]:
    """An authenticated account connector with a property, to update."""
    created = installed(
        client,
        acct,
        OAUTH,
        {
            "AuthValue": '{"AccessToken":"a","RefreshToken":"r"}',
            "Properties": [{"Name": "Subdomain", "Value": "acme"}],
        },
    )
    return {"ac": created["Id"], "prop": created["Properties"][0]["Id"]}


def _check(runtime: Runtime, before: dict[str, Any], status: int, text: str) -> None:
    assert status < 500, text
    if status >= 400:
        assert snapshot(runtime) == before, text


def _send(client: TestClient, method: str, url: str, acct: dict[str, str], body: Any) -> Any:
    return client.request(
        method,
        url,
        content=json.dumps(body),
        headers={**acct, "Content-Type": "application/json"},
    )


@FUZZ
@given(body=bodies, ref=st.sampled_from([APIKEY, BASIC, OAUTH, "Test OAuth", "x"]))
def test_fuzz_install(
    client: TestClient, acct: dict[str, str], runtime: Runtime, body: Any, ref: Any
) -> None:
    """Install never answers 5xx; a refused install stores nothing."""
    before = snapshot(runtime)
    response = _send(client, "POST", f"/v1.0/connectors/{ref}/install", acct, body)
    _check(runtime, before, response.status_code, response.text)


@FUZZ
@given(body=bodies)
def test_fuzz_update_account_connector(
    client: TestClient,
    acct: dict[str, str],
    runtime: Runtime,
    targets: dict[str, int],
    body: Any,
) -> None:
    """A partial PUT never answers 5xx; a refused one changes nothing."""
    before = snapshot(runtime)
    response = _send(client, "PUT", f"/v1.0/account/connectors/{targets['ac']}", acct, body)
    _check(runtime, before, response.status_code, response.text)


@FUZZ
@given(body=bodies, method=st.sampled_from(["POST", "PUT"]))
def test_fuzz_properties(
    client: TestClient,
    acct: dict[str, str],
    runtime: Runtime,
    targets: dict[str, int],
    body: Any,
    method: str,
) -> None:
    """Property POST and PUT never answer 5xx; refused ones change nothing."""
    url = f"/v1.0/account/connectors/{targets['ac']}/properties"
    if method == "PUT":
        url += f"/{targets['prop']}"
    before = snapshot(runtime)
    response = _send(client, method, url, acct, body)
    _check(runtime, before, response.status_code, response.text)
