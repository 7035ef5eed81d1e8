"""Helpers for testing integrations with tokenward: the provider double, a fake clock."""

from tokenward.clock import FakeClock
from tokenward.testing.provider import ProviderDouble, provider_fixture
from tokenward.testing.provider_behaviour import Failure, ProviderBehaviour, RegisteredClient
from tokenward.testing.provider_records import RecordedRequest

__all__ = [
    "Failure",
    "FakeClock",
    "ProviderBehaviour",
    "ProviderDouble",
    "RecordedRequest",
    "RegisteredClient",
    "provider_fixture",
]
