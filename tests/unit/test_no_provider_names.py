"""Providers are data (STYLE.md habit 4): no provider's name appears in code outside catalog/ —
services, the OAuth engine, the web layer, the store, the SDKs, the demo, the CLI. Behaviour a
provider needs is a knob in its YAML or a generically named hook in catalog/hooks.py."""

from __future__ import annotations

import re
from pathlib import Path

import tokenward

# every package but catalog/ (its YAML and hooks are where providers belong)
CORE = tuple(
    sorted(
        p.name
        for p in Path(tokenward.__file__).parent.iterdir()
        if p.is_dir() and p.name not in {"catalog", "__pycache__"}
    )
)
PROVIDERS = (
    "salesforce", "hubspot", "xero", "slack", "google", "microsoft", "azure", "atlassian",
    "jira", "confluence", "mailchimp", "docusign", "zoho", "quickbooks", "intuit", "shopify",
    "notion", "zendesk", "stripe", "linkedin", "facebook", "figma", "exact online", "fiserv",
    "tiktok", "walmart", "amazon", "pipedrive", "twitter", "sugarcrm", "github", "gitlab",
    "dropbox", "dynamics", "freshbooks", "bigcommerce", "woocommerce", "paypal", "klaviyo",
    "marketo", "intercom", "freshdesk", "trello", "asana", "clickup", "airtable", "bitbucket",
    "typeform", "surveymonkey", "calendly", "eventbrite", "twilio", "sendgrid", "gong",
    "outreach", "salesloft", "greenhouse", "bamboohr", "square", "monday.com", "zoom",
)  # fmt: skip
_WORD = re.compile(r"\b(" + "|".join(re.escape(name) for name in PROVIDERS) + r")\b", re.I)


def test_no_provider_names_in_core_code() -> None:
    """No file outside catalog/ names a provider (word match)."""
    root = Path(tokenward.__file__).parent
    paths = [p for folder in CORE for p in sorted((root / folder).rglob("*"))]
    paths += sorted(root.glob("*.py"))
    found = [
        f"{path.relative_to(root)}:{number}: {match.group(0)}"
        for path in paths
        if path.is_file() and path.suffix in {".py", ".html", ".js", ".css", ".txt"}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for match in [_WORD.search(line)]
        if match is not None
    ]
    assert found == []


def test_the_provider_name_check_finds_a_name() -> None:
    """The pattern does match a provider's name in a line, so the check above can fail."""
    assert _WORD.search("if provider == 'Xero':") is not None
    assert _WORD.search("an outreachable squared value") is None
