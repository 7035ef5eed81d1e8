"""CI quality gates on the built-in connector catalog (issue 4): every file validates on its own and
together, URLs are https, merge fields have patterns, Ids and GUIDs are unique and follow the
numbering scheme, the catalog is broad enough, and the generated docs page is current."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tokenward.catalog.checks import AUTH_URL_FIELDS, merge_field_patterns
from tokenward.catalog.docs import connector_list_markdown, is_generic
from tokenward.catalog.loader import BUILTIN_DIR, load_catalog, read_file, validate_definitions
from tokenward.catalog.schema import MERGE_FIELD, Connector
from tokenward.cli.main import app

DOCS = Path(__file__).resolve().parents[2] / "docs"
DOCS_PAGE = DOCS / "connectors-list.md"
FILES = sorted(BUILTIN_DIR.glob("*.yaml"))
MIN_REAL_CONNECTORS = 60
# The providers issue 4 names; each must be in the catalog under one of these names.
REQUIRED = [
    "Salesforce", "HubSpot", "Pipedrive", "Zoho CRM", "Dynamics CRM Online", "Microsoft Graph",
    "Microsoft Outlook", "Microsoft OneDrive", "Microsoft Teams", "Gmail", "Google Drive",
    "Google Calendar", "Google Sheets", "Slack", "Zoom", "Xero", "QuickBooks Online",
    "Sage Accounting", "FreshBooks", "Shopify", "BigCommerce", "WooCommerce", "Stripe", "Square",
    "PayPal", "MailChimp", "Klaviyo", "ActiveCampaign", "Marketo", "Intercom", "Zendesk",
    "Freshdesk", "Jira", "Confluence", "Trello", "Asana", "monday.com", "ClickUp", "Notion",
    "Airtable", "Dropbox", "Box", "GitHub", "GitLab", "Bitbucket", "LinkedIn", "Twitter",
    "DocuSign", "Typeform", "SurveyMonkey", "Calendly", "Eventbrite", "Twilio", "SendGrid",
    "Amazon Selling Partner", "Gong", "Outreach", "Salesloft", "Greenhouse", "BambooHR",
]  # fmt: skip


def catalog() -> list[Connector]:
    return load_catalog().all()


def by_file() -> Iterator[tuple[Path, Connector]]:
    for path in FILES:
        data, problems = read_file(path)
        assert not problems, problems
        [connector] = validate_definitions([(str(path), data)])
        yield path, connector


def auth_urls(connector: Connector) -> Iterator[tuple[str, str]]:
    """(location, value) of every URL in the definition except method EndPoints."""
    yield "BaseUrl", connector.BaseUrl
    if connector.DocumentationUrl:
        yield "DocumentationUrl", connector.DocumentationUrl
    for i, entry in enumerate(connector.Authentication):
        for name in AUTH_URL_FIELDS:
            value = getattr(entry, name, None)
            if value:
                yield f"Authentication[{i}].{name}", value
        for key, value in (getattr(entry, "HookSettings", None) or {}).items():
            if str(value).lower().startswith(("http:", "https:", "//")):
                yield f"Authentication[{i}].HookSettings.{key}", str(value)


def merge_fields(connector: Connector) -> Iterator[tuple[str, str, str | None]]:
    """(location, field, pattern) for every {{merge field}} of the definition."""
    patterns = merge_field_patterns(connector)
    for location, value in auth_urls(connector):
        for name in MERGE_FIELD.findall(value):
            yield location, name, patterns.get(name)
    for i, entry in enumerate(connector.Authentication):
        for scope in getattr(entry, "Scopes", []):
            for name in MERGE_FIELD.findall(scope):
                yield f"Authentication[{i}].Scopes", name, patterns.get(name)
    for i, method in enumerate(connector.Methods):
        method_patterns = merge_field_patterns(connector, method)
        for name in MERGE_FIELD.findall(method.EndPoint):
            yield f"Methods[{i}].EndPoint", name, method_patterns.get(name)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_file_validates_on_its_own(path: Path) -> None:
    """Each YAML file parses, binds to the schema and passes the per-connector checks alone."""
    data, problems = read_file(path)
    assert problems == []
    assert len(validate_definitions([(str(path), data)])) == 1


def test_the_whole_catalog_validates() -> None:
    """All files load together (cross-file uniqueness included), each file one connector."""
    connectors = catalog()
    assert len(connectors) == len(FILES)


def test_t07_every_url_is_https() -> None:
    """T-07: every endpoint, base URL, hook URL and documentation link is https, or starts with a
    merge field whose pattern admits only https URLs; absolute EndPoints are https too."""
    bad = []
    for connector in catalog():
        patterns = merge_field_patterns(connector)
        for location, value in auth_urls(connector):
            lead = MERGE_FIELD.match(value)
            if lead:
                pattern = patterns.get(lead.group(1)) or ""
                ok = value.startswith(lead.group(0)) and pattern.startswith("^https://")
            else:
                ok = value.startswith("https://")
            if not ok:
                bad.append(f"{connector.Name}: {location} {value}")
        for method in connector.Methods:
            relative = method.EndPoint.startswith(("/", "{{"))
            if not relative and not method.EndPoint.startswith("https://"):
                bad.append(f"{connector.Name}: {method.Name} {method.EndPoint}")
    assert bad == []


def test_every_merge_field_has_a_pattern() -> None:
    """Every {{merge field}} in URLs, scopes and EndPoints names a parameter with a Pattern."""
    missing = [
        f"{connector.Name}: {location} {{{{{name}}}}}"
        for connector in catalog()
        for location, name, pattern in merge_fields(connector)
        if not pattern
    ]
    assert missing == []


def test_guids_are_unique_version_4_uuids() -> None:
    """MethodUniqueIdentifiers and authentication Ids are distinct random (v4) GUIDs, written in
    the files in their canonical lower-case form."""
    guids: list[str] = []
    for path, connector in by_file():
        text = path.read_text(encoding="utf-8")
        found = [str(m.MethodUniqueIdentifier) for m in connector.Methods]
        found += [str(entry.Id) for entry in connector.Authentication]
        for guid in found:
            assert uuid.UUID(guid).version == 4, (path.name, guid)
            assert guid in text, (path.name, guid)  # canonical form in the file
        guids += found
    assert [g for g, n in Counter(guids).items() if n > 1] == []


def test_connector_ids_and_name_version_pairs_are_unique() -> None:
    """Connector Ids, Name+Version pairs (case-insensitive) and file names do not repeat."""
    connectors = catalog()
    ids = Counter(c.Id for c in connectors)
    pairs = Counter((c.Name.lower(), c.Version.lower()) for c in connectors)
    assert [i for i, n in ids.items() if n > 1] == []
    assert [p for p, n in pairs.items() if n > 1] == []


def test_ids_follow_the_numbering_scheme() -> None:
    """Connector n: parameters n*10000+k, methods n*100+k, method m's parameters m*100+k, all
    within the catalog's ranges (DESIGN.md §6 and docs/connectors.md, Ids)."""
    wrong = []
    for c in catalog():
        assert 1000 <= c.Id < 2000, c.Name
        wrong += [f"{c.Name} param {p.Id}" for p in c.Parameters if p.Id and p.Id // 10000 != c.Id]
        for m in c.Methods:
            if m.Id // 100 != c.Id:
                wrong.append(f"{c.Name} method {m.Id}")
            wrong += [
                f"{c.Name} {m.Name} param {p.Id}" for p in m.Parameters if p.Id // 100 != m.Id
            ]
    assert wrong == []


def test_catalog_has_at_least_60_real_connectors() -> None:
    """Besides the generic connectors there are at least 60, including every provider issue 4
    names."""
    real = [c for c in catalog() if not is_generic(c)]
    assert len(real) >= MIN_REAL_CONNECTORS
    names = {c.Name for c in real}
    assert [name for name in REQUIRED if name not in names] == []


def test_every_connector_is_documented_and_useful() -> None:
    """Each connector has a Description, Categories, at least one method, and its provider's
    DocumentationUrl, which the file also cites in its leading comment."""
    for path, connector in by_file():
        assert connector.Description, path.name
        assert connector.Categories, path.name
        assert connector.Methods, path.name
        assert connector.DocumentationUrl, path.name
        header = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                break
            header.append(line)
        assert re.search(r"https://\S+", "\n".join(header)), f"{path.name}: no URL in the header"
        cited = connector.DocumentationUrl.split("#")[0].split("?")[0].rstrip("/")
        assert cited in "\n".join(header), f"{path.name}: DocumentationUrl not cited"


def test_docs_connector_list_is_current() -> None:
    """docs/connectors-list.md is exactly what `tokenward catalog docs` generates from the
    catalog (run it after changing a connector)."""
    expected = connector_list_markdown(load_catalog())
    assert DOCS_PAGE.read_text(encoding="utf-8") == expected


def test_docs_command_writes_and_checks(tmp_path: Path) -> None:
    """`catalog docs -o FILE` writes the page; `--check` passes on it and fails (exit 1) on a
    stale copy, leaving the file as it was."""
    page = tmp_path / "list.md"
    runner = CliRunner()
    assert runner.invoke(app, ["catalog", "docs", "-o", str(page)]).exit_code == 0
    assert page.read_text(encoding="utf-8") == connector_list_markdown(load_catalog())
    assert runner.invoke(app, ["catalog", "docs", "-o", str(page), "--check"]).exit_code == 0
    page.write_text("stale\n", encoding="utf-8")
    stale = runner.invoke(app, ["catalog", "docs", "-o", str(page), "--check"])
    assert stale.exit_code == 1
    assert page.read_text(encoding="utf-8") == "stale\n"


def test_authoring_guide_example_is_a_valid_folder_connector() -> None:
    """The worked example of docs/authoring-connectors.md validates next to the built-in catalog
    (as a TOKENWARD_CATALOG_DIRS file would), and follows the Id scheme it teaches."""
    text = (DOCS / "authoring-connectors.md").read_text(encoding="utf-8")
    found = re.search(r"```yaml\n(.*?)```", text, re.DOTALL)
    assert found is not None
    data = yaml.safe_load(found.group(1))
    existing = [(str(c.Id), c) for c in catalog()]
    [example] = validate_definitions([("example", data)], existing=existing)
    assert 2000 <= example.Id < 100_000
    assert all(m.Id // 100 == example.Id for m in example.Methods)
