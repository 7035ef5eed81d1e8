"""Connector definitions: schema, loader and validator, named hooks, and the YAML catalog."""
