"""Loading and validating connector definitions, listing every problem at once.

The built-in catalog is every ``*.yaml`` in this package's ``connectors/`` folder; deployments
add folders with ``TOKENWARD_CATALOG_DIRS``. Each file is read (YAML, duplicate keys refused),
bound to :class:`~tokenward.catalog.schema.Connector`, checked on its own
(:func:`~tokenward.catalog.checks.check_connector`) and then as part of the whole set
(:func:`~tokenward.catalog.checks.check_set`). Nothing stops at the first problem: a bad catalog
raises one :class:`~tokenward.errors.CatalogInvalid` naming every file, location and reason, so
that one run of ``tokenward catalog validate`` shows everything to fix.

Custom connectors posted to the partner API go through :func:`validate_definitions` with
``custom=True`` and the current catalog as ``existing``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tokenward.catalog.checks import check_connector, check_set
from tokenward.catalog.registry import Catalog
from tokenward.catalog.schema import Connector
from tokenward.errors import CatalogInvalid

__all__ = [
    "BUILTIN_DIR",
    "Problem",
    "load_catalog",
    "parse_definition",
    "read_folder",
    "validate_definitions",
]

BUILTIN_DIR = Path(__file__).with_name("connectors")
_AUTH_TAGS = {"OAuth2", "OAuth1", "ApiKey", "Basic", "None"}


@dataclass(frozen=True)
class Problem:
    """One reason a definition is refused: where (file, location in it) and why."""

    source: str
    location: str
    message: str

    def __str__(self) -> str:
        return ": ".join(part for part in (self.source, self.location, self.message) if part)


_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available


class _StrictLoader(_SafeLoader):  # type: ignore[misc]
    """A safe loader that refuses duplicate keys (also differing only in case, since
    definitions bind case-insensitively): the second value would silently win."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[str] = set()
    for key_node, _ in node.value:
        key = str(loader.construct_object(key_node, deep=deep)).lower()
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key_node.value}'", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_file(path: Path) -> tuple[Any, list[Problem]]:
    """The parsed YAML of one file, or the problems that stopped it."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except OSError as exc:
        return None, [Problem(str(path), "", f"cannot be read: {exc.strerror or exc}")]
    except UnicodeDecodeError:
        return None, [Problem(str(path), "", "is not UTF-8 text")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        return None, [Problem(str(path), where, f"is not valid YAML: {reason}")]
    return data, []


def read_folder(folder: Path) -> tuple[list[tuple[str, Any]], list[Problem]]:
    """Every ``*.yaml`` file of ``folder`` as ``(path, data)``, in name order."""
    if not folder.is_dir():
        return [], [Problem(str(folder), "", "is not a folder")]
    found: list[tuple[str, Any]] = []
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.yaml")):
        data, errors = read_file(path)
        problems.extend(errors)
        if not errors:
            found.append((str(path), data))
    return found, problems


def _location(loc: Sequence[int | str]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i >= 2 and loc[i - 2] == "Authentication" and part in _AUTH_TAGS:
            continue  # the discriminated union's tag is not a place in the file
        else:
            out += f".{part}" if out else str(part)
    return out


def _case_duplicates(data: Any, where: str = "") -> list[str]:
    """Keys differing only in case (JSON bodies; YAML is checked while reading)."""
    found: list[str] = []
    if isinstance(data, dict):
        seen: set[str] = set()
        for key, value in data.items():
            if str(key).lower() in seen:
                found.append(f"{where}{key}")
            seen.add(str(key).lower())
            found.extend(_case_duplicates(value, f"{where}{key}."))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found.extend(_case_duplicates(item, f"{where.rstrip('.')}[{i}]."))
    return found


def parse_definition(source: str, data: Any) -> tuple[Connector | None, list[Problem]]:
    """Bind one definition to the schema; the problems when it does not fit."""
    if not isinstance(data, dict):
        return None, [Problem(source, "", "must be a mapping of connector fields")]
    duplicates = _case_duplicates(data)
    if duplicates:
        return None, [Problem(source, key, "duplicate key") for key in duplicates]
    try:
        return Connector.model_validate(data), []
    except ValidationError as exc:
        return None, [
            Problem(source, _location(err["loc"]), err["msg"])
            for err in exc.errors(include_input=False, include_url=False)
        ]


def validate_definitions(
    definitions: Sequence[tuple[str, Any]],
    *,
    existing: Iterable[tuple[str, Connector]] = (),
    custom: bool = False,
    allow_insecure_http: bool = False,
    problems: Sequence[Problem] = (),
) -> list[Connector]:
    """Parse and check ``(source, data)`` definitions against each other and ``existing``.

    Raises :class:`CatalogInvalid` listing every problem (plus any ``problems`` found earlier,
    such as unreadable files); otherwise returns the connectors in input order.
    """
    found = list(problems)
    parsed: list[tuple[str, Connector]] = []
    for source, data in definitions:
        connector, errors = parse_definition(source, data)
        found.extend(errors)
        if connector is not None:
            parsed.append((source, connector))
            found.extend(
                Problem(source, location, message)
                for location, message in check_connector(
                    connector, custom=custom, allow_insecure_http=allow_insecure_http
                )
            )
    found.extend(Problem(*item) for item in check_set(list(existing), parsed))
    if found:
        found.sort(key=lambda problem: problem.source)  # stable: each file's problems together
        raise CatalogInvalid([str(problem) for problem in found])
    return [connector for _, connector in parsed]


_memo: dict[tuple[object, ...], Catalog] = {}
_MEMO_SIZE = 16


def _fingerprint(folders: list[Path], allow_insecure_http: bool) -> tuple[object, ...] | None:
    """What a loaded catalog depends on: every file's path, size and modification time."""
    parts: list[object] = [allow_insecure_http]
    for folder in folders:
        if not folder.is_dir():
            return None
        for path in sorted(folder.glob("*.yaml")):
            stat = path.stat()
            parts.append((str(path), stat.st_size, stat.st_mtime_ns))
        parts.append(str(folder))
    return tuple(parts)


def _load(folders: list[Path], allow_insecure_http: bool) -> Catalog:
    definitions: list[tuple[str, Any]] = []
    problems: list[Problem] = []
    for folder in folders:
        found, errors = read_folder(folder)
        definitions.extend(found)
        problems.extend(errors)
    connectors = validate_definitions(
        definitions, allow_insecure_http=allow_insecure_http, problems=problems
    )
    return Catalog(connectors)


def load_catalog(
    extra_dirs: Iterable[Path] = (),
    *,
    builtin: bool = True,
    allow_insecure_http: bool = False,
) -> Catalog:
    """The catalog: the built-in connectors (unless ``builtin`` is false) plus ``extra_dirs``.

    A catalog is immutable, so an unchanged set of files is parsed once per process (tests and
    the CLI open many runtimes); any change to a file's size or time loads it again.
    """
    folders = [BUILTIN_DIR] if builtin else []
    folders.extend(Path(folder) for folder in extra_dirs)
    key = _fingerprint(folders, allow_insecure_http)
    if key is not None and key in _memo:
        return _memo[key]
    catalog = _load(folders, allow_insecure_http)
    if key is not None:
        if len(_memo) >= _MEMO_SIZE:
            _memo.clear()
        _memo[key] = catalog
    return catalog
