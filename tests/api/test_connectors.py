"""The connector catalog and custom connectors through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from ac_support import restricted_headers
from fastapi.testclient import TestClient
from sqlalchemy import select

from tokenward.catalog.loader import load_catalog
from tokenward.clock import FakeClock
from tokenward.runtime import Runtime
from tokenward.store.tables import audit_log, custom_connectors

BUILTIN = len(load_catalog())  # the shipped catalog (tests/unit/test_catalog_quality.py)
CONNECTOR_KEYS = {
    "Id",
    "Name",
    "Version",
    "Description",
    "Icon",
    "Status",
    "AuthType",
    "OAuth2Type",
    "AuthScheme",
    "AuthDescription",
    "Categories",
    "IsSystemConnector",
    "Parameters",
    "Authentication",
}
METHOD_KEYS = {
    "Id",
    "Name",
    "Description",
    "MethodUniqueIdentifier",
    "Category",
    "MethodType",
    "HttpMethod",
    "EndPoint",
    "ConnectorId",
    "Parameters",
}
GOOGLE_DRIVE = 1030
GET_ABOUT = 103001
GET_ABOUT_GUID = "d702da11-660a-4477-9499-59df76812248"


def custom_definition(**changes: Any) -> dict[str, Any]:
    """A partner's custom connector, without any Id (tokenward assigns them)."""
    data: dict[str, Any] = {
        "Name": "Acme CRM",
        "Version": "2",
        "Description": "Our in-house CRM",
        "Categories": ["CRM"],
        "BaseUrl": "https://{{Subdomain}}.acme-crm.example/api",
        "Parameters": [{"Name": "Subdomain", "Pattern": "^[a-z0-9-]{1,63}$"}],
        "Authentication": [
            {"AuthName": "API key", "AuthType": "ApiKey", "AuthScheme": "X-Acme-Key"}
        ],
        "Methods": [
            {"Name": "Get Me", "Category": "Users", "EndPoint": "/me"},
            {
                "Name": "Get Deal",
                "Category": "Deals",
                "EndPoint": "/deals/{{DealId}}",
                "Parameters": [
                    {"Name": "DealId", "TargetType": "MergeField", "Pattern": "^[0-9]{1,12}$"}
                ],
            },
        ],
    }
    data.update(changes)
    return data


def create_custom(client: TestClient, auth: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = client.post("/v1.0/connectors", json=custom_definition(**changes), headers=auth)
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def stored_definitions(runtime: Runtime) -> list[tuple[Any, ...]]:
    with runtime.engine.connect() as conn:
        query = select(custom_connectors).order_by(custom_connectors.c.id)
        return [tuple(row) for row in conn.execute(query)]


def test_list_connectors_has_cyclrs_item_shape(client: TestClient, auth: dict[str, str]) -> None:
    """GET /v1.0/connectors lists the catalog in Cyclr's item shape, with paging headers."""
    response = client.get("/v1.0/connectors?pageSize=1000", headers=auth)
    assert response.status_code == 200
    assert response.headers["Total-Records"] == str(BUILTIN)
    assert response.headers["Total-Pages"] == "1"
    items = response.json()
    assert len(items) == BUILTIN
    for item in items:
        assert set(item) == CONNECTOR_KEYS
        assert item["Icon"].startswith("data:image/")
        assert item["IsSystemConnector"] is True
        assert item["Authentication"]
    basic = next(i for i in items if i["Name"] == "Generic Basic")
    assert basic["AuthType"] == "Basic"
    assert basic["OAuth2Type"] == "Unknown"
    drive = next(i for i in items if i["Id"] == GOOGLE_DRIVE)
    assert drive["OAuth2Type"] == "AuthorisationCode"
    assert set(drive["Authentication"][0]) == {
        "Id",
        "AuthName",
        "AuthDescription",
        "AuthType",
        "OAuth2Type",
        "AuthScheme",
    }


def keys_of(value: Any) -> set[str]:
    """Every object key anywhere in a JSON value."""
    if isinstance(value, dict):
        return set(value).union(*(keys_of(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_of(v) for v in value))
    return set()


def test_catalog_items_expose_no_internal_knobs(client: TestClient, auth: dict[str, str]) -> None:
    """Token URLs, patterns, PKCE and other knobs are not part of the catalog item."""
    keys = keys_of(client.get("/v1.0/connectors?pageSize=1000", headers=auth).json())
    knobs = {"AccessTokenUrl", "AuthoriseUrl", "Pattern", "Pkce", "ClientAuthMethod", "Hook"}
    assert not keys & knobs
    assert "BaseUrl" not in keys


def test_filters_and_paging(client: TestClient, auth: dict[str, str]) -> None:
    """query searches Name/Description, category filters, page/pageSize page with headers."""
    found = client.get("/v1.0/connectors?query=GOOGLE%20DRIVE", headers=auth).json()
    assert [c["Name"] for c in found] == ["Google Drive"]
    crm = client.get("/v1.0/connectors", params={"category": "crm"}, headers=auth).json()
    assert {"Salesforce", "HubSpot", "Pipedrive"} <= {c["Name"] for c in crm}
    assert all("CRM" in c["Categories"] for c in crm)
    pages = -(-BUILTIN // 3)
    page = client.get(f"/v1.0/connectors?pageSize=3&page={pages}", headers=auth)
    assert page.headers["Total-Pages"] == str(pages)
    assert page.headers["Total-Records"] == str(BUILTIN)
    assert len(page.json()) == BUILTIN - 3 * (pages - 1)
    by_name = client.get(
        "/v1.0/connectors?orderBy=Name&sortOrderAsc=false&pageSize=1000", headers=auth
    ).json()
    names = [c["Name"] for c in by_name]
    assert names == sorted(names, key=str.lower, reverse=True)  # case-insensitive
    assert client.get("/v1.0/connectors?query=nothing-like-this", headers=auth).json() == []


def test_bad_paging_is_400(client: TestClient, auth: dict[str, str]) -> None:
    """A page size that is not a number is a 400 with Message and Code."""
    response = client.get("/v1.0/connectors?pageSize=abc", headers=auth)
    assert response.status_code == 400
    assert response.json()["Code"] == "invalid_query"


def test_get_by_id_is_an_object(client: TestClient, auth: dict[str, str]) -> None:
    """GET /v1.0/connectors/{id} returns one object."""
    response = client.get(f"/v1.0/connectors/{GOOGLE_DRIVE}", headers=auth)
    assert response.status_code == 200
    assert response.json()["Name"] == "Google Drive"


@pytest.mark.parametrize("ref", ["999", "99999999999999999999999", "²"])
def test_unknown_id_is_404(client: TestClient, auth: dict[str, str], ref: str) -> None:
    """An unknown Id (also absurdly long or non-ASCII digits) is a 404 with Message and Code."""
    response = client.get(f"/v1.0/connectors/{ref}", headers=auth)
    assert response.status_code == 404
    assert response.json() == {
        "Message": f"Connector '{ref}' not found.",
        "Code": "connector_not_found",
    }


def test_get_by_name_and_version_are_arrays(client: TestClient, auth: dict[str, str]) -> None:
    """Names (with spaces, any case) and Name/Version return arrays; no match is a 404."""
    by_name = client.get("/v1.0/connectors/generic oauth 2.0", headers=auth)
    assert by_name.status_code == 200
    assert [c["Id"] for c in by_name.json()] == [1001]
    versioned = client.get("/v1.0/connectors/Xero/1.0", headers=auth)
    assert [c["Name"] for c in versioned.json()] == ["Xero"]
    for path in ("/v1.0/connectors/Nope", "/v1.0/connectors/Xero/9.9"):
        missing = client.get(path, headers=auth)
        assert missing.status_code == 404
        assert missing.json()["Code"] == "connector_not_found"


def test_methods_by_id_name_and_version(client: TestClient, auth: dict[str, str]) -> None:
    """/connectors/{id|name}/methods and /{name}/{version}/methods list the same methods."""
    by_id = client.get(f"/v1.0/connectors/{GOOGLE_DRIVE}/methods", headers=auth)
    assert by_id.status_code == 200
    assert by_id.headers["Total-Records"] == "3"
    by_name = client.get("/v1.0/connectors/Google Drive/methods", headers=auth).json()
    by_version = client.get("/v1.0/connectors/google drive/1.0/methods", headers=auth).json()
    assert by_id.json() == by_name == by_version
    about = by_id.json()[0]
    assert set(about) == METHOD_KEYS
    assert about["Id"] == GET_ABOUT
    assert about["MethodUniqueIdentifier"] == GET_ABOUT_GUID
    assert about["HttpMethod"] == "GET"
    assert about["Parameters"][0]["Name"] == "fields"


def test_methods_route_is_not_a_version(client: TestClient, auth: dict[str, str]) -> None:
    """/connectors/X/methods is X's methods, never connector X version "methods"."""
    response = client.get("/v1.0/connectors/Xero/methods", headers=auth)
    assert response.status_code == 200
    assert {m["Name"] for m in response.json()} >= {"List Connections", "Get Organisation"}


def test_method_filters(client: TestClient, auth: dict[str, str]) -> None:
    """Methods filter by text (Name/Description) and exact category."""
    base = f"/v1.0/connectors/{GOOGLE_DRIVE}/methods"
    files = client.get(f"{base}?category=files", headers=auth).json()
    assert [m["Name"] for m in files] == ["List Files", "Get File"]
    quota = client.get(f"{base}?query=quota", headers=auth).json()
    assert [m["Name"] for m in quota] == ["Get About"]


def test_methods_of_unknown_connector_is_404(client: TestClient, auth: dict[str, str]) -> None:
    """Methods of a connector that does not exist: 404."""
    for path in ("/v1.0/connectors/Nope/methods", "/v1.0/connectors/Xero/7/methods"):
        response = client.get(path, headers=auth)
        assert response.status_code == 404
        assert response.json()["Code"] == "connector_not_found"


def test_get_method_by_id_or_guid(client: TestClient, auth: dict[str, str]) -> None:
    """GET /v1.0/methods/{id} accepts the Id or the MethodUniqueIdentifier (any case)."""
    by_id = client.get(f"/v1.0/methods/{GET_ABOUT}", headers=auth)
    assert by_id.status_code == 200
    by_guid = client.get(f"/v1.0/methods/{GET_ABOUT_GUID.upper()}", headers=auth)
    assert by_id.json() == by_guid.json()
    assert by_id.json()["ConnectorId"] == GOOGLE_DRIVE
    missing = client.get("/v1.0/methods/42", headers=auth)
    assert missing.status_code == 404
    assert missing.json() == {"Message": "Method '42' not found.", "Code": "method_not_found"}


def test_catalog_needs_a_bearer(client: TestClient) -> None:
    """Reading the catalog still needs a bearer token."""
    assert client.get("/v1.0/connectors").status_code == 401


def test_account_header_is_ignored(client: TestClient, auth: dict[str, str]) -> None:
    """X-Cyclr-Account (even an unknown account) does not matter on catalog calls."""
    response = client.get("/v1.0/connectors", headers={**auth, "X-Cyclr-Account": "nobody"})
    assert response.status_code == 200


def test_restricted_token_reads_but_cannot_write(
    client: TestClient, api_client: tuple[str, str], account: str
) -> None:
    """An account-restricted token may read the catalog; custom connector writes are 403."""
    headers = restricted_headers(client, api_client, account)
    assert client.get("/v1.0/connectors", headers=headers).status_code == 200
    assert client.get(f"/v1.0/methods/{GET_ABOUT}", headers=headers).status_code == 200
    created = client.post("/v1.0/connectors", json=custom_definition(), headers=headers)
    assert created.status_code == 403
    assert created.json()["Code"] == "account_forbidden"


def test_create_custom_connector_assigns_ids(
    client: TestClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """A custom connector gets Id 100000 and Ids/GUIDs for its methods and parameters."""
    created = create_custom(client, auth)
    assert created["Id"] == 100_000
    methods = created["Methods"]
    assert [m["Id"] for m in methods] == [10_000_001, 10_000_002]
    assert methods[1]["Parameters"][0]["Id"] == 1_000_000_201
    assert created["Parameters"][0]["Id"] == 1_000_000_001
    uuid.UUID(methods[0]["MethodUniqueIdentifier"])
    uuid.UUID(created["Authentication"][0]["Id"])
    item = client.get("/v1.0/connectors/100000", headers=auth).json()
    assert item["IsSystemConnector"] is False
    assert item["AuthScheme"] == "X-Acme-Key"
    listed = client.get("/v1.0/connectors", headers=auth)
    assert listed.headers["Total-Records"] == str(BUILTIN + 1)
    without = client.get("/v1.0/connectors?includeCustomConnectors=false", headers=auth)
    assert without.headers["Total-Records"] == str(BUILTIN)
    method = client.get(f"/v1.0/methods/{methods[1]['MethodUniqueIdentifier']}", headers=auth)
    assert method.json()["EndPoint"] == "/deals/{{DealId}}"
    assert client.get("/v1.0/connectors/Acme CRM/2/methods", headers=auth).status_code == 200
    runtime.ctx.audit.flush()
    with runtime.engine.connect() as conn:
        actions = [row.action for row in conn.execute(select(audit_log))]
    assert "connector.create" in actions


def test_next_custom_connector_gets_the_next_id(client: TestClient, auth: dict[str, str]) -> None:
    """Custom connector Ids count up from 100000; given Ids in the body are ignored."""
    create_custom(client, auth)
    second = create_custom(client, auth, Name="Acme ERP", Id=5)
    assert second["Id"] == 100_001
    assert second["Methods"][0]["Id"] == 10_000_101


def test_custom_connector_binds_leniently(client: TestClient, auth: dict[str, str]) -> None:
    """Lower-case keys and a JSON5 body bind as elsewhere in the API."""
    body = (
        "{name: 'Lenient', version: '1', baseurl: 'https://api.lenient.example', "
        "authentication: [{authname: 'Basic', authtype: 'Basic'}],}"
    )
    response = client.post(
        "/v1.0/connectors", content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["Name"] == "Lenient"


def test_invalid_custom_connector_lists_every_problem(
    client: TestClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """Every problem is in the 400 Message at once, and nothing is stored."""
    bad = custom_definition(
        Name="Salesforce",
        Version="1.0",
        BaseUrl="http://{{Region}}.acme-crm.example",
        Colour="blue",
    )
    bad["Methods"][1]["Parameters"][0]["Pattern"] = None
    response = client.post("/v1.0/connectors", json=bad, headers=auth)
    assert response.status_code == 400
    body = response.json()
    assert body["Code"] == "invalid_connector"
    message = body["Message"]
    assert message.startswith("The connector definition is invalid: ")
    assert "Colour: Extra inputs are not permitted" in message
    # a second, schema-valid body shows the set and URL rules together
    bad.pop("Colour")
    message = client.post("/v1.0/connectors", json=bad, headers=auth).json()["Message"]
    assert "BaseUrl: merge field {{Region}} is not a declared parameter" in message
    assert "Methods[1].EndPoint: merge field {{DealId}} needs a Pattern" in message
    assert "Name and Version 'salesforce' '1.0' is already used in connector 1010" in message
    assert stored_definitions(runtime) == []
    listed = client.get("/v1.0/connectors", headers=auth)
    assert listed.headers["Total-Records"] == str(BUILTIN)


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "{not json"])
def test_custom_connector_body_must_be_an_object(
    client: TestClient, auth: dict[str, str], runtime: Runtime, body: str
) -> None:
    """A body that is not a JSON object is a 400; nothing is stored."""
    response = client.post(
        "/v1.0/connectors", content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert stored_definitions(runtime) == []


def test_custom_connector_method_ids_may_not_take_the_catalogs(
    client: TestClient, auth: dict[str, str]
) -> None:
    """Given method Ids must lie in the custom range, so they never meet catalog Ids."""
    bad = custom_definition()
    bad["Methods"][0]["Id"] = GET_ABOUT
    message = client.post("/v1.0/connectors", json=bad, headers=auth).json()["Message"]
    assert "Methods[0].Id: a custom connector's method Ids must be at least 10000000" in message
    assert f"method Id {GET_ABOUT} is already used in connector {GOOGLE_DRIVE}" in message


def test_update_custom_connector(client: TestClient, auth: dict[str, str]) -> None:
    """PUT replaces the definition; Ids given back are kept."""
    created = create_custom(client, auth)
    created["Description"] = "Renamed"
    response = client.put("/v1.0/connectors/100000", json=created, headers=auth)
    assert response.status_code == 200, response.text
    assert response.json() == created
    assert client.get("/v1.0/connectors/100000", headers=auth).json()["Description"] == "Renamed"


def test_bad_update_changes_nothing(
    client: TestClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """An invalid PUT is a 400 listing its problems; the stored definition is unchanged."""
    created = create_custom(client, auth)
    before = stored_definitions(runtime)
    broken = dict(created, BaseUrl="ftp://acme.example", Authentication=[])
    response = client.put("/v1.0/connectors/100000", json=broken, headers=auth)
    assert response.status_code == 400
    assert "Authentication: List should have at least 1 item" in response.json()["Message"]
    assert stored_definitions(runtime) == before
    reread = client.get("/v1.0/connectors/100000", headers=auth).json()
    assert reread["Description"] == created["Description"]


def test_catalog_connectors_cannot_be_changed(client: TestClient, auth: dict[str, str]) -> None:
    """PUT or DELETE of a catalog connector is a 400 saying why; unknown Ids are 404."""
    for response in (
        client.put("/v1.0/connectors/1010", json=custom_definition(), headers=auth),
        client.delete("/v1.0/connectors/1010", headers=auth),
    ):
        assert response.status_code == 400
        assert response.json() == {
            "Message": "Connector 1010 is a catalog connector; only custom connectors (Ids from "
            "100000) can be changed or deleted through the API.",
            "Code": "connector_not_custom",
        }
    assert client.get("/v1.0/connectors/1010", headers=auth).status_code == 200
    for path in ("/v1.0/connectors/100999", "/v1.0/connectors/Xero", "/v1.0/connectors/7"):
        assert client.delete(path, headers=auth).status_code == 404
        assert client.put(path, json=custom_definition(), headers=auth).status_code == 404


def test_delete_custom_connector(
    client: TestClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """DELETE removes a custom connector (and its library entry); then it is 404."""
    create_custom(client, auth)
    entry = {"ClientId": "abc", "ClientSecret": "s3cret"}
    client.put("/v1.0/applicationconnectors/100000", json=entry, headers=auth)
    response = client.delete("/v1.0/connectors/100000", headers=auth)
    assert response.status_code == 200
    assert response.json() == {"Message": "Connector 'Acme CRM' deleted."}
    assert client.get("/v1.0/connectors/100000", headers=auth).status_code == 404
    assert stored_definitions(runtime) == []
    recreated = create_custom(client, auth, Name="Other")
    assert recreated["Id"] == 100_000  # the Id is free again, without the old library entry
    library = client.get("/v1.0/applicationconnectors/100000", headers=auth).json()
    assert library["ClientId"] is None
    assert library["ClientSecret"] is None


def test_delete_refused_while_installed(
    client: TestClient, auth: dict[str, str], runtime: Runtime, account: str
) -> None:
    """A custom connector used by an account connector cannot be deleted (400, unchanged)."""
    create_custom(client, auth)
    with runtime.ctx.db.write() as tx:
        acct = tx.accounts.get(account)
        assert acct is not None
        tx.account_connectors.add(
            acct.pk, 100_000, None, "Acme", None, False, runtime.ctx.clock.now()
        )
    before = stored_definitions(runtime)
    response = client.delete("/v1.0/connectors/100000", headers=auth)
    assert response.status_code == 400
    assert response.json() == {
        "Message": "Connector 100000 is installed in 1 account connector(s); delete those first.",
        "Code": "connector_in_use",
    }
    assert stored_definitions(runtime) == before


def test_another_process_sees_changes(
    client: TestClient, auth: dict[str, str], runtime: Runtime, clock: FakeClock
) -> None:
    """A custom connector changed by another process (same database) is seen at once."""
    created = create_custom(client, auth)
    assert client.get("/v1.0/connectors/100000", headers=auth).json()["Description"]
    clock.advance(1)
    with runtime.ctx.db.write() as tx:  # as another process would: no cache of ours touched
        tx.custom_connectors.put(100_000, dict(created, Description="Elsewhere"), clock.now())
    reread = client.get("/v1.0/connectors/100000", headers=auth).json()
    assert reread["Description"] == "Elsewhere"


def test_stored_definition_that_no_longer_validates_is_left_out(
    client: TestClient, auth: dict[str, str], runtime: Runtime
) -> None:
    """A stored custom connector the schema now refuses is skipped, not a 500 for everyone."""
    with runtime.ctx.db.write() as tx:
        tx.custom_connectors.put(100_000, {"Name": "Broken"}, runtime.ctx.clock.now())
    listed = client.get("/v1.0/connectors", headers=auth)
    assert listed.status_code == 200
    assert listed.headers["Total-Records"] == str(BUILTIN)
    assert client.get("/v1.0/connectors/100000", headers=auth).status_code == 404
