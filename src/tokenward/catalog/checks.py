"""Checks a schema cannot express: one connector's URLs, Ids and hooks; the whole set's uniqueness.

Each check returns ``(location, message)`` pairs instead of raising, so that the loader can list
every problem of every file at once (STYLE.md: a bad catalog is one start-up error naming each).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tokenward.catalog import hooks
from tokenward.catalog.schema import MERGE_FIELD, Connector, Method
from tokenward.catalog.urls import check_url

__all__ = [
    "CUSTOM_CONNECTOR_FIRST_ID",
    "CUSTOM_METHOD_FIRST_ID",
    "CUSTOM_PARAMETER_FIRST_ID",
    "Found",
    "check_connector",
    "check_set",
    "merge_field_patterns",
]

CUSTOM_CONNECTOR_FIRST_ID = 100_000
CUSTOM_METHOD_FIRST_ID = 10_000_000  # connector Id * 100 + n: the two ranges never meet
CUSTOM_PARAMETER_FIRST_ID = 1_000_000_000  # method Id * 100 + n

AUTH_URL_FIELDS = (
    "AuthoriseUrl",
    "AuthorizeUrl",
    "AccessTokenUrl",
    "RequestTokenUrl",
    "RefreshTokenUrl",
    "RevokeUrl",
    "Issuer",
)
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
_ICON = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/]+={0,2}$")
_ICON_MAX = 100_000

Found = tuple[str, str]  # (location, message)


def merge_field_patterns(
    connector: Connector, method: Method | None = None
) -> dict[str, str | None]:
    """What each merge field may refer to: connector parameters (by TargetName, else Name) and,
    for a method's EndPoint, its parameters of ``TargetType: MergeField``."""
    found: dict[str, str | None] = {p.property_name: p.Pattern for p in connector.Parameters}
    for param in method.Parameters if method else ():
        if param.TargetType == "MergeField":
            found[param.TargetName or param.Name] = param.Pattern
    return found


def _urls(connector: Connector, insecure: bool) -> Iterator[Found]:
    patterns = merge_field_patterns(connector)
    fields = [("BaseUrl", connector.BaseUrl)]
    for i, entry in enumerate(connector.Authentication):
        for name in AUTH_URL_FIELDS:
            value = getattr(entry, name, None)
            if value is not None:
                fields.append((f"Authentication[{i}].{name}", value))
    for location, value in fields:
        for message in check_url(value, patterns, allow_insecure_http=insecure):
            yield location, message
    for i, method in enumerate(connector.Methods):
        method_patterns = merge_field_patterns(connector, method)
        for message in check_url(
            method.EndPoint, method_patterns, endpoint=True, allow_insecure_http=insecure
        ):
            yield f"Methods[{i}].EndPoint", message


def _scopes(connector: Connector) -> Iterator[Found]:
    patterns = merge_field_patterns(connector)
    for i, entry in enumerate(connector.Authentication):
        for j, scope in enumerate(getattr(entry, "Scopes", ())):
            for name in MERGE_FIELD.findall(scope):
                if not patterns.get(name):
                    yield (
                        f"Authentication[{i}].Scopes[{j}]",
                        f"merge field {{{{{name}}}}} needs a declared parameter with a Pattern",
                    )


def _call_headers(connector: Connector) -> Iterator[Found]:
    """``CallHeaders``: header names are HTTP tokens, values carry no line break, and each merge
    field names a declared parameter with a Pattern (a value checked before it is sent)."""
    patterns = merge_field_patterns(connector)
    for name, value in connector.CallHeaders.items():
        location = f"CallHeaders.{name}"
        if not _HEADER_NAME.match(name):
            yield location, "is not a valid header name"
        if any(ch in value for ch in "\r\n\x00"):
            yield location, "a header value cannot hold a line break"
        for field in MERGE_FIELD.findall(value):
            if not patterns.get(field):
                yield (
                    location,
                    f"merge field {{{{{field}}}}} needs a declared parameter with a Pattern",
                )


def _ids(connector: Connector, custom: bool) -> Iterator[Found]:
    limits = (CUSTOM_CONNECTOR_FIRST_ID, CUSTOM_METHOD_FIRST_ID, CUSTOM_PARAMETER_FIRST_ID)
    kind = "custom connector" if custom else "catalog connector"
    rule = "at least" if custom else "below"

    def bad(value: int, limit: int) -> bool:
        return value < limit if custom else value >= limit

    if bad(connector.Id, limits[0]):
        yield "Id", f"a {kind} Id must be {rule} {limits[0]}"
    for i, method in enumerate(connector.Methods):
        if bad(method.Id, limits[1]):
            yield f"Methods[{i}].Id", f"a {kind}'s method Ids must be {rule} {limits[1]}"
    for location, param_id in _parameter_ids(connector):
        if bad(param_id, limits[2]):
            yield location, f"a {kind}'s parameter Ids must be {rule} {limits[2]}"


def _parameter_ids(connector: Connector) -> Iterator[tuple[str, int]]:
    for i, param in enumerate(connector.Parameters):
        if param.Id is not None:
            yield f"Parameters[{i}].Id", param.Id
    for i, method in enumerate(connector.Methods):
        for j, mparam in enumerate(method.Parameters):
            yield f"Methods[{i}].Parameters[{j}].Id", mparam.Id


def _auth_entries(connector: Connector) -> Iterator[Found]:
    for i, entry in enumerate(connector.Authentication):
        hook = getattr(entry, "Hook", None)
        if hook is not None and not hooks.has_hook(hook):
            known = ", ".join(hooks.hook_names()) or "none"
            yield f"Authentication[{i}].Hook", f"no hook named '{hook}' (known: {known})"
        if entry.AuthScheme is not None and not _HEADER_NAME.match(entry.AuthScheme):
            yield f"Authentication[{i}].AuthScheme", "must be an HTTP header name"
        yield from _kept_names(connector, i, entry)


def _kept_names(connector: Connector, i: int, entry: object) -> Iterator[Found]:
    """CallbackMetadata and TokenMetadata are kept as properties: each must be a declared,
    optional account connector property (it is unknown until the connect)."""
    declared = {
        name.lower(): param
        for param in connector.property_parameters()
        for name in (param.Name, param.property_name)
    }
    for knob in ("CallbackMetadata", "TokenMetadata"):
        for j, path in enumerate(getattr(entry, knob, None) or []):
            name = path.replace(".", "_").replace("-", "_")
            param = declared.get(name.lower())
            if param is None:
                yield (
                    f"Authentication[{i}].{knob}[{j}]",
                    f"'{name}' must be declared as an account connector property",
                )
            elif not param.IsOptional:
                yield (
                    f"Authentication[{i}].{knob}[{j}]",
                    f"the property '{name}' must be IsOptional (the connect sets it)",
                )


def _names(connector: Connector) -> Iterator[Found]:
    seen: set[str] = set()
    for i, param in enumerate(connector.Parameters):
        key = param.property_name.lower()
        if key in seen:
            yield f"Parameters[{i}]", f"property name '{param.property_name}' is used twice"
        seen.add(key)
    for i, method in enumerate(connector.Methods):
        names = [p.Name.lower() for p in method.Parameters]
        for j, name in enumerate(names):
            if name in names[:j]:
                yield f"Methods[{i}].Parameters[{j}]", f"parameter name '{name}' is used twice"


def _extras(connector: Connector, insecure: bool) -> Iterator[Found]:
    if connector.Icon is not None and (
        len(connector.Icon) > _ICON_MAX or not _ICON.match(connector.Icon)
    ):
        yield (
            "Icon",
            "must be a base64 data:image URI (png, jpeg, gif, webp, svg+xml) of at most "
            f"{_ICON_MAX} characters",
        )
    if connector.DocumentationUrl is not None:
        for message in check_url(connector.DocumentationUrl, {}, allow_insecure_http=insecure):
            yield "DocumentationUrl", message


def check_connector(
    connector: Connector, *, custom: bool = False, allow_insecure_http: bool = False
) -> list[Found]:
    """Every problem of one connector that its schema does not catch."""
    return [
        *_ids(connector, custom),
        *_urls(connector, allow_insecure_http),
        *_scopes(connector),
        *_call_headers(connector),
        *_auth_entries(connector),
        *_names(connector),
        *_extras(connector, allow_insecure_http),
    ]


@dataclass(frozen=True)
class _Seen:
    source: str
    location: str


def _keys(connector: Connector) -> Iterator[tuple[str, object, str]]:
    """(what, key, location) of everything that must be unique across the catalog."""
    yield "connector Id", connector.Id, "Id"
    name_version = (connector.Name.lower(), connector.Version.lower())
    yield "Name and Version", name_version, "Name"
    for i, method in enumerate(connector.Methods):
        yield "method Id", method.Id, f"Methods[{i}].Id"
        guid = str(method.MethodUniqueIdentifier).lower()
        yield "GUID", guid, f"Methods[{i}].MethodUniqueIdentifier"
    for location, param_id in _parameter_ids(connector):
        yield "parameter Id", param_id, location
    for i, entry in enumerate(connector.Authentication):
        yield "GUID", str(entry.Id).lower(), f"Authentication[{i}].Id"


def check_set(
    existing: Sequence[tuple[str, Connector]], new: Sequence[tuple[str, Connector]]
) -> list[tuple[str, str, str]]:
    """(source, location, message) for each key of ``new`` already used earlier in the set."""
    seen: dict[tuple[str, object], _Seen] = {}
    for source, connector in existing:
        for what, key, location in _keys(connector):
            seen.setdefault((what, key), _Seen(source, location))
    problems = []
    for source, connector in new:
        for what, key, location in _keys(connector):
            first = seen.setdefault((what, key), _Seen(source, location))
            if first != _Seen(source, location):
                where = "" if first.source == source else f" in {first.source}"
                message = f"{what} {_show(key)} is already used{where} at {first.location}"
                problems.append((source, location, message))
    return problems


def _show(key: object) -> str:
    if isinstance(key, tuple):
        return " ".join(f"'{part}'" for part in key)
    return f"'{key}'" if isinstance(key, str) else str(key)
