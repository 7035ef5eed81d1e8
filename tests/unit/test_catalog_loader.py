"""The connector catalog loader: schema binding, per-connector rules, whole-set uniqueness."""

from __future__ import annotations

import copy
import os
import uuid
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from tokenward.catalog import hooks
from tokenward.catalog.loader import load_catalog, validate_definitions
from tokenward.catalog.urls import check_url, pattern_allows
from tokenward.errors import CatalogInvalid

HTTPS_URL = r"^https://[a-z0-9.-]+(/[a-z0-9/._-]*)?$"


def definition(connector_id: int = 5001, **changes: Any) -> dict[str, Any]:
    """A small valid definition; ``changes`` replace top-level fields."""
    block = connector_id * 100
    data: dict[str, Any] = {
        "Id": connector_id,
        "Name": f"Example {connector_id}",
        "Version": "1.0",
        "Description": "An example CRM",
        "Categories": ["CRM"],
        "BaseUrl": "https://{{Subdomain}}.example.com/api",
        "Parameters": [
            {"Id": connector_id * 10_000 + 1, "Name": "Subdomain", "Pattern": "^[a-z0-9-]{1,63}$"}
        ],
        "Authentication": [
            {
                "Id": str(uuid.uuid4()),
                "AuthName": "OAuth 2.0",
                "AuthType": "OAuth2",
                "AuthoriseUrl": "https://{{Subdomain}}.example.com/oauth/authorize",
                "AccessTokenUrl": "https://{{Subdomain}}.example.com/oauth/token",
                "Scopes": ["read"],
            }
        ],
        "Methods": [
            {
                "Id": block + 1,
                "Name": "Get Contact",
                "MethodUniqueIdentifier": str(uuid.uuid4()),
                "Category": "Contacts",
                "EndPoint": "/contacts/{{ContactId}}",
                "Parameters": [
                    {
                        "Id": (block + 1) * 100 + 1,
                        "Name": "ContactId",
                        "TargetType": "MergeField",
                        "Pattern": "^[0-9]{1,20}$",
                    }
                ],
            }
        ],
    }
    data.update(changes)
    return data


def problems_of(*definitions: dict[str, Any], **options: Any) -> list[str]:
    try:
        validate_definitions([(f"def{i}", d) for i, d in enumerate(definitions)], **options)
    except CatalogInvalid as exc:
        return exc.problems
    return []


def write(folder: Path, name: str, data: Any) -> Path:
    path = folder / name
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_catalog_validates() -> None:
    """The shipped catalog loads: every connector, with catalog Ids below 100000."""
    catalog = load_catalog()
    names = {c.Name for c in catalog.all()}
    assert {
        "Generic OAuth 2.0",
        "Generic API Key",
        "Generic Basic",
        "Salesforce",
        "HubSpot",
        "Google Drive",
        "Microsoft Graph",
        "Xero",
    } <= names
    assert all(c.Id < 100_000 and c.Methods for c in catalog.all())
    assert all(
        c.DocumentationUrl and c.DocumentationUrl.startswith("https://") for c in catalog.all()
    )


def test_builtin_endpoints_are_the_providers_documented_ones() -> None:
    """Provider endpoints and knobs are the documented ones (a regression here breaks connects)."""
    catalog = load_catalog()
    google = catalog.find("Google Drive")[0].default_auth
    assert google.AuthoriseUrl == "https://accounts.google.com/o/oauth2/v2/auth"
    assert google.AccessTokenUrl == "https://oauth2.googleapis.com/token"
    assert google.RevokeUrl == "https://oauth2.googleapis.com/revoke"
    assert google.AuthoriseParams == {"access_type": "offline", "prompt": "consent"}
    graph = catalog.find("Microsoft Graph")[0].default_auth
    assert graph.AccessTokenUrl.endswith("/common/oauth2/v2.0/token")
    assert "offline_access" in graph.Scopes
    xero = catalog.find("Xero")[0].default_auth
    assert xero.AccessTokenUrl == "https://identity.xero.com/connect/token"
    assert "offline_access" in xero.Scopes
    hubspot = catalog.find("HubSpot")[0].default_auth
    assert hubspot.AuthoriseUrl == "https://app.hubspot.com/oauth/authorize"
    assert hubspot.AccessTokenUrl == "https://api.hubapi.com/oauth/2026-03/token"
    salesforce = catalog.find("Salesforce")[0]
    assert salesforce.default_auth.AuthoriseUrl.startswith("https://login.salesforce.com/")


def test_generic_oauth2_urls_are_https_only_properties() -> None:
    """Generic OAuth 2.0 takes its URLs from properties whose patterns admit only https URLs."""
    generic = load_catalog().find("Generic OAuth 2.0")[0]
    patterns = {p.Name: p.Pattern or "" for p in generic.Parameters}
    assert pattern_allows(patterns["AuthoriseUrl"], "https://auth.example.com/oauth/authorize")
    assert pattern_allows(patterns["BaseUrl"], "https://api.example.com/v1")
    for bad in ("http://auth.example.com", "https://evil.com@x", "javascript:alert(1)", ""):
        assert not pattern_allows(patterns["AuthoriseUrl"], bad)
    assert generic.default_auth.AuthoriseUrl == "{{AuthoriseUrl}}"


def test_valid_definition_passes() -> None:
    """The test fixture itself is valid (so each test below changes exactly one thing)."""
    assert problems_of(definition()) == []


def test_broken_folder_lists_every_problem_at_once(tmp_path: Path) -> None:
    """A folder of broken files produces all of their problems in one CatalogInvalid."""
    write(tmp_path, "a_syntax.yaml", "Id: [\n")
    write(tmp_path, "b_not_mapping.yaml", "- just a list\n")
    write(tmp_path, "c_schema.yaml", definition(5003, Version=1.0, Colour="red"))
    write(tmp_path, "d_http.yaml", definition(5004, BaseUrl="http://api.example.com"))
    write(tmp_path, "e_dup.yaml", definition(5004, Name="Other"))
    write(tmp_path, "f_big_id.yaml", definition(100_001))
    write(tmp_path, "ignored.txt", "not yaml at all: [")
    with pytest.raises(CatalogInvalid) as caught:
        load_catalog([tmp_path], builtin=False)
    text = "\n".join(caught.value.problems)
    assert "a_syntax.yaml: line 2" in text
    assert "b_not_mapping.yaml: must be a mapping" in text
    assert "c_schema.yaml: Version: Input should be a valid string" in text
    assert "c_schema.yaml: Colour: Extra inputs are not permitted" in text
    assert "d_http.yaml: BaseUrl: must be an absolute https URL" in text
    assert "e_dup.yaml: Id: connector Id 5004 is already used in" in text
    assert "f_big_id.yaml: Id: a catalog connector Id must be below 100000" in text
    assert "ignored.txt" not in text
    assert len(caught.value.problems) >= 7


def test_missing_folder_is_a_problem(tmp_path: Path) -> None:
    """A CATALOG_DIRS entry that is not a folder is reported, not ignored."""
    with pytest.raises(CatalogInvalid) as caught:
        load_catalog([tmp_path / "nope"])
    assert caught.value.problems == [f"{tmp_path / 'nope'}: is not a folder"]


@pytest.mark.parametrize("second", ["Name", "name"])
def test_duplicate_yaml_keys_are_refused(tmp_path: Path, second: str) -> None:
    """A repeated key (also in another case, since keys bind case-insensitively) is an error."""
    write(tmp_path, "dup.yaml", f"Id: 5001\nName: A\n{second}: B\n")
    with pytest.raises(CatalogInvalid) as caught:
        load_catalog([tmp_path], builtin=False)
    assert "duplicate key" in caught.value.problems[0]


def test_json_keys_differing_in_case_are_refused() -> None:
    """In JSON definitions, `Name` and `name` together are refused rather than one winning."""
    data = definition()
    data["name"] = "Shadow"
    assert problems_of(data) == ["def0: name: duplicate key"]


def test_locations_point_into_the_file() -> None:
    """Schema problems name the place: list indexes and field names, no union tag."""
    data = definition()
    data["Methods"][0]["Parameters"][0]["Pattern"] = "(["
    del data["Authentication"][0]["AccessTokenUrl"]
    found = problems_of(data)
    assert any(p.startswith("def0: Methods[0].Parameters[0].Pattern: Value error") for p in found)
    assert "def0: Authentication[0].AccessTokenUrl: Field required" in found


@pytest.mark.parametrize(
    ("what", "mutate"),
    [
        ("connector Id", lambda a, b: b.update(Id=a["Id"])),
        ("Name and Version", lambda a, b: b.update(Name=a["Name"].upper())),
        ("method Id", lambda a, b: b["Methods"][0].update(Id=a["Methods"][0]["Id"])),
        (
            "parameter Id",
            lambda a, b: b["Methods"][0]["Parameters"][0].update(
                Id=a["Methods"][0]["Parameters"][0]["Id"]
            ),
        ),
        ("parameter Id", lambda a, b: b["Parameters"][0].update(Id=a["Parameters"][0]["Id"])),
        (
            "GUID",
            lambda a, b: b["Methods"][0].update(
                MethodUniqueIdentifier=a["Methods"][0]["MethodUniqueIdentifier"]
            ),
        ),
        ("GUID", lambda a, b: b["Authentication"][0].update(Id=a["Authentication"][0]["Id"])),
    ],
)
def test_uniqueness_across_the_catalog(what: str, mutate: Any) -> None:
    """Ids, Name+Version (case-insensitive) and GUIDs are unique across all connectors."""
    first, second = definition(5001), definition(5002)
    mutate(first, second)
    found = problems_of(first, second)
    assert len(found) == 1, found
    assert found[0].startswith("def1: ")
    assert f"{what} " in found[0]
    assert "is already used in def0" in found[0]


def test_duplicates_inside_one_definition() -> None:
    """Two methods of one connector may not share an Id."""
    data = definition()
    clone = copy.deepcopy(data["Methods"][0])
    clone["MethodUniqueIdentifier"] = str(uuid.uuid4())
    clone["Parameters"][0]["Id"] += 1
    data["Methods"].append(clone)
    assert problems_of(data) == [
        "def0: Methods[1].Id: method Id 500101 is already used at Methods[0].Id"
    ]


def test_existing_connectors_are_checked_but_not_reported() -> None:
    """Against ``existing`` only the new definitions' conflicts are reported."""
    [existing] = validate_definitions([("old", definition(5001))])
    clash = definition(5002, Name=existing.Name)
    with pytest.raises(CatalogInvalid) as caught:
        validate_definitions([("new", clash)], existing=[("old", existing)])
    assert caught.value.problems == [
        "new: Name: Name and Version 'example 5001' '1.0' is already used in old at Name"
    ]


def test_merge_field_must_be_a_declared_parameter() -> None:
    """A merge field naming no parameter is refused, in URLs and method endpoints alike."""
    data = definition(BaseUrl="https://{{Region}}.example.com")
    data["Methods"][0]["EndPoint"] = "/contacts/{{Other}}"
    assert problems_of(data) == [
        "def0: BaseUrl: merge field {{Region}} is not a declared parameter",
        "def0: Methods[0].EndPoint: merge field {{Other}} is not a declared parameter",
    ]


def test_merge_field_parameter_needs_a_pattern() -> None:
    """The parameter behind a merge field must carry a Pattern."""
    data = definition()
    del data["Parameters"][0]["Pattern"]
    found = problems_of(data)
    assert "def0: BaseUrl: merge field {{Subdomain}} needs a Pattern on its parameter" in found
    assert len(found) == 3  # BaseUrl, AuthoriseUrl, AccessTokenUrl


def test_endpoint_merge_fields_need_target_type_merge_field() -> None:
    """A method parameter fills an EndPoint merge field only with TargetType MergeField."""
    data = definition()
    data["Methods"][0]["Parameters"][0]["TargetType"] = "QueryString"
    assert problems_of(data) == [
        "def0: Methods[0].EndPoint: merge field {{ContactId}} is not a declared parameter"
    ]


def test_merge_field_matches_target_name() -> None:
    """A merge field refers to a parameter by its TargetName (the property name) when set."""
    data = definition(BaseUrl="https://{{sub}}.example.com")
    data["Parameters"][0]["TargetName"] = "sub"
    data["Authentication"][0]["AuthoriseUrl"] = "https://{{sub}}.example.com/a"
    data["Authentication"][0]["AccessTokenUrl"] = "https://{{sub}}.example.com/t"
    assert problems_of(data) == []


def test_scope_merge_fields_need_a_pattern() -> None:
    """Merge fields in Scopes are checked like those in URLs."""
    data = definition()
    data["Authentication"][0]["Scopes"] = ["{{Scopes}}"]
    assert problems_of(data) == [
        "def0: Authentication[0].Scopes[0]: merge field {{Scopes}} needs a declared parameter "
        "with a Pattern"
    ]


def test_call_headers_need_valid_names_and_patterned_merge_fields() -> None:
    """CallHeaders: a header name must be an HTTP token, a value holds no line break, and each
    merge field names a declared parameter with a Pattern; a well-formed one passes."""
    data = definition()
    data["Parameters"] += [{"Name": "Tenant", "Pattern": "^[a-z]{1,10}$"}, {"Name": "Loose"}]
    data["CallHeaders"] = {"X-Tenant": "{{Tenant}}"}
    assert problems_of(data) == []
    data["CallHeaders"] = {
        "Bad Header": "x",
        "X-Split": "a\r\nInjected: 1",
        "X-Loose": "{{Loose}}",
    }
    assert problems_of(data) == [
        "def0: CallHeaders.Bad Header: is not a valid header name",
        "def0: CallHeaders.X-Split: a header value cannot hold a line break",
        "def0: CallHeaders.X-Loose: merge field {{Loose}} needs a declared parameter with a "
        "Pattern",
    ]


def test_whole_url_merge_field_needs_an_https_only_pattern() -> None:
    """A URL that is a merge field needs a pattern that admits https URLs only."""
    data = definition()
    data["Parameters"].append({"Name": "TokenUrl", "Pattern": "^.+$"})
    data["Authentication"][0]["AccessTokenUrl"] = "{{TokenUrl}}"
    assert problems_of(data) == [
        "def0: Authentication[0].AccessTokenUrl: starts with {{TokenUrl}}, so the Pattern of "
        "TokenUrl must only allow an https URL (start it with ^https://)"
    ]
    for loose in ("^https://.*|.*", "^(https|http)://.*$"):
        data["Parameters"][1]["Pattern"] = loose
        assert len(problems_of(data)) == 1, loose
    data["Parameters"][1]["Pattern"] = HTTPS_URL
    assert problems_of(data) == []


def test_endpoint_may_start_with_a_path_merge_field() -> None:
    """A method EndPoint may be a path merge field whose pattern cannot leave the base host."""
    data = definition()
    method = data["Methods"][0]
    method["EndPoint"] = "{{ContactId}}"
    method["Parameters"][0]["Pattern"] = "^/[a-z0-9]+$"
    assert problems_of(data) == []
    method["Parameters"][0]["Pattern"] = "^/.*$"  # would admit //evil.example
    assert len(problems_of(data)) == 1


def test_host_merge_field_pattern_may_not_change_the_host() -> None:
    """A merge field in the host part needs a pattern refusing '/', '@', '?', '#', '\\'."""
    data = definition()
    data["Parameters"][0]["Pattern"] = "^.+$"
    found = problems_of(data)
    assert len(found) == 3
    assert "the Pattern of Subdomain lets {{Subdomain}} change the host" in found[0]


@pytest.mark.parametrize(
    ("url", "insecure", "ok"),
    [
        ("https://api.example.com", False, True),
        ("http://api.example.com", False, False),
        ("http://api.example.com", True, False),
        ("http://127.0.0.1:8080/api", False, False),
        ("http://127.0.0.1:8080/api", True, True),
        ("http://localhost/api", True, True),
        ("https://user@api.example.com", False, False),
        ("ftp://api.example.com", False, False),
        ("/relative", False, False),
        ("api.example.com", False, False),
    ],
)
def test_t07_urls_are_https(url: str, insecure: bool, ok: bool) -> None:
    """URLs are https; http only on loopback and only with ALLOW_INSECURE_HTTP (T-07)."""
    found = problems_of(definition(BaseUrl=url), allow_insecure_http=insecure)
    assert (found == []) is ok, found
    assert (check_url(url, {}, allow_insecure_http=insecure) == []) is ok


@pytest.mark.parametrize(
    ("endpoint", "ok"),
    [
        ("/me", True),
        ("https://other.example.com/v2/me", True),
        ("//evil.example/x", False),
        ("http://other.example.com/me", False),
        ("\\\\evil.example", False),
        ("me", False),
    ],
)
def test_p01_endpoints_stay_relative_or_https(endpoint: str, ok: bool) -> None:
    """A method EndPoint is a path under BaseUrl or an absolute https URL (P-01)."""
    data = definition()
    data["Methods"][0]["EndPoint"] = endpoint
    data["Methods"][0]["Parameters"] = []
    assert (problems_of(data) == []) is ok


def test_catalog_and_custom_id_ranges() -> None:
    """Catalog connectors are below 100000; custom connectors (and their methods) above."""
    assert problems_of(definition(100_000)) == [
        "def0: Id: a catalog connector Id must be below 100000",
        "def0: Methods[0].Id: a catalog connector's method Ids must be below 10000000",
        "def0: Parameters[0].Id: a catalog connector's parameter Ids must be below 1000000000",
        "def0: Methods[0].Parameters[0].Id: a catalog connector's parameter Ids must be below "
        "1000000000",
    ]
    custom = problems_of(definition(5001), custom=True)
    assert "def0: Id: a custom connector Id must be at least 100000" in custom
    assert problems_of(definition(100_001), custom=True) == []


def test_hooks_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Hook names a function in catalog/hooks.py; an unknown name is refused."""
    data = definition()
    data["Authentication"][0]["Hook"] = "xero_tenant"
    known = ", ".join(hooks.hook_names())
    assert problems_of(data) == [
        f"def0: Authentication[0].Hook: no hook named 'xero_tenant' (known: {known})"
    ]
    monkeypatch.setattr(hooks, "HOOKS", MappingProxyType({"xero_tenant": lambda: None}))
    assert problems_of(data) == []
    assert hooks.get_hook("xero_tenant") is hooks.HOOKS["xero_tenant"]
    with pytest.raises(hooks.UnknownHook):
        hooks.get_hook("other")


def test_auth_scheme_is_a_header_name() -> None:
    """AuthScheme becomes a header name, so it may not carry spaces or line breaks."""
    data = definition()
    data["Authentication"][0]["AuthScheme"] = "X-Key\r\nX-Evil: 1"
    assert problems_of(data) == ["def0: Authentication[0].AuthScheme: must be an HTTP header name"]


def test_property_names_are_unique() -> None:
    """Two parameters with one property name (case-insensitive) would be ambiguous."""
    data = definition()
    data["Parameters"].append({"Name": "subdomain", "Pattern": "^[a-z]+$"})
    assert problems_of(data) == ["def0: Parameters[1]: property name 'subdomain' is used twice"]


def test_icon_is_an_image_data_uri() -> None:
    """Icon is a base64 data:image URI, as Cyclr sends it."""
    assert problems_of(definition(Icon="data:image/png;base64,iVBORw0KGgo=")) == []
    found = problems_of(definition(Icon="https://example.com/logo.png"))
    assert found[0].startswith("def0: Icon: must be a base64 data:image URI")


def test_changed_file_is_loaded_again(tmp_path: Path) -> None:
    """The loader's memo follows file changes: an edit that breaks a file is caught."""
    path = write(tmp_path, "a.yaml", definition(5001))
    first = load_catalog([tmp_path], builtin=False)
    assert load_catalog([tmp_path], builtin=False) is first
    write(tmp_path, "a.yaml", definition(5001, BaseUrl="http://example.com"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    with pytest.raises(CatalogInvalid):
        load_catalog([tmp_path], builtin=False)


def test_search_by_query_and_category() -> None:
    """Catalog.search matches Name/Description text and categories, case-insensitively."""
    catalog = load_catalog()
    assert [c.Name for c in catalog.search("xero")] == ["Xero"]
    crm = catalog.search(category="crm")
    assert {"Salesforce", "HubSpot", "Pipedrive", "Zoho CRM"} <= {c.Name for c in crm}
    assert all("CRM" in c.Categories for c in crm)
    assert catalog.search("salesforce", "Accounting") == []
    assert len(catalog.search()) == len(catalog)


def test_documented_example_is_valid(tmp_path: Path) -> None:
    """The worked example in docs/connectors.md passes the loader as written."""
    docs = Path(__file__).parents[2] / "docs" / "connectors.md"
    text = docs.read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    write(tmp_path, "acme-crm.yaml", example)
    catalog = load_catalog([tmp_path])
    assert catalog.find("Acme CRM", "1.0")
