"""Helpers for testing integrations with tokenward: the provider double, a fake clock."""
