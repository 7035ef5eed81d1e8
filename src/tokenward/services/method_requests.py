"""A method call's request, built from the method definition and the partner's values (pure).

The body of ``POST /v1.0/account/connectors/{id}/methods/{method}`` is
``{"Parameters": {"<parameter Id or Name>": value}, "Fields": {"<Name>": value}}`` (keys bind
case-insensitively; other members are ignored, as everywhere in the API). Each parameter goes
where its ``TargetType`` says:

* ``MergeField``: fills ``{{TargetName}}`` in the ``EndPoint`` (with the account connector's
  properties), checked against the parameter's ``Pattern`` first (P-01);
* ``QueryString``: a query parameter (a list repeats it); ``Header``: a request header;
* ``Body``: a member of the body, beside the ``Fields`` (a parameter wins over a field of the
  same name); JSON or form as the method's ``DataType`` says (XML takes ``Fields`` as a string);
* ``Script``: accepted and not sent (Cyclr's script parameters have no place in a request).

A missing required parameter, an unknown one, or a value its ``Pattern`` or ``DataType``
refuses is a 400 naming the parameter (never its value); nothing is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from tokenward.catalog.schema import Connector, Method, MethodParameter
from tokenward.catalog.urls import MergeFieldError, fill, pattern_allows
from tokenward.errors import InvalidRequest, StateConflict
from tokenward.services.provider_setup import merge_patterns
from tokenward.services.upstream import Outbound

__all__ = ["MethodInput", "build_request", "call_headers", "parse_input"]

_INTEGER = re.compile(r"^-?[0-9]{1,19}$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BODYLESS = frozenset({"GET", "HEAD"})
_CONTENT_TYPES = {
    "Json": "application/json",
    "Form": "application/x-www-form-urlencoded",
    "Xml": "application/xml",
}


@dataclass(frozen=True)
class MethodInput:
    """What the partner sent: parameter values by Id or Name, and the body fields."""

    parameters: Mapping[str, Any] = field(default_factory=dict, repr=False)
    fields: dict[str, Any] | str | None = field(default=None, repr=False)


def _member(data: Mapping[str, Any], name: str) -> Any:
    return next((v for k, v in data.items() if str(k).lower() == name.lower()), None)


def parse_input(body: Any, query: Mapping[str, str] | None = None) -> MethodInput:
    """The call's values from its JSON body; a GET's query parameters count as Parameters."""
    data = {} if body is None else body
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", "invalid_body")
    parameters = _member(data, "Parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidRequest("Parameters must be a JSON object.", "invalid_field")
    fields = _member(data, "Fields")
    if fields is not None and not isinstance(fields, dict | str):
        raise InvalidRequest(
            "Fields must be a JSON object (or, for XML, a string).", "invalid_field"
        )
    return MethodInput({**(query or {}), **parameters}, fields)


def _lookup(method: Method) -> dict[str, MethodParameter]:
    keys: dict[str, MethodParameter] = {}
    for param in method.Parameters:
        keys[str(param.Id)] = param
        keys[param.Name.lower()] = param
        if param.TargetName:
            keys.setdefault(param.TargetName.lower(), param)
    return keys


def _bind(method: Method, supplied: Mapping[str, Any]) -> dict[int, Any]:
    """Parameter Id → value, defaults applied; 400 naming unknown or missing parameters."""
    keys = _lookup(method)
    values: dict[int, Any] = {}
    for key, value in supplied.items():
        param = keys.get(str(key).strip().lower())
        if param is None:
            raise InvalidRequest(
                f"Method '{method.Name}' has no parameter '{str(key)[:100]}'.", "unknown_parameter"
            )
        if param.Id in values:
            raise InvalidRequest(f"Parameter '{param.Name}' is given twice.", "invalid_parameter")
        values[param.Id] = value
    missing = []
    for param in method.Parameters:
        if values.get(param.Id) in (None, ""):
            values.pop(param.Id, None)
            if param.Default is not None:
                values[param.Id] = param.Default
            elif not param.IsOptional:
                missing.append(param.Name)
    if missing:
        names = ", ".join(f"'{name}'" for name in missing)
        raise InvalidRequest(f"Required parameter(s) {names} not given.", "missing_parameter")
    return values


def _text(param: MethodParameter, value: Any) -> str:
    """A scalar value as text, checked against the parameter's DataType and Pattern."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float | str):
        text = str(value)
    else:
        raise InvalidRequest(
            f"Parameter '{param.Name}' must be a single value.", "invalid_parameter"
        )
    kind = param.DataType.lower()
    wrong_type = (kind in {"integer", "int", "long"} and not _INTEGER.match(text)) or (
        kind in {"boolean", "bool"} and text.lower() not in {"true", "false"}
    )
    if wrong_type:
        raise InvalidRequest(
            f"Parameter '{param.Name}' must be of type {param.DataType}.", "invalid_parameter"
        )
    if param.Pattern is not None and not pattern_allows(param.Pattern, text):
        raise InvalidRequest(
            f"Parameter '{param.Name}' does not match its pattern.", "invalid_parameter"
        )
    return text


def _checked(param: MethodParameter, value: Any) -> Any:
    """A body member keeps its JSON type; a scalar is checked like any other value."""
    if not isinstance(value, dict | list):
        _text(param, value)
    return value


def _target(param: MethodParameter) -> str:
    return param.TargetName or param.Name


def _bound(
    method: Method, values: dict[int, Any], kind: str
) -> Iterator[tuple[MethodParameter, Any]]:
    for param in method.Parameters:
        if param.TargetType == kind and param.Id in values:
            yield param, values[param.Id]


def _url(
    connector: Connector,
    method: Method,
    base_url: str,
    properties: Mapping[str, str],
    values: dict[int, Any],
) -> str:
    merged = {_target(p): _text(p, v) for p, v in _bound(method, values, "MergeField")}
    patterns = merge_patterns(connector)
    patterns.update(
        {_target(p): p.Pattern for p in method.Parameters if p.TargetType == "MergeField"}
    )
    try:
        endpoint = fill(method.EndPoint.strip(), {**properties, **merged}, patterns)
    except MergeFieldError as exc:
        if any(_target(p).lower() == exc.name.lower() for p in method.Parameters):
            raise InvalidRequest(
                f"Parameter '{exc.name}' is {exc.problem} for the EndPoint.", "invalid_parameter"
            ) from None
        raise StateConflict(
            f"The account connector property '{exc.name}' is {exc.problem}.",
            "missing_properties" if exc.problem == "missing" else "invalid_property",
        ) from None
    if urlsplit(endpoint).scheme:
        url = endpoint
    else:
        url = base_url.rstrip("/") + ("" if endpoint.startswith("/") else "/") + endpoint
    return _with_query(url, _query(method, values))


def _query(method: Method, values: dict[int, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for param, value in _bound(method, values, "QueryString"):
        items = value if isinstance(value, list) else [value]
        pairs.extend((_target(param), _text(param, item)) for item in items)
    return pairs


def _with_query(url: str, pairs: list[tuple[str, str]]) -> str:
    if not pairs:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(pairs)) if q)
    return urlunsplit(parts._replace(query=query))


def _headers(method: Method, values: dict[int, Any]) -> dict[str, str]:
    headers = {"Accept": "application/json"} if method.DataType == "Json" else {}
    for param, value in _bound(method, values, "Header"):
        text = _text(param, value)
        if _CONTROL.search(text):
            raise InvalidRequest(
                f"Parameter '{param.Name}' cannot be sent in a header.", "invalid_parameter"
            )
        headers = {k: v for k, v in headers.items() if k.lower() != _target(param).lower()}
        headers[_target(param)] = text
    return headers


def _body(
    method: Method, values: dict[int, Any], fields: dict[str, Any] | str | None
) -> bytes | None:
    members = {_target(p): _checked(p, v) for p, v in _bound(method, values, "Body")}
    if fields is None and not members:
        return None
    if method.HttpMethod in _BODYLESS:
        raise InvalidRequest(
            f"Method '{method.Name}' is a {method.HttpMethod}: it takes no Fields or body "
            "parameters.",
            "invalid_field",
        )
    if isinstance(fields, str):
        if members:
            raise InvalidRequest(
                "Fields given as a string take no body parameters.", "invalid_field"
            )
        return fields.encode()
    document = {**(fields or {}), **members}
    if method.DataType == "Json":
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    if method.DataType == "Form":
        return _form(method, document).encode()
    raise InvalidRequest(
        f"Method '{method.Name}' sends XML: give Fields as a string holding the document.",
        "invalid_field",
    )


def _form(method: Method, document: dict[str, Any]) -> str:
    pairs: list[tuple[str, str]] = []
    for name, value in document.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict | list) or item is None:
                raise InvalidRequest(
                    f"Field '{name[:100]}' of form method '{method.Name}' must be a single value.",
                    "invalid_field",
                )
            pairs.append(
                (name, "true" if item is True else "false" if item is False else str(item))
            )
    return urlencode(pairs)


def call_headers(connector: Connector, properties: Mapping[str, str]) -> dict[str, str]:
    """The connector's ``CallHeaders`` filled from the account connector's properties, each
    value checked against its parameter's Pattern first (409 when it does not match). A header
    whose property is not set yet (one a connect or a hook fills) is left out."""
    patterns = merge_patterns(connector)
    headers = {}
    for name, template in connector.CallHeaders.items():
        try:
            headers[name] = fill(template, properties, patterns)
        except MergeFieldError as exc:
            if exc.problem == "missing":
                continue
            raise StateConflict(
                f"The account connector property '{exc.name}' is {exc.problem}.",
                "invalid_property",
            ) from None
    return headers


def build_request(
    connector: Connector,
    method: Method,
    *,
    base_url: str,
    properties: Mapping[str, str],
    call: MethodInput,
) -> Outbound:
    """The request ``call`` makes (without the credential); 400 naming a bad parameter, 409 for
    a missing account connector property."""
    scripts = {p.Id for p in method.Parameters if p.TargetType == "Script"}
    values = {k: v for k, v in _bind(method, call.parameters).items() if k not in scripts}
    url = _url(connector, method, base_url, properties, values)
    headers = {**call_headers(connector, properties)}
    for name, value in _headers(method, values).items():  # a method's own value wins
        headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
        headers[name] = value
    body = _body(method, values, call.fields)
    if body is not None:
        headers["Content-Type"] = _CONTENT_TYPES[method.DataType]
    return Outbound(method.HttpMethod, url, headers, body or b"")
