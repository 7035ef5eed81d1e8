"""Entities, value objects and rules of tokenward: pure Python, no web, SQL or HTTP."""
