"""Rules for the URLs of a connector definition and the merge fields inside them.

A URL may carry ``{{Name}}`` merge fields filled from account connector properties (or, in a
method's ``EndPoint``, from method parameters of ``TargetType: MergeField``). Because a property
value ends up inside a URL that receives credentials, every merge field must name a declared
parameter with a ``Pattern``, and that pattern must keep the URL on https and on its host:

* a URL must be https once merge fields are substituted (http only on a loopback host, and only
  when ``allow_insecure_http`` is set — development and tests, T-07);
* a URL that *starts* with a merge field (the Generic OAuth 2.0 connector's ``{{AuthoriseUrl}}``)
  needs a pattern that starts with ``^https://`` and rejects other schemes;
* a merge field inside the host part needs a pattern that rejects ``/ @ ? # \\``, so that a value
  can never move the request to another host (P-01).

Values are valid when ``re.fullmatch(Pattern, value)`` succeeds (:func:`pattern_allows`). The
probes below use ``re.search``, the most permissive reading, so a pattern that passes them is
safe whichever way it is applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from tokenward.catalog.schema import MERGE_FIELD

__all__ = ["LOOPBACK_HOSTS", "MergeFieldError", "check_url", "fill", "pattern_allows"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_SCHEME_PROBES = ("http://example.com", "javascript:alert(1)", "ftp://example.com", "//x")
_HOST_PROBES = ("a/b", "a@b", "a?b", "a#b", "a\\b")
_PATH_PROBES = ("//example.com", "https://example.com", "http://example.com")


def pattern_allows(pattern: str, value: str) -> bool:
    """Whether ``value`` is a valid value for a parameter with this ``Pattern``."""
    return re.fullmatch(pattern, value) is not None


def _matches_any(pattern: str, probes: tuple[str, ...]) -> bool:
    return any(re.search(pattern, probe) for probe in probes)


def _https_only(pattern: str) -> bool:
    return pattern.startswith("^https://") and not _matches_any(pattern, _SCHEME_PROBES)


def _path_only(pattern: str) -> bool:
    return (
        pattern.startswith("^/")
        and not pattern.startswith("^//")
        and not _matches_any(pattern, _PATH_PROBES)
    )


def _declared(text: str, patterns: Mapping[str, str | None]) -> list[str]:
    problems = []
    for name in MERGE_FIELD.findall(text):
        if name not in patterns:
            problems.append(f"merge field {{{{{name}}}}} is not a declared parameter")
        elif not patterns[name]:
            problems.append(f"merge field {{{{{name}}}}} needs a Pattern on its parameter")
    return problems


def _leading_field(text: str) -> str | None:
    found = MERGE_FIELD.match(text)
    return found.group(1) if found else None


def _authority_fields(text: str) -> list[str]:
    """Merge fields between ``scheme://`` and the first ``/``, ``?`` or ``#``."""
    _, sep, rest = text.partition("://")
    if not sep:
        return []
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return MERGE_FIELD.findall(authority)


def _scheme_problem(text: str, *, allow_insecure_http: bool) -> str | None:
    parts = urlsplit(MERGE_FIELD.sub("x", text))
    host = (parts.hostname or "").lower()
    if "@" in parts.netloc:
        return "must not contain user information (user@host)"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and allow_insecure_http and host in LOOPBACK_HOSTS:
        return None
    return "must be an absolute https URL"


def _leading_problem(name: str, pattern: str, *, endpoint: bool) -> str | None:
    if _https_only(pattern) or (endpoint and _path_only(pattern)):
        return None
    wanted = "an https URL (start it with ^https://)" + (
        " or a path (start it with ^/)" if endpoint else ""
    )
    return f"starts with {{{{{name}}}}}, so the Pattern of {name} must only allow {wanted}"


def check_url(
    text: str,
    patterns: Mapping[str, str | None],
    *,
    endpoint: bool = False,
    allow_insecure_http: bool = False,
) -> list[str]:
    """Every problem of one URL field; ``patterns`` maps merge-field names to their Pattern.

    ``endpoint`` allows a path relative to the connector's ``BaseUrl`` (a method's EndPoint).
    """
    text = text.strip()
    problems = _declared(text, patterns)
    if problems:
        return problems
    leading = _leading_field(text)
    if leading is not None:
        problem = _leading_problem(leading, patterns[leading] or "", endpoint=endpoint)
        return [problem] if problem else []
    if endpoint and text.startswith("/") and not text.startswith("//"):
        return []
    problems = [
        f"the Pattern of {name} lets {{{{{name}}}}} change the host "
        "(it accepts '/', '@', '?', '#' or '\\'); restrict it"
        for name in _authority_fields(text)
        if _matches_any(patterns[name] or "", _HOST_PROBES)
    ]
    scheme = _scheme_problem(text, allow_insecure_http=allow_insecure_http)
    return [scheme, *problems] if scheme else problems


class MergeFieldError(ValueError):
    """A merge field has no value, or its value does not match the parameter's ``Pattern``.
    ``name`` is the field; the message never contains the value."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem  # "missing" or "invalid"
        super().__init__(f"{name}: {problem}")


def fill(text: str, values: Mapping[str, str], patterns: Mapping[str, str | None]) -> str:
    """``text`` with every ``{{Name}}`` replaced by its value (names match case-insensitively).

    Each value must match its field's ``Pattern`` in full before it is used (no host injection,
    P-01); a field without a value, or whose value does not match, raises
    :class:`MergeFieldError`.
    """
    lowered_values = {k.lower(): v for k, v in values.items()}
    lowered_patterns = {k.lower(): v for k, v in patterns.items()}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        value = lowered_values.get(name.lower())
        if value is None or value == "":
            raise MergeFieldError(name, "missing")
        pattern = lowered_patterns.get(name.lower())
        if pattern is not None and not pattern_allows(pattern, value):
            raise MergeFieldError(name, "invalid")
        return value

    return MERGE_FIELD.sub(substitute, text)
