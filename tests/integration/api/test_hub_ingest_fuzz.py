"""Schema-based fuzzing of the gateway endpoints with a valid gateway token: whatever the
body, the answer is a documented 2xx/4xx, never a 5xx (the platform's fuzz run in
test_hub_openapi_fuzz.py uses a staff token, so it only reaches their 401)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_fixtures import LiveHub, make_settings, serve_hub
from tests.hypothesis_profiles import costly

pytestmark = pytest.mark.integration

OPERATIONS = {("POST", "/api/v1/ingest"), ("POST", "/api/v1/heartbeat")}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def gateway_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    with serve_hub(make_settings(tmp_path_factory.mktemp("ingest-fuzz"))) as hub:
        yield hub


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_gateway_endpoints_never_answer_5xx(gateway_hub: LiveHub, method: str,
                                            path: str) -> None:
    token = gateway_hub.gateway("gw-fuzz")
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{gateway_hub.url}/openapi.json")
    operation = schema[path][method.lower()]
    statuses: set[int] = set()

    @given(case=operation.as_strategy())
    @settings(max_examples=costly(60), derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(base_url=gateway_hub.url, headers=headers,
                                          checks=CHECKS)
        statuses.add(response.status_code)

    run()
    assert statuses and max(statuses) < 500
    assert 401 not in statuses  # the token was good: the bodies were really examined
