"""Account connectors through HTTP, on SQLite and PostgreSQL: list, get, partial update, delete,
de-authenticate, masking, RevealPartnerAuthValue, tenant isolation and sealed credentials."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from ac_support import (
    APIKEY,
    APIKEY_AUTH,
    BASIC,
    CLIENT_CREDENTIALS_AUTH,
    CODE_AUTH,
    MASK,
    OAUTH,
    audit_actions,
    build_catalog,
    credential_row,
    installed,
    restricted_headers,
    rows,
    snapshot,
    with_test_catalog,
)
from fastapi.testclient import TestClient
from sqlalchemy import update

from tokenward.catalog.registry import Catalog
from tokenward.runtime import Runtime
from tokenward.store.tables import credentials

TOKENS = json.dumps(
    {
        "AccessToken": "canary-access-token",
        "RefreshToken": "canary-refresh-token",
        "Expires": "2031-01-01T00:00:00Z",
    }
)


@pytest.fixture
def runtime(runtime: Runtime) -> Runtime:
    """The shared runtime serving the test catalog."""
    return with_test_catalog(runtime)


@pytest.fixture
def other(client: TestClient, auth: dict[str, str]) -> dict[str, str]:
    """Headers of account-level calls on a second account."""
    client.post("/v1.0/accounts", json={"Id": "other", "Name": "Other"}, headers=auth)
    return {**auth, "X-Cyclr-Account": "other"}


def _url(ac_id: int | str, suffix: str = "") -> str:
    return f"/v1.0/account/connectors/{ac_id}{suffix}"


def _get(client: TestClient, headers: dict[str, str], ac_id: int) -> dict[str, Any]:
    response = client.get(_url(ac_id), headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _reveal(client: TestClient, auth: dict[str, str], on: bool) -> None:
    response = client.put(
        "/v1.0/partner/settings", json={"RevealPartnerAuthValue": on}, headers=auth
    )
    assert response.status_code == 200, response.text


def test_list_with_paging_headers_and_order(client: TestClient, acct: dict[str, str]) -> None:
    """The list pages (Total-Pages, Total-Records) and orders by Name or Id."""
    for name in ("b", "c", "a"):
        installed(client, acct, APIKEY, {"Name": name})
    response = client.get(
        "/v1.0/account/connectors?pageSize=2&page=1&orderBy=Name&sortOrderAsc=false",
        headers=acct,
    )
    assert response.status_code == 200
    assert response.headers["Total-Pages"] == "2"
    assert response.headers["Total-Records"] == "3"
    assert [item["Name"] for item in response.json()] == ["c", "b"]
    second = client.get("/v1.0/account/connectors?pageSize=2&page=2", headers=acct).json()
    assert [item["Name"] for item in second] == ["a"]


def test_list_shows_only_the_accounts_connectors(
    client: TestClient, acct: dict[str, str], other: dict[str, str]
) -> None:
    """Each account lists its own account connectors (K-03)."""
    installed(client, acct, APIKEY)
    installed(client, other, BASIC)
    names = [item["Name"] for item in client.get(_url(""), headers=other).json()]
    assert names == ["Test Basic"]


def test_get_equals_the_install_response(client: TestClient, acct: dict[str, str]) -> None:
    """GET returns the object install returned, properties included."""
    created = installed(
        client,
        acct,
        APIKEY,
        {"AuthValue": "k-1", "Properties": [{"Name": "Subdomain", "Value": "acme"}]},
    )
    assert _get(client, acct, created["Id"]) == created
    assert client.get(_url(created["Id"]), headers=acct).headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("PUT", "/deauthenticate"),
        ("GET", "/properties"),
        ("POST", "/properties"),
    ],
)
def test_k03_another_accounts_connector_is_404(
    client: TestClient,
    acct: dict[str, str],
    other: dict[str, str],
    runtime: Runtime,
    method: str,
    suffix: str,
) -> None:
    """Any call on another account's connector id answers 404 and changes nothing."""
    ac_id = installed(client, acct, APIKEY, {"AuthValue": "k"})["Id"]
    before = snapshot(runtime)
    response = client.request(
        method,
        _url(ac_id, suffix),
        headers=other,
        json={"AuthValue": "new", "Name": "Region", "Value": "x"},
    )
    assert response.status_code == 404
    assert response.json()["Code"] == "account_connector_not_found"
    assert snapshot(runtime) == before


@pytest.mark.parametrize(
    "ac_id", ["abc", "0", "-1", "99999999999999999999", "2147483648", "\uff11"]
)
def test_invalid_ids_are_404(client: TestClient, acct: dict[str, str], ac_id: str) -> None:
    """Ids that are not positive integers in range are unknown objects, never 400 or 5xx."""
    assert client.get(_url(ac_id), headers=acct).status_code == 404
    assert client.put(_url(ac_id), headers=acct, json={}).status_code == 404


def test_account_level_rules(
    client: TestClient,
    auth: dict[str, str],
    acct: dict[str, str],
    api_client: tuple[str, str],
) -> None:
    """No header → 401; unknown account → 404; token restricted to another account → 403."""
    ac_id = installed(client, acct, APIKEY)["Id"]
    missing = client.get(_url(ac_id), headers=auth)
    assert missing.status_code == 401
    assert missing.json()["Code"] == "account_header_missing"
    assert client.get(_url(""), headers=auth).status_code == 401
    unknown = client.get(_url(ac_id), headers={**auth, "X-Cyclr-Account": "nobody"})
    assert unknown.status_code == 404
    client.post("/v1.0/accounts", json={"Id": "other", "Name": "Other"}, headers=auth)
    restricted = restricted_headers(client, api_client, "other")
    forbidden = client.get(_url(ac_id), headers={**restricted, "X-Cyclr-Account": "acme"})
    assert forbidden.status_code == 403
    assert client.get(_url(ac_id), headers={"X-Cyclr-Account": "acme"}).status_code == 401


def test_put_auth_value_authenticates_and_bumps_the_version(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """PUT {"AuthValue"} stores a new credential version; Authenticated is recomputed."""
    ac_id = installed(client, acct, OAUTH)["Id"]
    response = client.put(_url(ac_id), json={"authvalue": TOKENS}, headers=acct)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Authenticated"] is True
    assert body["AuthState"] == "active"
    assert json.loads(body["AuthValue"])["AccessToken"] == MASK
    assert credential_row(runtime, ac_id).version == 1
    client.put(_url(ac_id), json={"AuthValue": "raw-access-token"}, headers=acct)
    row = credential_row(runtime, ac_id)
    assert row.version == 2
    assert json.loads(row.masked) == {"AccessToken": MASK}
    assert audit_actions(runtime).count("credential.write") == 2


def test_put_description_only_leaves_everything_else(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """PUT is partial: absent fields and the credential stay as they are."""
    created = installed(client, acct, OAUTH, {"Name": "Mine", "AuthValue": TOKENS})
    row = credential_row(runtime, created["Id"])
    response = client.put(_url(created["Id"]), json={"Description": "new"}, headers=acct)
    assert response.status_code == 200
    assert response.json() == {**created, "Description": "new"}
    assert credential_row(runtime, created["Id"]) == row


def test_put_name_and_duplicate_name(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """A new Name is applied; a Name taken in the account is Cyclr's 400 and changes nothing."""
    installed(client, acct, APIKEY, {"Name": "Taken"})
    ac_id = installed(client, acct, APIKEY, {"Name": "Mine"})["Id"]
    before = snapshot(runtime)
    response = client.put(_url(ac_id), json={"Name": "Taken"}, headers=acct)
    assert response.status_code == 400
    assert response.json() == {
        "Message": "Account connector name 'Taken' is in use.",
        "Code": "name_in_use",
    }
    assert snapshot(runtime) == before
    assert client.put(_url(ac_id), json={"Name": "Mine"}, headers=acct).status_code == 200
    renamed = client.put(_url(ac_id), json={"Name": "Renamed"}, headers=acct).json()
    assert renamed["Name"] == "Renamed"


@pytest.mark.parametrize(
    "value",
    [
        '{"AccessToken": "a", "Unknown": 1}',
        '{"AccessToken": ["a"]}',
        '{"RefreshToken": "r", "RefreshExpires": "2030-13-40"}',
        '{"AccessToken": "********", "RefreshToken": "********"}',
        "{}" + "x",
        "a" * (64 * 1024 + 1),
    ],
)
def test_put_invalid_auth_value_keeps_the_credential(
    client: TestClient, acct: dict[str, str], runtime: Runtime, value: str
) -> None:
    """A refused AuthValue leaves the stored credential row and the object exactly as they were."""
    created = installed(client, acct, OAUTH, {"AuthValue": TOKENS})
    before_row = credential_row(runtime, created["Id"])
    before = snapshot(runtime)
    response = client.put(
        _url(created["Id"]), json={"AuthValue": value, "Description": "changed"}, headers=acct
    )
    assert response.status_code == 400
    assert credential_row(runtime, created["Id"]) == before_row
    assert snapshot(runtime) == before
    assert _get(client, acct, created["Id"]) == created


def test_masked_value_copied_back_is_refused(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """The masked AuthValue read back cannot overwrite the real tokens (masked_value)."""
    created = installed(client, acct, OAUTH, {"AuthValue": TOKENS})
    before_row = credential_row(runtime, created["Id"])
    response = client.put(
        _url(created["Id"]), json={"AuthValue": created["AuthValue"]}, headers=acct
    )
    assert response.status_code == 400
    assert response.json()["Code"] == "masked_value"
    assert credential_row(runtime, created["Id"]) == before_row


def test_switching_authentication_method_drops_the_credential(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """A new AuthenticationId without an AuthValue drops the old method's credential."""
    created = installed(client, acct, OAUTH, {"AuthValue": TOKENS})
    body = client.put(
        _url(created["Id"]), json={"AuthenticationId": CLIENT_CREDENTIALS_AUTH}, headers=acct
    ).json()
    assert body["AuthenticationId"] == CLIENT_CREDENTIALS_AUTH
    assert body["Authenticated"] is False
    assert body["AuthValue"] is None
    assert credential_row(runtime, created["Id"]).secret_sealed is None
    again = client.put(
        _url(created["Id"]),
        json={"AuthenticationId": CODE_AUTH, "AuthValue": "raw-token"},
        headers=acct,
    ).json()
    assert (again["AuthenticationId"], again["Authenticated"]) == (CODE_AUTH, True)


def test_put_unknown_authentication_id_is_400(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """An AuthenticationId of another connector is refused; nothing changes."""
    created = installed(client, acct, OAUTH, {"AuthValue": TOKENS})
    before = snapshot(runtime)
    response = client.put(_url(created["Id"]), json={"AuthenticationId": APIKEY_AUTH}, headers=acct)
    assert response.status_code == 400
    assert response.json()["Code"] == "unknown_authentication"
    assert snapshot(runtime) == before


def test_put_properties_sets_by_name(client: TestClient, acct: dict[str, str]) -> None:
    """Properties in a PUT are set by name; others stay; errors change nothing."""
    created = installed(
        client,
        acct,
        APIKEY,
        {"Properties": [{"Name": "Subdomain", "Value": "a"}, {"Name": "Region", "Value": "eu"}]},
    )
    body = client.put(
        _url(created["Id"]),
        json={"Properties": [{"Name": "subdomain", "Value": "b"}]},
        headers=acct,
    ).json()
    assert {p["Name"]: p["Value"] for p in body["Properties"]} == {"Subdomain": "b", "Region": "eu"}
    bad = client.put(
        _url(created["Id"]),
        json={"Name": "Changed", "Properties": [{"Name": "Nope", "Value": "x"}]},
        headers=acct,
    )
    assert bad.status_code == 400
    assert bad.json()["Message"] == "There is not a connector property that matches name 'Nope'."
    assert _get(client, acct, created["Id"]) == body


def test_partner_flag_via_put(client: TestClient, acct: dict[str, str]) -> None:
    """IsPartnerIntegrationConnector can be set by PUT, as a string too."""
    ac_id = installed(client, acct, APIKEY)["Id"]
    body = client.put(
        _url(ac_id), json={"ispartnerintegrationconnector": "true"}, headers=acct
    ).json()
    assert body["IsPartnerIntegrationConnector"] is True


def test_deauthenticate(client: TestClient, acct: dict[str, str], runtime: Runtime) -> None:
    """De-authenticate answers Cyclr's message and drops the secret (audited)."""
    created = installed(client, acct, OAUTH, {"Name": "Access CRM", "AuthValue": TOKENS})
    response = client.put(_url(created["Id"], "/deauthenticate"), headers=acct)
    assert response.status_code == 200
    assert response.json() == {"Message": "Connector 'Access CRM' successfully de-authenticated."}
    body = _get(client, acct, created["Id"])
    assert (body["Authenticated"], body["AuthValue"], body["AuthState"]) == (
        False,
        None,
        "unauthenticated",
    )
    row = credential_row(runtime, created["Id"])
    assert (row.secret_sealed, row.masked, row.version) == (None, None, 2)
    assert "credential.deauthenticate" in audit_actions(runtime)


def test_delete(client: TestClient, acct: dict[str, str], runtime: Runtime) -> None:
    """DELETE answers 200 with a message; the object, its properties and credential are gone."""
    created = installed(
        client,
        acct,
        APIKEY,
        {"AuthValue": "k", "Properties": [{"Name": "Region", "Value": "eu"}]},
    )
    response = client.delete(_url(created["Id"]), headers=acct)
    assert response.status_code == 200
    assert response.json() == {"Message": "Connector 'Test ApiKey' successfully deleted."}
    assert client.get(_url(created["Id"]), headers=acct).status_code == 404
    assert client.delete(_url(created["Id"]), headers=acct).status_code == 404
    state = snapshot(runtime)
    assert state["credentials"] == state["properties"] == state["account_connectors"] == []


def test_s01_plaintext_tokens_are_not_in_the_database(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """No column of the credentials table holds a token's text (S-01, K-04)."""
    installed(client, acct, OAUTH, {"AuthValue": TOKENS})
    installed(client, acct, APIKEY, {"AuthValue": "canary-api-key"})
    dump = repr(rows(runtime, credentials))
    for canary in ("canary-access-token", "canary-refresh-token", "canary-api-key"):
        assert canary not in dump


def test_reveal_partner_auth_value_on_and_off(
    client: TestClient, auth: dict[str, str], acct: dict[str, str], runtime: Runtime
) -> None:
    """RevealPartnerAuthValue unmasks reads of partner integration connectors only, each read
    audited; write responses stay masked."""
    partner = installed(
        client, acct, OAUTH, {"AuthValue": TOKENS, "IsPartnerIntegrationConnector": True}
    )
    plain = installed(client, acct, APIKEY, {"AuthValue": "canary-api-key"})
    assert json.loads(partner["AuthValue"])["AccessToken"] == MASK
    _reveal(client, auth, True)
    revealed = json.loads(_get(client, acct, partner["Id"])["AuthValue"])
    assert revealed["AccessToken"] == "canary-access-token"
    assert revealed["RefreshToken"] == "canary-refresh-token"
    assert _get(client, acct, plain["Id"])["AuthValue"] == MASK
    listed = {i["Id"]: i["AuthValue"] for i in client.get(_url(""), headers=acct).json()}
    assert "canary-access-token" in listed[partner["Id"]]
    assert audit_actions(runtime).count("credential.reveal") == 2
    written = client.put(_url(partner["Id"]), json={"Description": "d"}, headers=acct).json()
    assert json.loads(written["AuthValue"])["AccessToken"] == MASK
    _reveal(client, auth, False)
    assert json.loads(_get(client, acct, partner["Id"])["AuthValue"])["AccessToken"] == MASK
    assert audit_actions(runtime).count("credential.reveal") == 2


def _transplant(runtime: Runtime, source: int, target: int) -> None:
    """Copy one account connector's sealed secret into another's row (an attacker with SQL)."""
    sealed = credential_row(runtime, source).secret_sealed
    with runtime.engine.begin() as conn:
        conn.execute(
            update(credentials)
            .where(credentials.c.account_connector_id == target)
            .values(secret_sealed=sealed)
        )


def test_s03_transplanted_ciphertext_is_never_served(
    client: TestClient, auth: dict[str, str], acct: dict[str, str], runtime: Runtime
) -> None:
    """A ciphertext moved to another row does not open: reads say credential_corrupted and a
    reveal answers 409; the secret is never served (S-03, K-03)."""
    victim = installed(client, acct, OAUTH, {"AuthValue": TOKENS})
    thief = installed(
        client,
        acct,
        OAUTH,
        {"AuthValue": "other-token", "IsPartnerIntegrationConnector": True},
    )
    _transplant(runtime, victim["Id"], thief["Id"])
    body = _get(client, acct, thief["Id"])
    assert body["Authenticated"] is False
    assert body["AuthValue"] is None
    assert body["AuthError"]["Code"] == "credential_corrupted"
    _reveal(client, auth, True)
    response = client.get(_url(thief["Id"]), headers=acct)
    assert response.status_code == 409
    assert response.json()["Code"] == "credential_corrupted"
    assert "canary" not in response.text
    listed = client.get(_url(""), headers=acct)
    assert listed.status_code == 200
    assert "canary" not in listed.text
    fixed = client.put(_url(thief["Id"]), json={"AuthValue": "fresh-token"}, headers=acct)
    assert fixed.status_code == 200
    assert fixed.json()["Authenticated"] is True


def test_connector_that_left_the_catalog(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """An account connector whose definition is gone still reads; credential writes are 409."""
    ac_id = installed(client, acct, APIKEY, {"AuthValue": "k"})["Id"]
    smaller = Catalog([c for c in build_catalog().all() if c.Id != APIKEY])
    runtime.ctx = dataclasses.replace(runtime.ctx, catalog=smaller)
    client.app.state.ctx = runtime.ctx  # type: ignore[attr-defined]
    body = _get(client, acct, ac_id)
    assert body["Connector"]["Id"] == APIKEY
    assert body["Connector"]["Name"] is None
    response = client.put(_url(ac_id), json={"AuthValue": "k2"}, headers=acct)
    assert response.status_code == 409
    assert response.json()["Code"] == "connector_missing"
    assert client.put(_url(ac_id), json={"Description": "d"}, headers=acct).status_code == 200


def test_refresh_of_a_connector_without_oauth_is_409_and_changes_nothing(
    client: TestClient, acct: dict[str, str], runtime: Runtime
) -> None:
    """``POST …/refresh`` on an API-key connector: 409 ``not_refreshable``, nothing changed."""
    ac_id = installed(client, acct, APIKEY, {"AuthValue": "k"})["Id"]
    before = snapshot(runtime)
    response = client.post(_url(ac_id, "/refresh"), headers=acct)
    assert response.status_code == 409
    assert response.json()["Code"] == "not_refreshable"
    assert snapshot(runtime) == before
