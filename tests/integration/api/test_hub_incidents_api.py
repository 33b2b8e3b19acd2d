"""Incident, report and scorecard endpoints on an in-process hub (real SQLite, real lifespan).

Alerts enter through the gateway ingest endpoint once end to end, and otherwise through
``services.incidents.ingest_alerts`` with chosen times; the service's clock is moved by
replacing ``services.incidents.clock`` (and ``services.reports.clock``).
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from siaga.api.registry import GatewayIn, NodeIn, SiteIn
from siaga.firmware_bridge.uplink import BufferHealth, Heartbeat, UplinkAlert
from tests.api_fixtures import AsgiHub

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

T0 = float(int(time.time()) - 3600)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def alert(level: int, ts: float, *, node: str = "slope-07", hazard: Any = "landslide",
          detector: str = "landslide", aid: int = 1, backfill: bool = False) -> UplinkAlert:
    return UplinkAlert(id=aid, node=node, site=None, hazard=hazard, level=level, previous_level=1,
                   detector=detector, ts=int(ts * 1000), explanation=f"level {level}",
                   explanation_en=f"level {level}", backfill=backfill,
                   values={"rain_3h_mm": 78.0}, thresholds={"siaga_mm": 60.0})


async def seed(hub: AsgiHub) -> None:
    reg = hub.services.registry
    await reg.put_site("bumiaji-slope", SiteIn(name="Lereng Bumiaji", lat=-7.8375, lon=112.5361,
                                               kind="slope"))
    await reg.put_site("pasar-batu", SiteIn(name="Pasar Besar Batu", lat=-7.8716, lon=112.5247,
                                            kind="market"))
    await reg.put_gateway("gw-1", GatewayIn(name="gw-1", site="bumiaji-slope"))
    await reg.put_node("slope-07", NodeIn(site="bumiaji-slope", gateway="gw-1"))
    await reg.put_node("smoke-1", NodeIn(site="pasar-batu", gateway="gw-1"))


async def at(hub: AsgiHub, ts: float) -> None:
    hub.services.incidents.clock = lambda: ts
    hub.services.reports.clock = lambda: ts


@pytest.fixture
def hub_settings(hub_settings_factory: Any) -> Any:
    # pasar-batu is a "market" site: by default a fire there also involves BPBD
    return hub_settings_factory(incidents={
        "check_interval_s": 3600,  # the tests drive the clock passes themselves
    })


async def test_alert_through_ingest_opens_an_incident_staff_of_bpbd_see(hub: AsgiHub) -> None:
    await seed(hub)
    token = await hub.gateway("gw-1")
    now_ms = int(time.time() * 1000)
    batch = {"v": 1, "gateway": "gw-1", "batch": "gw-1:1-1", "sent_at": now_ms,
             "alerts": [dataclasses.asdict(alert(3, now_ms / 1000))]}
    r = await hub.client.post("/api/v1/ingest", json=batch,
                              headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    bpbd = await hub.staff(agency="BPBD", role="viewer")
    r = await hub.client.get("/api/v1/incidents", headers=bpbd.headers)
    assert r.status_code == 200
    (inc,) = r.json()
    for key in ("id", "hazard", "level", "agency", "agencies", "status", "site", "opened_at",
                "acknowledged_at", "resolved_at", "alert_count", "confidence", "unconfirmed",
                "late_alert_count", "opened_late", "clocks"):
        assert key in inc
    assert (inc["hazard"], inc["level"], inc["agency"], inc["site"], inc["status"]) == (
        "landslide", 3, "BPBD", "bumiaji-slope", "open")
    assert inc["lat"] == -7.8375  # placed by the registry
    # the same batch again changes nothing
    r = await hub.client.post("/api/v1/ingest", json=batch,
                              headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    r = await hub.client.get(f"/api/v1/incidents/{inc['id']}", headers=bpbd.headers)
    assert r.json()["alert_count"] == 1
    (entry,) = [e for e in r.json()["timeline"] if e["kind"] == "alert"]
    assert entry["data"]["node"] == "slope-07" and entry["data"]["values"] == {"rain_3h_mm": 78.0}
    assert entry["data"]["thresholds"] == {"siaga_mm": 60.0} and entry["note"] == "level 3"


async def test_auth_failures_and_agency_scoping(hub: AsgiHub) -> None:
    await seed(hub)
    svc = hub.services.incidents
    await svc.ingest_alerts("gw-1", [alert(3, T0)], T0)
    await svc.ingest_alerts("gw-1", [alert(4, T0, node="smoke-1", hazard="fire",
                                           detector="smoke", aid=2)], T0)
    incs = {i.hazard: i.id for i in await svc.find(_all())}
    land, fire = incs["landslide"], incs["fire"]
    pmk = await hub.staff(agency="PMK")
    satpol = await hub.staff(agency="SATPOLPP")
    bpbd_viewer = await hub.staff(agency="BPBD", role="viewer")
    admin = await hub.staff(agency="DISKOMINFO", role="admin")

    # no token, wrong token
    for method, url in (("GET", "/api/v1/incidents"), ("GET", f"/api/v1/incidents/{land}"),
                        ("POST", f"/api/v1/incidents/{land}/ack"),
                        ("GET", "/api/v1/agencies/scorecard")):
        r = await hub.client.request(method, url)
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        r = await hub.client.request(method, url, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401

    r = await hub.client.get("/api/v1/incidents", headers=pmk.headers)
    assert [i["hazard"] for i in r.json()] == ["fire"]
    r = await hub.client.get("/api/v1/incidents", headers=satpol.headers)
    assert r.json() == []
    r = await hub.client.get("/api/v1/incidents", headers=admin.headers)
    assert len(r.json()) == 2
    r = await hub.client.get(f"/api/v1/incidents/{land}", headers=pmk.headers)
    assert r.status_code == 404 and r.json()["status"] == 404
    r = await hub.client.post(f"/api/v1/incidents/{land}/ack", headers=pmk.headers, json={})
    assert r.status_code == 404
    # a viewer reads but never acts
    r = await hub.client.get(f"/api/v1/incidents/{fire}", headers=bpbd_viewer.headers)
    assert r.status_code == 200 and r.json()["agencies"] == ["PMK", "BPBD"]
    r = await hub.client.post(f"/api/v1/incidents/{fire}/ack", headers=bpbd_viewer.headers)
    assert r.status_code == 403
    # a responder acts only for their own agency
    r = await hub.client.post(f"/api/v1/incidents/{fire}/ack", headers=pmk.headers,
                              json={"agency": "BPBD"})
    assert r.status_code == 403
    r = await hub.client.get("/api/v1/incidents/999999", headers=admin.headers)
    assert r.status_code == 404
    r = await hub.client.get("/api/v1/incidents/abc", headers=admin.headers)
    assert r.status_code == 422


def _all() -> Any:
    from siaga.api.incidents.queries import IncidentFilter

    return IncidentFilter()


async def test_lifecycle_per_agency_with_timeline(hub: AsgiHub) -> None:
    await seed(hub)
    svc = hub.services.incidents
    await svc.ingest_alerts("gw-1", [alert(4, T0, node="smoke-1", hazard="fire",
                                           detector="smoke")], T0)
    (inc,) = await svc.find(_all())
    pmk = await hub.staff(agency="PMK", username="budi")
    bpbd = await hub.staff(agency="BPBD", username="sari")
    url = f"/api/v1/incidents/{inc.id}"

    await at(hub, T0 + 120)
    r = await hub.client.post(f"{url}/ack", headers=pmk.headers, json={"note": "berangkat"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "acknowledged" and body["acknowledged_at"] == iso(T0 + 120)
    r = await hub.client.post(f"{url}/ack", headers=pmk.headers, json={})
    assert r.status_code == 409 and "already acknowledged" in r.json()["detail"]
    await at(hub, T0 + 200)
    r = await hub.client.post(f"{url}/dispatch", headers=pmk.headers, json={"note": "2 unit"})
    assert r.json()["status"] == "dispatched"
    await at(hub, T0 + 600)
    r = await hub.client.post(f"{url}/ack", headers=bpbd.headers)  # no body at all
    assert r.status_code == 200
    await at(hub, T0 + 1800)
    r = await hub.client.post(f"{url}/resolve", headers=pmk.headers, json={"note": "padam"})
    assert r.json()["status"] == "dispatched"  # BPBD has not resolved
    await at(hub, T0 + 2400)
    r = await hub.client.post(f"{url}/resolve", headers=bpbd.headers, json={})
    assert r.json()["status"] == "resolved" and r.json()["resolved_at"] == iso(T0 + 2400)

    r = await hub.client.get(url, headers=bpbd.headers)
    detail = r.json()
    clocks = {c["agency"]: c for c in detail["clocks"]}
    assert clocks["PMK"]["acknowledged_by"] == "budi" and clocks["PMK"]["primary"]
    assert clocks["BPBD"]["acknowledged_at"] == iso(T0 + 600)
    assert clocks["BPBD"]["ack_due_at"] == iso(T0 + 300)  # Awas: 5 minutes
    steps = [(e["kind"], e["agency"], e["actor"], e["note"]) for e in detail["timeline"]
             if e["kind"] in ("ack", "dispatch", "resolve")]
    assert steps == [
        ("ack", "PMK", "budi", "berangkat"), ("dispatch", "PMK", "budi", "2 unit"),
        ("ack", "BPBD", "sari", None), ("resolve", "PMK", "budi", "padam"),
        ("dispatch", "BPBD", "sari", None), ("resolve", "BPBD", "sari", None),
    ]
    r = await hub.client.post(f"{url}/ack", headers=pmk.headers, json={"note": "x" * 2001})
    assert r.status_code == 422
    # notes: responders of an involved agency and admins; state unchanged
    r = await hub.client.post(f"{url}/note", headers=bpbd.headers,
                              json={"note": "warga sudah dievakuasi"})
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    r = await hub.client.get(url, headers=bpbd.headers)
    (n,) = [e for e in r.json()["timeline"] if e["kind"] == "note"]
    assert (n["actor"], n["agency"], n["note"]) == ("sari", "BPBD", "warga sudah dievakuasi")
    satpol = await hub.staff(agency="SATPOLPP")
    r = await hub.client.post(f"{url}/note", headers=satpol.headers, json={"note": "x"})
    assert r.status_code == 404
    viewer = await hub.staff(agency="PMK", role="viewer")
    r = await hub.client.post(f"{url}/note", headers=viewer.headers, json={"note": "x"})
    assert r.status_code == 403
    for bad in ({}, {"note": ""}, {"note": "x" * 2001}):
        r = await hub.client.post(f"{url}/note", headers=pmk.headers, json=bad)
        assert r.status_code == 422


async def test_escalation_event_on_stream_and_scorecard(hub: AsgiHub) -> None:
    await seed(hub)
    svc = hub.services.incidents
    sub = hub.services.bus.subscribe(frozenset({"BPBD"}))
    await svc.ingest_alerts("gw-1", [alert(4, T0)], T0)  # Awas: ack within 5 min
    ev = await sub.next(5)
    assert ev is not None and ev.type == "incident.opened"
    assert ev.data["incident"]["level"] == 4
    await at(hub, T0 + 299)
    assert await svc.check_deadlines() == []
    await at(hub, T0 + 301)
    (c,) = await svc.check_deadlines()
    ev = await sub.next(5)
    assert ev is not None and ev.type == "incident.escalated"
    assert ev.data["incident"]["escalated"] is True
    bpbd = await hub.staff(agency="BPBD")
    await at(hub, T0 + 400)
    r = await hub.client.post(f"/api/v1/incidents/{c.incident_id}/resolve",
                              headers=bpbd.headers, json={"note": "aman"})
    assert r.status_code == 200
    ev = await sub.next(5)
    assert ev is not None and ev.type == "incident.resolved"

    r = await hub.client.get("/api/v1/agencies/scorecard", headers=bpbd.headers,
                             params={"from": iso(T0 - 60), "to": iso(T0 + 60)})
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["from"] == iso(T0 - 60) and card["p90_method"] == "nearest-rank"
    (row,) = card["agencies"]  # a responder sees their own agency only
    assert row["agency"] == "BPBD" and row["handled"] == 1
    assert row["ack_on_time_share"] == 0.0 and row["resolve_on_time_share"] == 1.0
    assert row["ack_median_s"] == 400 and row["escalated"] == 1 and row["rapor_merah"]
    admin = await hub.staff(agency="DISKOMINFO", role="admin")
    r = await hub.client.get("/api/v1/agencies/scorecard", headers=admin.headers,
                             params={"from": iso(T0 - 60), "to": iso(T0 + 60)})
    names = [a["agency"] for a in r.json()["agencies"]]
    assert {"BPBD", "PMK", "SATPOLPP", "DISKOMINFO"} <= set(names)
    r = await hub.client.get("/api/v1/agencies/scorecard", headers=admin.headers,
                             params={"from": iso(T0), "to": iso(T0 - 1)})
    assert r.status_code == 422
    # the event also reached the telemetry store as an annotation
    await svc.close()  # waits for pending annotation writes
    events = await hub.services.telemetry.incident_events(int(T0 * 1000) - 1,
                                                          int((T0 + 1000) * 1000))
    assert {e.type for e in events} >= {"incident.opened", "incident.escalated",
                                         "incident.resolved"}


async def test_citizen_reports_need_no_account_and_are_bounded(hub: AsgiHub) -> None:
    await seed(hub)
    svc = hub.services.incidents
    await svc.ingest_alerts("gw-1", [alert(3, time.time())], time.time())
    r = await hub.client.post("/api/v1/reports", json={
        "lat": -7.8380, "lon": 112.5365, "hazard": "landslide", "text": "tanah retak",
        "contact": "0812-555"})
    assert r.status_code == 201, r.text
    assert r.json()["joined"] and r.json()["distance_m"] < 100
    joined = await hub.client.get(f"/api/v1/incidents/{r.json()['incident_id']}",
                                  headers=(await hub.staff(agency="BPBD")).headers)
    assert "0812" not in joined.text  # the contact is kept, not shown in the incident
    r = await hub.client.post("/api/v1/reports", json={
        "lat": -7.95, "lon": 112.60, "hazard": "flood", "text": "banjir"})
    assert r.status_code == 201 and not r.json()["joined"]
    assert (r.json()["status"], r.json()["incident_id"]) == ("triage", None)
    for bad in ({"lat": 91, "lon": 0, "hazard": "flood", "text": "x"},
                {"lat": 0, "lon": 0, "hazard": "sensor_fault", "text": "x"},
                {"lat": 0, "lon": 0, "hazard": "flood", "text": ""},
                {"lat": 0, "lon": 0, "hazard": "flood", "text": "x", "extra": 1},
                {"lat": "NaN", "lon": 0, "hazard": "flood", "text": "x"}):
        r = await hub.client.post("/api/v1/reports", json=bad)
        assert r.status_code == 422, bad
    r = await hub.client.post("/api/v1/reports", json={
        "lat": 0, "lon": 0, "hazard": "flood", "text": "x" * 5000})
    assert r.status_code == 413
    r = await hub.client.post("/api/v1/reports", content=b"{not json",
                              headers={"content-type": "application/json"})
    assert r.status_code == 422


async def test_filters_on_the_list(hub: AsgiHub) -> None:
    await seed(hub)
    svc = hub.services.incidents
    await svc.ingest_alerts("gw-1", [alert(3, T0)], T0)
    await svc.ingest_alerts("gw-1", [alert(4, T0 + 100, node="smoke-1", hazard="fire",
                                           detector="smoke", aid=2)], T0 + 100)
    admin = await hub.staff(agency="DISKOMINFO", role="admin")

    async def hazards(**params: Any) -> list[str]:
        r = await hub.client.get("/api/v1/incidents", headers=admin.headers, params=params)
        assert r.status_code == 200, r.text
        return sorted(i["hazard"] for i in r.json())

    assert await hazards() == ["fire", "landslide"]
    assert await hazards(agency="PMK") == ["fire"]
    assert await hazards(agency="BPBD") == ["fire", "landslide"]
    assert await hazards(hazard="landslide") == ["landslide"]
    assert await hazards(level=4) == ["fire"]
    assert await hazards(status="resolved") == []
    assert await hazards(status="active") == ["fire", "landslide"]
    fire = (await hub.client.get("/api/v1/incidents", headers=admin.headers,
                                 params={"hazard": "fire"})).json()[0]
    r = await hub.client.post(f"/api/v1/incidents/{fire['id']}/resolve", headers=admin.headers)
    assert r.status_code == 200 and r.json()["status"] == "resolved", r.text
    assert await hazards(status="active") == ["landslide"]
    assert await hazards(status="resolved") == ["fire"]
    assert await hazards(status="open") == ["landslide"]
    assert await hazards(**{"from": iso(T0 + 50)}) == ["fire"]
    assert await hazards(to=iso(T0 + 50)) == ["landslide"]
    r = await hub.client.get("/api/v1/incidents", headers=admin.headers,
                             params={"status": "closed"})
    assert r.status_code == 422
    r = await hub.client.get("/api/v1/incidents", headers=admin.headers, params={"level": 9})
    assert r.status_code == 422
    # a naive time is UTC; times outside 2000-2099 are refused, not a server error
    naive = iso(T0 + 50).removesuffix("Z")
    assert await hazards(**{"from": naive}) == ["fire"]
    for params in ({"from": "0001-01-01T00:00:00Z"}, {"to": "9999-12-31T00:00:00Z"}):
        r = await hub.client.get("/api/v1/incidents", headers=admin.headers, params=params)
        assert r.status_code == 422 and r.json()["field"] in ("from", "to")
        r = await hub.client.get("/api/v1/agencies/scorecard", headers=admin.headers,
                                 params=params)
        assert r.status_code == 422


async def test_silent_gateway_opens_maintenance_incident_for_diskominfo(hub: AsgiHub) -> None:
    await seed(hub)
    svc = hub.services.incidents
    hb = Heartbeat(v=1, gateway="gw-1", ts=int(T0 * 1000), uptime_s=10,
                     buffer=BufferHealth(depth=0, alerts=0))
    await at(hub, T0)
    await svc.on_heartbeat("gw-1", hb)
    await at(hub, T0 + 181)
    (c,) = await svc.check_gateways()
    ops = await hub.staff(agency="DISKOMINFO", role="viewer")
    r = await hub.client.get(f"/api/v1/incidents/{c.incident_id}", headers=ops.headers)
    assert r.status_code == 200
    assert (r.json()["hazard"], r.json()["agency"], r.json()["status"]) == (
        "gateway_silent", "DISKOMINFO", "open")
    assert await svc.check_gateways() == []  # once
    await at(hub, T0 + 300)
    await svc.on_heartbeat("gw-1", hb)
    r = await hub.client.get(f"/api/v1/incidents/{c.incident_id}", headers=ops.headers)
    assert r.json()["status"] == "resolved"
    assert [e["kind"] for e in r.json()["timeline"]].count("gateway") == 2


async def test_openapi_documents_the_incident_endpoints(hub: AsgiHub) -> None:
    doc = (await hub.client.get("/openapi.json")).json()
    for path in ("/api/v1/incidents", "/api/v1/incidents/{incident_id}",
                 "/api/v1/incidents/{incident_id}/ack", "/api/v1/incidents/{incident_id}/dispatch",
                 "/api/v1/incidents/{incident_id}/resolve", "/api/v1/incidents/{incident_id}/note",
                 "/api/v1/incidents/{incident_id}/cap", "/api/v1/reports",
                 "/api/v1/agencies/scorecard"):
        assert path in doc["paths"], path


async def test_cap_export_validates_and_is_scoped(hub: AsgiHub) -> None:
    from lxml import etree

    await seed(hub)
    svc = hub.services.incidents
    await svc.ingest_alerts("gw-1", [alert(4, T0, node="smoke-1", hazard="fire",
                                           detector="smoke")], T0)
    (inc,) = await svc.find(_all())
    pmk = await hub.staff(agency="PMK", role="viewer")
    r = await hub.client.get(f"/api/v1/incidents/{inc.id}/cap", headers=pmk.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    schema = etree.XMLSchema(etree.parse("/work/shared/spec/cap/CAP-v1.2.xsd"))
    doc = etree.fromstring(r.content)
    assert schema.validate(doc), schema.error_log
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    assert doc.findtext("cap:info/cap:area/cap:areaDesc", namespaces=ns) == "Pasar Besar Batu"
    assert doc.findtext("cap:sent", namespaces=ns).endswith("+07:00")
    satpol = await hub.staff(agency="SATPOLPP")
    r = await hub.client.get(f"/api/v1/incidents/{inc.id}/cap", headers=satpol.headers)
    assert r.status_code == 404
    r = await hub.client.get(f"/api/v1/incidents/{inc.id}/cap")
    assert r.status_code == 401


async def test_metrics_count_open_incidents_by_level(hub: AsgiHub) -> None:
    await seed(hub)
    await hub.services.incidents.ingest_alerts("gw-1", [alert(3, T0)], T0)
    r = await hub.client.get("/metrics")
    assert r.status_code == 200
    assert 'siaga_incidents_open{level="3"} 1' in r.text
    assert 'siaga_incident_alerts_total{hazard="landslide"} 1' in r.text


async def test_heartbeat_over_http_feeds_the_watchdog(hub: AsgiHub) -> None:
    await seed(hub)
    token = await hub.gateway("gw-1")
    now = time.time()
    await at(hub, now)
    hb = {"v": 1, "gateway": "gw-1", "ts": int(now * 1000), "uptime_s": 5.0,
          "buffer": {"depth": 0, "alerts": 0}}
    r = await hub.client.post("/api/v1/heartbeat", json=hb,
                              headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (200, 202, 204), r.text
    svc = hub.services.incidents
    await at(hub, now + 179)
    assert await svc.check_gateways() == []
    await at(hub, now + 181)
    (c,) = await svc.check_gateways()
    assert c.type == "incident.opened" and "gw-1" in c.text
