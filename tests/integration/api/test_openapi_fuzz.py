"""Schemathesis against ``/openapi.json``: no 5xx, and every response matches the spec."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.integration.api.conftest import Deployment


@pytest.fixture
def api_schema(deployment: Deployment) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{deployment.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_5xx_or_a_response_outside_the_spec(
    case: schemathesis.Case[Any], deployment: Deployment
) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {deployment.admin_token}"},
        checks=[not_a_server_error, response_schema_conformance],
        timeout=30,
    )
