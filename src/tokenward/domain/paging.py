"""Paging and ordering of list calls (``page``, ``pageSize``, ``orderBy``, ``sortOrderAsc``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["MAX_PAGE_SIZE", "Page", "PageRequest"]

T = TypeVar("T")
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    page_size: int = 50
    order_by: str | None = None
    ascending: bool = True

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page_size: int

    @property
    def total_pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size)) if self.page_size else 1

    @classmethod
    def of(cls, items: list[T], request: PageRequest) -> Page[T]:
        """Page an in-memory list that is already ordered."""
        start = request.offset
        return cls(items[start : start + request.page_size], len(items), request.page_size)
