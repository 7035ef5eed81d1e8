"""Property-based contract tests generated from ``/openapi.json`` (schemathesis).

Every operation, a bounded number of examples each, with a valid bearer token and without:
no 5xx, no status code the document does not declare, and a missing token is always a 401.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = settings(
    max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@pytest.fixture
def api_schema(app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@EXAMPLES
def test_operations_with_a_token(case: Any, acct: dict[str, str]) -> None:
    """With a valid token, generated requests never cause a 5xx or an undocumented status."""
    headers = {**acct, **(case.headers or {})}
    headers["Authorization"] = acct["Authorization"]
    case.call_and_validate(headers=headers, checks=CHECKS)


@schema.parametrize()
@EXAMPLES
def test_operations_without_a_token(case: Any) -> None:
    """Without a token every partner API operation answers 401 (operations endpoints excepted)."""
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    response = case.call(headers=headers)
    # Generated requests also probe methods the path does not have (405 is right for those).
    if case.path.startswith("/v1.0/") and case.method.upper() == case.operation.method.upper():
        assert response.status_code == 401, (case.method, case.path, response.text)
    else:
        assert response.status_code < 500
