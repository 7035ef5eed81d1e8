"""Fixtures shared by the API tests that call a provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tokenward.testing import ProviderDouble


@pytest.fixture
def provider() -> Iterator[ProviderDouble]:
    """A provider double with its default behaviour, on a loopback port of its own."""
    with ProviderDouble() as double:
        yield double
