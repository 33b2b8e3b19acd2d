"""Schema-based fuzzing (schemathesis) of every operation in the hub's OpenAPI document
against a real uvicorn: no 5xx, and every answer's status, content type and body are the
documented ones. Runs as an admin, with the Kota Batu demo registry loaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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

DEMO = Path(__file__).resolve().parents[3] / "deploy" / "demo" / "registry.toml"
SKIPPED = {
    # Logging out would revoke the token every other case uses (tested in test_hub_auth).
    ("DELETE", "/api/v1/auth/token"),
    # An endless event stream: each case would wait for the client's timeout
    # (tested in test_hub_stream).
    ("GET", "/api/v1/stream"),
}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    tmp = tmp_path_factory.mktemp("fuzz")
    with serve_hub(make_settings(tmp, registry={"file": str(DEMO)})) as hub:
        yield hub


@pytest.fixture(scope="module")
def admin_headers(fuzzed_hub: LiveHub) -> dict[str, str]:
    return fuzzed_hub.staff(role="admin", agency="BPBD", username="fuzz-admin").headers


def _fuzz(operation: schemathesis.APIOperation, base_url: str,
          headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=costly(8), derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

    run()


# schemathesis' own pytest plugin does not load under pytest 9, so the operations are
# walked here, each with its own Hypothesis run, and every failure is reported at the end.
def test_no_server_errors_and_answers_as_documented(
    fuzzed_hub: LiveHub, admin_headers: dict[str, str],
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_hub.url}/openapi.json")
    failures: dict[str, str] = {}
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        tested += 1
        try:
            _fuzz(operation, fuzzed_hub.url, admin_headers)
        except Exception as exc:  # noqa: BLE001 - collected and reported together
            failures[f"{operation.method.upper()} {operation.path}"] = str(exc)[:2000]
    assert tested >= 20
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
