"""/healthz, /metrics, problem+json for routing errors, and the OpenAPI document."""

from __future__ import annotations

import asyncio
import platform

import httpx
import pytest

from tests.api_fixtures import AsgiHub, LiveHub

pytestmark = pytest.mark.anyio


async def test_healthz_reports_each_component(hub: AsgiHub) -> None:
    r = await hub.client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert set(body["checks"]) == {"database", "telemetry", "incidents", "ingest"}


async def test_healthz_degraded_when_database_is_closed(hub: AsgiHub) -> None:
    hub.services.db.close()
    r = await hub.client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"].startswith("failing:")


async def test_metrics_is_prometheus_text_with_request_counts(hub: AsgiHub) -> None:
    await hub.client.get("/healthz")
    await hub.client.get("/no/such/path")
    r = await hub.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    assert "# TYPE siaga_http_requests_total counter" in text
    assert 'siaga_http_requests_total{method="GET",route="/healthz",status="200"} 1' in text
    assert 'route="(unmatched)",status="404"' in text
    assert "# TYPE siaga_live_subscribers gauge" in text


async def test_unknown_path_is_problem_json(hub: AsgiHub) -> None:
    r = await hub.client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 404 and body["title"] == "Not found"
    assert "/api/v1/nothing-here" in body["detail"]


async def test_wrong_method_is_problem_json_405(hub: AsgiHub) -> None:
    r = await hub.client.delete("/healthz")
    assert r.status_code == 405
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "DELETE is not allowed on /healthz"
    assert "GET" in r.headers["allow"]


async def test_openapi_documents_problems_and_bearer_auth(hub: AsgiHub) -> None:
    doc = (await hub.client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "Problem" in doc["components"]["schemas"]
    assert "HTTPBearer" in doc["components"]["securitySchemes"]
    put = doc["paths"]["/api/v1/registry/sites/{site_id}"]["put"]
    for status in ("401", "403", "422"):
        assert "application/problem+json" in put["responses"][status]["content"]
    me = doc["paths"]["/api/v1/me"]["get"]
    assert me["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Me")


def test_live_hub_serves_over_a_real_socket(live_hub: LiveHub) -> None:
    r = httpx.get(f"{live_hub.url}/healthz", timeout=10)
    assert r.status_code == 200
    login = live_hub.staff(role="viewer", agency="PMK")
    me = httpx.get(f"{live_hub.url}/api/v1/me", headers=login.headers, timeout=10)
    assert me.json()["agency"] == "PMK"


@pytest.mark.skipif(platform.machine() in ("armv7l", "armv6l"),
                    reason="no uvloop wheels there: the hub group leaves it out")
def test_the_hub_runs_on_uvloop(live_hub: LiveHub) -> None:
    """hub_server leaves uvicorn's loop at "auto", and the hub group installs uvloop: the
    event loop's own cost per request fell ~0.1-0.25 ms with it (issue 17). A config that
    pinned uvicorn to asyncio's loop would fail here."""

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert live_hub.run(loop_module).startswith("uvloop"), (
        "the hub is not on uvloop: is the venv's install older than pyproject.toml's hub group "
        "(pip install -e '.[dev]')?")


async def test_every_operation_documents_its_answers(hub: AsgiHub) -> None:
    doc = (await hub.client.get("/openapi.json")).json()
    missing = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            if not op.get("summary"):
                missing.append(f"{where}: no summary")
            for status, response in op["responses"].items():
                content = response.get("content", {})
                if status.startswith(("4", "5")):
                    if list(content) != ["application/problem+json"]:
                        missing.append(f"{where} {status}: not problem+json")
                elif status not in ("204", "304") and (  # answers without a body
                    not content or "schema" not in content.get("application/json", {"schema": 1})
                ):
                    missing.append(f"{where} {status}: no media type or no JSON schema")
            if "security" in op and "401" not in op["responses"]:
                missing.append(f"{where}: authenticated but 401 undocumented")
    assert missing == []
