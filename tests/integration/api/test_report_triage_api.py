"""The triage queue through the API on an in-process hub (real SQLite, real lifespan): who may
see, verify and reject a waiting report; independent senders confirming each other; what the
public CAP feed and /metrics show."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from siaga.api.registry import SiteIn
from tests.api_fixtures import AsgiHub

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

FIRE = {"lat": -7.8650, "lon": 112.5200, "hazard": "fire", "text": "asap hitam dari gudang"}


@pytest.fixture
def hub_settings(hub_settings_factory: Any) -> Any:
    return hub_settings_factory(incidents={"check_interval_s": 3600})


@asynccontextmanager
async def client_from(hub: AsgiHub, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client the hub sees at ``address`` (ASGI scope only: no packet leaves the process)."""
    transport = httpx.ASGITransport(app=hub.app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        yield client


async def test_only_a_routed_agencys_duty_officer_verifies(hub: AsgiHub) -> None:
    await hub.services.registry.put_site(
        "pasar-batu", SiteIn(name="Pasar Besar Batu", lat=-7.8716, lon=112.5247, kind="market"))
    r = await hub.client.post("/api/v1/reports", json={**FIRE, "contact": "0812 777"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["incident_id"], body["joined"]) == ("triage", None, False)
    assert body["place"]["site"] is None and body["place"]["name"].endswith("Pasar Besar Batu")
    rid = body["report_id"]
    pmk = await hub.staff(agency="PMK", role="responder", username="budi")
    pmk_viewer = await hub.staff(agency="PMK", role="viewer", username="vina")
    bpbd = await hub.staff(agency="BPBD", role="responder", username="sari")

    # the queue: PMK (fire) sees it with the contact, BPBD does not, strangers get 401
    queue = (await hub.client.get("/api/v1/reports/triage", headers=pmk.headers)).json()
    assert [(q["id"], q["contact"], q["status"]) for q in queue] == [(rid, "0812 777", "triage")]
    assert (await hub.client.get("/api/v1/reports/triage", headers=bpbd.headers)).json() == []
    assert (await hub.client.get("/api/v1/reports/triage")).status_code == 401

    # anonymous, another agency's staff, a viewer: refused, nothing opens
    r = await hub.client.post(f"/api/v1/reports/{rid}/verify")
    assert r.status_code == 401
    r = await hub.client.post(f"/api/v1/reports/{rid}/verify", headers=bpbd.headers)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = await hub.client.post(f"/api/v1/reports/{rid}/reject", headers=bpbd.headers,
                              json={"reason": "spam"})
    assert r.status_code == 404
    r = await hub.client.post(f"/api/v1/reports/{rid}/verify", headers=pmk_viewer.headers)
    assert r.status_code == 403
    r = await hub.client.post(f"/api/v1/reports/{rid}/verify",
                              headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    admin = await hub.staff(agency="DISKOMINFO", role="admin", username="root")
    assert (await hub.client.get("/api/v1/incidents", headers=admin.headers)).json() == []

    r = await hub.client.post(f"/api/v1/reports/{rid}/verify", headers=pmk.headers,
                              json={"note": "ditelepon, benar"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "verified" and r.json()["decided_by"] == "budi"
    incident = (await hub.client.get(f"/api/v1/incidents/{r.json()['incident_id']}",
                                     headers=pmk.headers)).json()
    assert incident["origin"] == "report" and not incident["unconfirmed"]
    assert incident["place_label"].endswith("dari Pasar Besar Batu")
    assert [e["kind"] for e in incident["timeline"]].count("verified") == 1
    r = await hub.client.post(f"/api/v1/reports/{rid}/verify", headers=pmk.headers)
    assert r.status_code == 409
    r = await hub.client.post("/api/v1/reports/999/verify", headers=pmk.headers)
    assert r.status_code == 404


async def test_reject_needs_a_reason_and_is_counted(hub: AsgiHub) -> None:
    rid = (await hub.client.post("/api/v1/reports", json=FIRE)).json()["report_id"]
    pmk = await hub.staff(agency="PMK", role="responder", username="budi")
    for bad in (None, {}, {"reason": ""}, {"reason": "x" * 501}, {"reason": "ok", "x": 1}):
        r = await hub.client.post(f"/api/v1/reports/{rid}/reject", headers=pmk.headers,
                                  json=bad)
        assert r.status_code == 422, bad
    r = await hub.client.post(f"/api/v1/reports/{rid}/reject", headers=pmk.headers,
                              json={"reason": "iseng"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["decision_note"] == "iseng"
    assert (await hub.client.get("/api/v1/reports/triage", headers=pmk.headers)).json() == []
    metrics = (await hub.client.get("/metrics")).text
    assert 'siaga_reports_total{outcome="triage"} 1' in metrics
    assert 'siaga_reports_total{outcome="rejected"} 1' in metrics


async def test_three_independent_senders_open_an_incident_kept_out_of_the_cap_feed(
        hub: AsgiHub) -> None:
    statuses = []
    for i, address in enumerate(("192.0.2.1", "192.0.2.2", "192.0.2.2", "192.0.2.3")):
        async with client_from(hub, address) as client:
            r = await client.post("/api/v1/reports",
                                  json={**FIRE, "lat": FIRE["lat"] + i * 0.0005})
            assert r.status_code == 201, r.text
            statuses.append(r.json()["status"])
    # the second report from 192.0.2.2 is not independent; the third address confirms
    assert statuses == ["triage", "triage", "triage", "confirmed"]
    pmk = await hub.staff(agency="PMK", role="responder", username="budi")
    (incident,) = (await hub.client.get("/api/v1/incidents", headers=pmk.headers)).json()
    assert incident["report_count"] == 4 and incident["unconfirmed"]
    # reports alone are no public warning
    feed = await hub.client.get("/cap/feed.atom")
    assert feed.status_code == 200 and "<entry>" not in feed.text
    metrics = (await hub.client.get("/metrics")).text
    assert 'siaga_reports_total{outcome="confirmed"} 1' in metrics
    # once a responder acknowledges, it is confirmed and the feed carries it
    r = await hub.client.post(f"/api/v1/incidents/{incident['id']}/ack", headers=pmk.headers)
    assert r.status_code == 200 and not r.json()["unconfirmed"]
    assert "<entry>" in (await hub.client.get("/cap/feed.atom")).text


async def test_a_report_at_a_market_is_routed_by_the_sites_kind(hub: AsgiHub) -> None:
    """A fire reported at a market (site kind `market`) is PMK's and BPBD's to triage, as a
    sensor's fire there would be (incidents.site_kind_agencies)."""
    await hub.services.registry.put_site(
        "pasar-batu", SiteIn(name="Pasar Besar Batu", lat=-7.8716, lon=112.5247, kind="market"))
    r = await hub.client.post("/api/v1/reports", json={**FIRE, "lat": -7.8717, "lon": 112.5248})
    assert r.json()["place"] == {"site": "pasar-batu", "name": "Pasar Besar Batu",
                                 "name_en": "Pasar Besar Batu"}
    assert r.json()["agencies"] == ["PMK", "BPBD"]
    bpbd = await hub.staff(agency="BPBD", role="responder", username="sari")
    (waiting,) = (await hub.client.get("/api/v1/reports/triage", headers=bpbd.headers)).json()
    r = await hub.client.post(f"/api/v1/reports/{waiting['id']}/verify", headers=bpbd.headers)
    assert r.status_code == 200
    incident = (await hub.client.get(f"/api/v1/incidents/{r.json()['incident_id']}",
                                     headers=bpbd.headers)).json()
    assert incident["site"] == "pasar-batu" and incident["agencies"] == ["PMK", "BPBD"]
    assert incident["place_label"] is None
