"""The catalog in memory: connectors by Id, by Name and by Name + Version; methods by Id/GUID."""

from __future__ import annotations

from collections.abc import Iterable

from tokenward.catalog.schema import Connector, Method

__all__ = ["Catalog"]


class Catalog:
    """An immutable set of validated connectors (uniqueness is checked by the loader)."""

    def __init__(self, connectors: Iterable[Connector] = ()) -> None:
        self._by_id: dict[int, Connector] = {}
        self._by_name: dict[str, list[Connector]] = {}
        self._methods: dict[str, tuple[Connector, Method]] = {}
        for connector in sorted(connectors, key=lambda c: c.Id):
            self._by_id[connector.Id] = connector
            self._by_name.setdefault(connector.Name.lower(), []).append(connector)
            for method in connector.Methods:
                self._methods[str(method.Id)] = (connector, method)
                self._methods[str(method.MethodUniqueIdentifier).lower()] = (connector, method)

    def __len__(self) -> int:
        return len(self._by_id)

    def all(self) -> list[Connector]:
        return list(self._by_id.values())

    def get(self, connector_id: int) -> Connector | None:
        return self._by_id.get(connector_id)

    def find(self, name: str, version: str | None = None) -> list[Connector]:
        """Connectors named ``name`` (case-insensitive), optionally of one ``version``."""
        found = self._by_name.get(name.strip().lower(), [])
        if version is not None:
            found = [c for c in found if c.Version.lower() == version.strip().lower()]
        return list(found)

    def resolve(self, ref: str) -> list[Connector]:
        """A path segment: digits are an Id, anything else a Name."""
        if ref.isdigit():
            found = self.get(int(ref))
            return [found] if found else []
        return self.find(ref)

    def method(self, ref: str) -> tuple[Connector, Method] | None:
        """A method by integer Id or MethodUniqueIdentifier, with its connector."""
        return self._methods.get(ref.strip().lower())

    def search(self, query: str | None = None, category: str | None = None) -> list[Connector]:
        """Connectors whose Name or Description contains ``query`` and that are in ``category``
        (both case-insensitive; ``None`` or blank matches everything), in Id order."""
        needle = (query or "").strip().lower()
        wanted = (category or "").strip().lower()
        return [
            c
            for c in self._by_id.values()
            if (not needle or needle in c.Name.lower() or needle in (c.Description or "").lower())
            and (not wanted or wanted in (item.lower() for item in c.Categories))
        ]

    def merged(self, extra: Iterable[Connector]) -> Catalog:
        """This catalog plus ``extra`` (custom connectors)."""
        return Catalog([*self._by_id.values(), *extra])
