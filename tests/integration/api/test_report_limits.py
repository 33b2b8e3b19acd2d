"""Citizen-report flooding on an in-process hub (real SQLite, real lifespan): the issue's
31 POSTs in one second from one address, and one contact from several addresses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api_fixtures import AsgiHub, asgi_hub

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

REPORT = {"lat": -7.8716, "lon": 112.5247, "hazard": "fire", "text": "asap tebal di los sayur"}


@pytest.fixture
def hub_settings(hub_settings_factory: Any) -> Any:
    return hub_settings_factory(incidents={"check_interval_s": 3600,
                                           "report_limit_per_address": 10,
                                           "report_limit_per_reporter": 3,
                                           "report_limit_window_s": 600})


async def test_a_flood_from_one_address_gets_429_with_retry_after(hub: AsgiHub) -> None:
    codes = []
    for i in range(31):
        body = {**REPORT, "lat": -7.8716 + i * 0.01}  # spread out: each would open its own
        r = await hub.client.post("/api/v1/reports", json=body)
        codes.append(r.status_code)
        if r.status_code == 429:
            assert r.headers["content-type"] == "application/problem+json"
            assert 1 <= int(r.headers["retry-after"]) <= 600
            assert "this address" in r.json()["detail"]
    assert codes.count(201) == 10 and codes.count(429) == 21
    admin = await hub.staff(agency="DISKOMINFO", role="admin")
    r = await hub.client.get("/api/v1/incidents", headers=admin.headers)
    assert r.json() == []  # one sender: nothing opens without a duty officer
    r = await hub.client.get("/api/v1/reports/triage", headers=admin.headers)
    assert len(r.json()) == 10
    metrics = (await hub.client.get("/metrics")).text
    assert 'siaga_reports_total{outcome="limited_address"} 21' in metrics
    assert 'siaga_reports_total{outcome="triage"} 10' in metrics


async def test_one_contact_is_limited_and_oversized_reports_are_counted(hub: AsgiHub) -> None:
    codes = []
    for contact in ("0812 3456 789", "0812-3456-789".replace("-", " "), "0812 3456 789 ",
                    "08123456789"):
        r = await hub.client.post("/api/v1/reports", json={**REPORT, "contact": contact})
        codes.append(r.status_code)
    assert codes == [201, 201, 201, 429]
    r = await hub.client.post("/api/v1/reports", json={**REPORT, "contact": "lain@warga.id"})
    assert r.status_code == 201  # another reporter from the same address still may
    r = await hub.client.post("/api/v1/reports", json={**REPORT, "text": "x" * 1001})
    assert r.status_code == 422
    r = await hub.client.post("/api/v1/reports", content=b"{" + b" " * 5000 + b"}",
                              headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    metrics = (await hub.client.get("/metrics")).text
    assert 'siaga_reports_total{outcome="limited_reporter"} 1' in metrics
    assert 'siaga_reports_total{outcome="too_large"} 1' in metrics


async def test_an_oversized_staff_call_under_the_reports_prefix_is_not_a_report(
        hub: AsgiHub) -> None:
    """The 4 KiB limit covers /api/v1/reports/{id}/verify and /reject too; refusing one is not
    a citizen's oversized report."""
    officer = await hub.staff(agency="PMK", role="responder")
    r = await hub.client.post("/api/v1/reports/1/reject", headers=officer.headers,
                              content=b'{"reason": "' + b"x" * 5000 + b'"}')
    assert r.status_code == 413
    metrics = (await hub.client.get("/metrics")).text
    assert 'siaga_reports_total{outcome="too_large"}' not in metrics


def _report_of(size: int) -> bytes:
    """A valid report whose JSON body is at least ``size`` bytes (escaped Javanese text: six
    bytes a character, 1000 characters at most)."""
    text = "ꦧ" * min(1000, size // 6 + 1)
    body = json.dumps({**REPORT, "text": text}).encode()
    assert len(body) >= size
    return body


async def _post(hub: AsgiHub, body: bytes) -> int:
    r = await hub.client.post("/api/v1/reports", content=body,
                              headers={"Content-Type": "application/json"})
    return r.status_code


async def test_a_raised_report_limit_admits_bigger_reports(hub_settings_factory: Any) -> None:
    """The route once kept its own 4096-byte cap, so raising the setting changed nothing."""
    settings = hub_settings_factory(server={"body_limits": {"/api/v1/reports": 8192}})
    async with asgi_hub(settings) as hub:
        assert await _post(hub, _report_of(6000)) == 201
        assert await _post(hub, b"{" + b" " * 8192 + b"}") == 413


async def test_a_lowered_report_limit_refuses_and_counts_smaller_reports(
        hub_settings_factory: Any) -> None:
    settings = hub_settings_factory(server={"body_limits": {"/api/v1/reports": 1024}})
    async with asgi_hub(settings) as hub:
        assert await _post(hub, _report_of(1500)) == 413
        assert await _post(hub, json.dumps(REPORT).encode()) == 201
        metrics = (await hub.client.get("/metrics")).text
        assert 'siaga_reports_total{outcome="too_large"} 1' in metrics
