"""Account connector properties through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from ac_support import (
    APIKEY,
    MASK,
    audit_actions,
    installed,
    rows,
    snapshot,
    with_test_catalog,
)
from fastapi.testclient import TestClient
from sqlalchemy import update

from tokenward.crypto.fields import property_aad
from tokenward.runtime import Runtime
from tokenward.store.tables import properties


@pytest.fixture
def runtime(runtime: Runtime) -> Runtime:
    """The shared runtime serving the test catalog."""
    return with_test_catalog(runtime)


@pytest.fixture
def ac_id(client: TestClient, acct: dict[str, str]) -> int:
    """An installed ApiKey account connector in ``acme``."""
    return int(installed(client, acct, APIKEY)["Id"])


def _url(ac_id: int, suffix: str = "") -> str:
    return f"/v1.0/account/connectors/{ac_id}/properties{suffix}"


def _add(client: TestClient, acct: dict[str, str], ac_id: int, body: Any) -> dict[str, Any]:
    response = client.post(_url(ac_id), json=body, headers=acct)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_crud(client: TestClient, acct: dict[str, str], ac_id: int) -> None:
    """POST adds, GET reads one and all, PUT changes the value, DELETE removes it."""
    added = _add(client, acct, ac_id, {"Name": "Subdomain", "Value": "acme", "Id": 0})
    assert added == {
        "Name": "Subdomain",
        "Value": "acme",
        "Id": added["Id"],
        "AccountConnectorId": ac_id,
    }
    assert client.get(_url(ac_id, f"/{added['Id']}"), headers=acct).json() == added
    assert client.get(_url(ac_id), headers=acct).json() == [added]
    changed = client.put(
        _url(ac_id, f"/{added['Id']}"), json={"Name": "Subdomain", "Value": "beta"}, headers=acct
    )
    assert changed.status_code == 200
    assert changed.json()["Value"] == "beta"
    deleted = client.delete(_url(ac_id, f"/{added['Id']}"), headers=acct)
    assert deleted.status_code == 200
    assert deleted.json() == {"Message": "Property 'Subdomain' deleted."}
    assert client.get(_url(ac_id, f"/{added['Id']}"), headers=acct).status_code == 404
    assert client.delete(_url(ac_id, f"/{added['Id']}"), headers=acct).status_code == 404


def test_properties_show_on_the_account_connector(
    client: TestClient, acct: dict[str, str], ac_id: int
) -> None:
    """Properties written here appear in the account connector's Properties."""
    added = _add(client, acct, ac_id, {"name": "region", "value": "eu"})
    body = client.get(f"/v1.0/account/connectors/{ac_id}", headers=acct).json()
    assert body["Properties"] == [added]
    assert added["Name"] == "Region"


def test_list_orders_by_name_and_pages(
    client: TestClient, acct: dict[str, str], ac_id: int
) -> None:
    """``orderBy=Name`` orders the list; paging headers are sent."""
    for name in ("Subdomain", "Region", "ClientId"):
        _add(client, acct, ac_id, {"Name": name, "Value": "x"})
    response = client.get(_url(ac_id) + "?sortOrderAsc=true&orderBy=Name&pageSize=2", headers=acct)
    assert [p["Name"] for p in response.json()] == ["ClientId", "Region"]
    assert (response.headers["Total-Records"], response.headers["Total-Pages"]) == ("3", "2")


def test_post_existing_name_is_400(
    client: TestClient, acct: dict[str, str], ac_id: int, runtime: Runtime
) -> None:
    """POST adds; a name the account connector already has (any case) is a 400."""
    _add(client, acct, ac_id, {"Name": "Region", "Value": "eu"})
    before = snapshot(runtime)
    response = client.post(_url(ac_id), json={"Name": "REGION", "Value": "us"}, headers=acct)
    assert response.status_code == 400
    assert response.json()["Code"] == "property_exists"
    assert snapshot(runtime) == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Name": "Colour", "Value": "x"}, "There is not a connector property that matches name "
         "'Colour'."),
        ({"Name": "EndpointUrl", "Value": "x"}, "Connector property name 'EndpointUrl' is not an "
         "account connector property."),
        ({"Name": "Subdomain", "Value": "UPPER"}, "The value of property 'Subdomain' does not "
         "match its pattern ^[a-z0-9-]{1,63}$."),
        ({}, "Property Name is required."),
        ({"Name": "Region", "Value": "a\x01b"}, "The value of property 'Region' contains "
         "characters that are not allowed (control characters or invalid Unicode)."),
        ({"Name": "Region", "Value": "a\x00b"}, "The request body contains characters that are "
         "not allowed (NUL or invalid Unicode)."),
    ],
)  # fmt: skip
def test_post_errors_change_nothing(
    client: TestClient,
    acct: dict[str, str],
    ac_id: int,
    runtime: Runtime,
    body: dict[str, Any],
    message: str,
) -> None:
    """Unknown names, non-property parameters and pattern mismatches are 400 with Cyclr's text."""
    before = snapshot(runtime)
    response = client.post(_url(ac_id), json=body, headers=acct)
    assert response.status_code == 400
    assert response.json()["Message"] == message
    assert snapshot(runtime) == before


def test_sensitive_values_are_sealed_masked_and_audited(
    client: TestClient, acct: dict[str, str], ac_id: int, runtime: Runtime
) -> None:
    """IsSensitive properties and ClientSecret are sealed (bound to row and name) and masked."""
    secret = _add(client, acct, ac_id, {"Name": "ClientSecret", "Value": "canary-client-secret"})
    signing = _add(client, acct, ac_id, {"Name": "Signing Secret", "Value": "canary-signing"})
    assert secret["Value"] == signing["Value"] == MASK
    assert signing["Name"] == "SigningSecret"
    assert client.get(_url(ac_id, f"/{secret['Id']}"), headers=acct).json()["Value"] == MASK
    stored = {row.name: row for row in _rows(runtime)}
    assert "canary" not in repr(rows(runtime, properties))
    sealed = stored["ClientSecret"].value_sealed
    opened = runtime.ctx.sealer.open(sealed, property_aad(ac_id, "ClientSecret"))
    assert opened == "canary-client-secret"
    assert audit_actions(runtime).count("property.write") == 2


def _rows(runtime: Runtime) -> list[Any]:
    with runtime.engine.connect() as conn:
        return list(conn.execute(properties.select()))


def test_s03_sealed_property_moved_to_another_name_does_not_open(
    client: TestClient, acct: dict[str, str], ac_id: int, runtime: Runtime
) -> None:
    """A sealed value copied to another property row fails to open (S-03)."""
    from tokenward.errors import CredentialCorrupted

    _add(client, acct, ac_id, {"Name": "ClientSecret", "Value": "canary-client-secret"})
    sealed = {row.name: row for row in _rows(runtime)}["ClientSecret"].value_sealed
    with pytest.raises(CredentialCorrupted):
        runtime.ctx.sealer.open(sealed, property_aad(ac_id, "SigningSecret"))
    with pytest.raises(CredentialCorrupted):
        runtime.ctx.sealer.open(sealed, property_aad(ac_id + 1, "ClientSecret"))


def test_masked_value_cannot_overwrite_a_secret(
    client: TestClient, acct: dict[str, str], ac_id: int, runtime: Runtime
) -> None:
    """Writing the mask into a sensitive property is refused; the real value stays."""
    secret = _add(client, acct, ac_id, {"Name": "ClientSecret", "Value": "real"})
    before = snapshot(runtime)
    response = client.put(_url(ac_id, f"/{secret['Id']}"), json={"Value": MASK}, headers=acct)
    assert response.status_code == 400
    assert response.json()["Code"] == "masked_value"
    assert snapshot(runtime) == before


def test_put_without_value_changes_nothing_and_rename_is_400(
    client: TestClient, acct: dict[str, str], ac_id: int, runtime: Runtime
) -> None:
    """PUT without Value keeps the value; a different Name is refused."""
    added = _add(client, acct, ac_id, {"Name": "Region", "Value": "eu"})
    same = client.put(_url(ac_id, f"/{added['Id']}"), json={"Name": "region"}, headers=acct)
    assert same.json() == added
    before = snapshot(runtime)
    renamed = client.put(
        _url(ac_id, f"/{added['Id']}"), json={"Name": "Subdomain", "Value": "x"}, headers=acct
    )
    assert renamed.status_code == 400
    assert renamed.json()["Code"] == "property_rename"
    assert snapshot(runtime) == before


def test_put_null_clears_and_pattern_applies(
    client: TestClient, acct: dict[str, str], ac_id: int, runtime: Runtime
) -> None:
    """``"Value": null`` clears the value; a value against the pattern is refused."""
    added = _add(client, acct, ac_id, {"Name": "Subdomain", "Value": "acme"})
    before = snapshot(runtime)
    bad = client.put(_url(ac_id, f"/{added['Id']}"), json={"Value": "No!"}, headers=acct)
    assert bad.status_code == 400
    assert snapshot(runtime) == before
    cleared = client.put(_url(ac_id, f"/{added['Id']}"), json={"Value": None}, headers=acct)
    assert cleared.json()["Value"] is None


def test_k03_property_of_another_connector_or_account_is_404(
    client: TestClient, auth: dict[str, str], acct: dict[str, str], ac_id: int
) -> None:
    """A property id is found only under its own account connector and account."""
    added = _add(client, acct, ac_id, {"Name": "Region", "Value": "eu"})
    second = int(installed(client, acct, APIKEY)["Id"])
    assert client.get(_url(second, f"/{added['Id']}"), headers=acct).status_code == 404
    assert (
        client.put(_url(second, f"/{added['Id']}"), json={"Value": "x"}, headers=acct).status_code
        == 404
    )
    client.post("/v1.0/accounts", json={"Id": "other", "Name": "Other"}, headers=auth)
    other = {**auth, "X-Cyclr-Account": "other"}
    response = client.get(_url(ac_id, f"/{added['Id']}"), headers=other)
    assert response.status_code == 404
    assert client.get(_url(ac_id, "/abc"), headers=acct).status_code == 404
    assert client.get(_url(ac_id), headers=auth).status_code == 401


def test_unopenable_property_does_not_break_reads(
    client: TestClient, acct: dict[str, str], ac_id: int, runtime: Runtime
) -> None:
    """Reads never open sealed property values, so a corrupted one still lists (masked)."""
    _add(client, acct, ac_id, {"Name": "ClientSecret", "Value": "v"})
    with runtime.engine.begin() as conn:
        conn.execute(update(properties).values(value_sealed="tw1.nokey.AAAA"))
    assert client.get(_url(ac_id), headers=acct).json()[0]["Value"] == MASK
