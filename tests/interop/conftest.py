"""Interop tests against real authorization servers installed from a registry (docs/testing.md)."""

from oidc_server import oidc_provider

__all__ = ["oidc_provider"]
