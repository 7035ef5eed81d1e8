"""The catalog as a Markdown page: ``docs/connectors-list.md`` is generated, never hand-written.

:func:`connector_list_markdown` renders a :class:`~tokenward.catalog.registry.Catalog` as one
summary table and one section per connector (properties, authentication entries with their
scopes and hooks, methods, the provider's documentation). The output depends on the catalog
alone — no dates, no paths — so that ``tokenward catalog docs --check`` and the CI test can
compare the committed page with a fresh rendering byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from tokenward.catalog.registry import Catalog
from tokenward.catalog.schema import Connector, Parameter

__all__ = ["GENERATED_NOTICE", "connector_list_markdown", "is_generic"]

GENERATED_NOTICE = (
    "<!-- Generated from the connector catalog by `tokenward catalog docs`; do not edit. -->"
)

_AUTH_WORDS = {
    "OAuth2": "OAuth 2.0",
    "OAuth1": "OAuth 1.0a",
    "ApiKey": "API key",
    "Basic": "HTTP Basic",
    "None": "none",
}
_GRANT_WORDS = {
    "AuthorisationCode": "authorization code",
    "ClientCredentials": "client credentials",
    "PasswordCredentials": "password",
}


def is_generic(connector: Connector) -> bool:
    """The generic connectors (any OAuth 2.0 provider, any API key, any Basic API)."""
    return connector.Name.startswith("Generic ")


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (no pipes, no line breaks)."""
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else text


def _anchor(connector: Connector) -> str:
    """The id MkDocs (Python-Markdown's ``toc`` slugify) gives ``### {Name} ({Version})``:
    punctuation dropped, lower case, spaces and hyphens joined into one ``-``."""
    text = re.sub(r"[^\w\s-]", "", _heading(connector)).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _heading(connector: Connector) -> str:
    return f"{connector.Name} ({connector.Version})"


def _auth_kind(entry: object) -> str:
    kind = _AUTH_WORDS.get(str(getattr(entry, "AuthType", "")), "unknown")
    grant = _GRANT_WORDS.get(str(getattr(entry, "OAuth2Type", "")))
    return f"{kind} ({grant})" if kind == "OAuth 2.0" and grant else kind


def _summary_row(connector: Connector) -> str:
    auth = ", ".join(dict.fromkeys(_auth_kind(entry) for entry in connector.Authentication))
    docs = f"[docs]({connector.DocumentationUrl})" if connector.DocumentationUrl else ""
    cells = [
        str(connector.Id),
        f"[{_cell(connector.Name)}](#{_anchor(connector)})",
        _code(connector.Version),
        _cell(", ".join(connector.Categories)),
        _cell(auth),
        str(len(connector.Methods)),
        docs,
    ]
    return "| " + " | ".join(cells) + " |"


def _property_line(param: Parameter) -> str:
    need = "optional" if param.IsOptional else "required"
    extras = [need] + (["sensitive"] if param.IsSensitive else [])
    text = f"- `{param.property_name}` ({', '.join(extras)})"
    return text + (f": {' '.join(param.Description.split())}" if param.Description else "")


def _auth_lines(connector: Connector) -> Iterable[str]:
    for entry in connector.Authentication:
        line = f"- **{entry.AuthName}** — {_auth_kind(entry)}, `Id` `{entry.Id}`"
        scopes = [scope for scope in getattr(entry, "Scopes", []) if scope]
        if scopes:
            line += "; scopes " + " ".join(f"`{scope}`" for scope in scopes)
        hook = getattr(entry, "Hook", None)
        if hook:
            line += f"; hook `{hook}`"
        yield line


def _section(connector: Connector) -> list[str]:
    lines = [f"### {_heading(connector)}", "", f"Connector `Id` {connector.Id}."]
    if connector.Description:
        lines[-1] += " " + " ".join(connector.Description.split())
    if connector.DocumentationUrl:
        lines += ["", f"Provider documentation: <{connector.DocumentationUrl}>"]
    properties = connector.property_parameters()
    if properties:
        lines += ["", "Account connector properties:", ""]
        lines += [_property_line(param) for param in properties]
    lines += ["", "Authentication:", ""]
    lines += list(_auth_lines(connector))
    if connector.Methods:
        lines += ["", "Methods:", ""]
        lines += [
            f"- {method.Id} **{method.Name}** — `{method.HttpMethod} {method.EndPoint}`"
            for method in connector.Methods
        ]
    return [*lines, ""]


def connector_list_markdown(catalog: Catalog) -> str:
    """The whole ``docs/connectors-list.md`` page for ``catalog``."""
    connectors = catalog.all()  # in Id order
    real = [c for c in connectors if not is_generic(c)]
    methods = sum(len(c.Methods) for c in connectors)
    lines = [
        GENERATED_NOTICE,
        "",
        "# Connector list",
        "",
        f"The built-in catalog: {len(connectors)} connectors ({len(real)} besides the generic "
        f"ones) with {methods} methods. How connectors are written and checked: "
        "[Connectors](connectors.md) and [Authoring connectors](authoring-connectors.md).",
        "",
        "| Id | Name | Version | Categories | Authentication | Methods | Provider |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(_summary_row(c) for c in connectors),
        "",
        "## Connectors",
        "",
    ]
    for connector in connectors:
        lines += _section(connector)
    return "\n".join(lines).rstrip("\n") + "\n"
