"""HTTP ingest (POST /api/v1/ingest, /api/v1/heartbeat) into a real influxd, through the app."""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from siaga.api.settings import HubSettings
from siaga.simulators.servers import InfluxDB
from tests.api_fixtures import AsgiHub, asgi_hub

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

GW = "gw-bumiaji-01"
T0 = 1_795_000_000_000


def make_batch(n: int = 3, first_id: int = 1, gateway: str = GW, **extra: Any) -> dict[str, Any]:
    readings = [
        {"id": first_id + i, "node": "slope-07", "channel": "vwc", "value": 30.0 + i,
         "unit": "%", "ts": T0 + i * 60_000, "rx": T0 + i * 60_000 + 50, "seq": first_id + i,
         "src": "serial:/dev/ttyUSB0", "raw": None, "skew": False, "reset": False,
         "backfill": False}
        for i in range(n)
    ]
    batch_id = f"{gateway}:{first_id:012d}-{first_id + n - 1:012d}"
    doc = {"v": 1, "gateway": gateway, "batch": batch_id,
           "sent_at": T0 + n * 60_000, "backfill": False, "readings": readings, "alerts": [],
           "loss": {"dropped_readings": 0, "dropped_since": None}}
    doc.update(extra)
    return doc


@pytest.fixture
async def influx_hub(
    hub_settings_factory: Callable[..., HubSettings], influxdb: InfluxDB
) -> AsyncIterator[AsgiHub]:
    settings = hub_settings_factory(telemetry={
        "kind": "influxdb", "url": influxdb.url, "database": f"ingest_{uuid.uuid4().hex[:10]}"})
    async with asgi_hub(settings) as hub:
        yield hub


async def stored(hub: AsgiHub, node: str = "slope-07", channel: str = "vwc") -> list[Any]:
    return await hub.services.telemetry.readings(node, channel, T0 - 3_600_000, T0 + 86_400_000)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_batch_is_stored_then_acknowledged_and_a_resend_changes_nothing(
    influx_hub: AsgiHub,
) -> None:
    token = await influx_hub.gateway(GW)
    body = make_batch(5)
    r = await influx_hub.client.post("/api/v1/ingest", json=body, headers=auth(token))
    assert r.status_code == 200, r.text
    assert r.json() == {"batch": body["batch"], "status": "stored", "reason": None, "stored": 5,
                        "duplicates": 0, "rejected_items": []}
    first = await stored(influx_hub)
    assert [(p.ts, p.value, p.gateway) for p in first] == [
        (T0 + i * 60_000, 30.0 + i, GW) for i in range(5)]

    r = await influx_hub.client.post("/api/v1/ingest", json=body, headers=auth(token))
    assert r.status_code == 200
    assert r.json() == {"batch": body["batch"], "status": "stored", "reason": None, "stored": 0,
                        "duplicates": 5, "rejected_items": []}
    assert await stored(influx_hub) == first


async def test_gzip_body_is_accepted(influx_hub: AsgiHub) -> None:
    token = await influx_hub.gateway(GW)
    body = make_batch(50)
    r = await influx_hub.client.post(
        "/api/v1/ingest", content=gzip.compress(json.dumps(body).encode()),
        headers={**auth(token), "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == 50
    assert len(await stored(influx_hub)) == 50


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"},
                                     {"Authorization": "Basic Zm9vOmJhcg=="}])
async def test_without_a_valid_token_401_and_nothing_stored(
    influx_hub: AsgiHub, headers: dict[str, str],
) -> None:
    await influx_hub.gateway(GW)
    r = await influx_hub.client.post("/api/v1/ingest", json=make_batch(), headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await stored(influx_hub) == []


async def test_a_batch_naming_another_gateway_is_403_and_nothing_stored(
    influx_hub: AsgiHub,
) -> None:
    token = await influx_hub.gateway(GW)
    await influx_hub.gateway("gw-other")
    r = await influx_hub.client.post("/api/v1/ingest", json=make_batch(gateway="gw-other"),
                                     headers=auth(token))
    assert r.status_code == 403
    assert r.json()["batch"].startswith("gw-other:")
    assert await stored(influx_hub) == []


def _broken(change: Callable[[dict[str, Any]], None]) -> bytes:
    doc = make_batch()
    change(doc)
    return json.dumps(doc).encode()


MALFORMED: list[tuple[str, bytes, dict[str, str], int]] = [
    ("not json", b"{\"v\": 1, ", {}, 400),
    ("json array", b"[]", {}, 400),
    ("empty body", b"", {}, 400),
    ("bad gzip", b"\x1f\x8b\x08\x00garbage", {"Content-Encoding": "gzip"}, 400),
    ("unknown encoding", b"{}", {"Content-Encoding": "br"}, 400),
    ("missing field", _broken(lambda d: d.pop("sent_at")), {}, 422),
    ("extra field", _broken(lambda d: d.update(colour="red")), {}, 422),
    ("readings not a list", _broken(lambda d: d.update(readings={"id": 1})), {}, 422),
    ("version 2", _broken(lambda d: d.update(v=2)), {}, 422),
]


@pytest.mark.parametrize(("why", "body", "headers", "status"), MALFORMED,
                         ids=[m[0] for m in MALFORMED])
async def test_malformed_batches_are_rejected_and_nothing_is_stored(
    influx_hub: AsgiHub, why: str, body: bytes, headers: dict[str, str], status: int,
) -> None:
    token = await influx_hub.gateway(GW)
    r = await influx_hub.client.post("/api/v1/ingest", content=body,
                                     headers={**auth(token), **headers})
    assert r.status_code == status, r.text
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert problem["status"] == status and problem["detail"]
    if status == 422:
        assert problem["errors"] and problem["errors"][0]["loc"][0] == "body"
    assert await stored(influx_hub) == []


async def test_bad_items_are_refused_one_by_one_and_the_rest_stored(
    influx_hub: AsgiHub,
) -> None:
    """Issue 12 case 1: one bad reading in a 200-reading batch used to get the whole batch
    (alerts included) a 422. Now the good items are stored and the bad ones answered with
    their index, row id and reason; impossible times are stored at the receive time, flagged."""
    token = await influx_hub.gateway(GW)
    doc = make_batch(200)
    doc["readings"][3]["value"] = "31"                        # refused: a string
    doc["readings"][5]["colour"] = "red"                      # refused: unknown field
    doc["readings"][7]["value"] = 1e400                       # refused: not finite
    doc["readings"][11]["ts"] = 946_684_799_000               # 1999-12-31: re-dated
    doc["readings"][13]["ts"] += 2 * 3_600_000 + 10**12       # far future: re-dated
    doc["alerts"] = [{
        "id": 900, "node": "slope-07", "site": "bumiaji-slope", "hazard": "landslide",
        "level": 3, "previous_level": 2, "detector": "landslide", "channel": "rain",
        "ts": T0, "explanation": "x", "explanation_en": "x", "values": {}, "thresholds": {},
        "window_s": 0, "backfill": False}]
    r = await influx_hub.client.post("/api/v1/ingest", content=json.dumps(doc).encode(),
                                     headers=auth(token))
    assert r.status_code == 200, r.text
    ack = r.json()
    assert ack["status"] == "stored" and ack["stored"] == 197
    assert [(i["kind"], i["index"], i["id"]) for i in ack["rejected_items"]] == [
        ("reading", 3, 4), ("reading", 5, 6), ("reading", 7, 8)]
    assert ack["rejected_items"][0]["reason"].startswith("value:")
    points = {p.seq: p for p in await stored(influx_hub)}
    assert len(points) == 197 and not {4, 6, 8} & set(points)
    for seq, index in ((12, 11), (14, 13)):  # stored at the gateway's receive time
        assert points[seq].ts == doc["readings"][index]["rx"]
    metrics = (await influx_hub.client.get("/metrics")).text
    # the alert beside the bad readings reached the incident service (stored, or no 200)
    assert 'siaga_ingest_alerts_total{transport="http"} 1' in metrics
    assert ('siaga_ingest_rejected_items_total{transport="http",kind="reading"} 3'
            in metrics)
    assert 'siaga_ingest_redated_items_total{transport="http",kind="reading"} 2' in metrics


async def test_too_large_is_413_before_and_after_gzip(
    hub_settings_factory: Callable[..., HubSettings],
) -> None:
    settings = hub_settings_factory(ingest={"max_batch_bytes": 4096,
                                            "max_compressed_bytes": 2048})
    async with asgi_hub(settings) as hub:
        token = await hub.gateway(GW)
        big = json.dumps(make_batch(40)).encode()
        assert len(big) > 4096
        r = await hub.client.post("/api/v1/ingest", content=big, headers=auth(token))
        assert r.status_code == 413, r.text
        packed = gzip.compress(big)
        assert len(packed) < 2048
        r = await hub.client.post("/api/v1/ingest", content=packed,
                                  headers={**auth(token), "Content-Encoding": "gzip"})
        assert r.status_code == 413, r.text
        small = json.dumps(make_batch(3)).encode()
        r = await hub.client.post("/api/v1/ingest", content=small, headers=auth(token))
        assert r.status_code == 200
        assert len(await stored(hub)) == 3


async def test_sqlite_store_reports_exact_duplicates_for_overlapping_batches(hub: AsgiHub) -> None:
    token = await hub.gateway(GW)
    r = await hub.client.post("/api/v1/ingest", json=make_batch(4), headers=auth(token))
    assert r.json()["stored"] == 4
    # A new batch id whose first two rows were already stored (a split resend).
    overlap = make_batch(4, first_id=3)
    overlap["readings"][:2] = copy.deepcopy(make_batch(4)["readings"][2:])
    r = await hub.client.post("/api/v1/ingest", json=overlap, headers=auth(token))
    assert r.json() == {"batch": overlap["batch"], "status": "stored", "reason": None, "stored": 2,
                        "duplicates": 2, "rejected_items": []}
    assert len(await stored(hub)) == 6


async def test_heartbeat_is_accepted_for_the_right_gateway_only(influx_hub: AsgiHub) -> None:
    token = await influx_hub.gateway(GW)
    hb = {"v": 1, "gateway": GW, "ts": T0, "uptime_s": 12.5,
          "buffer": {"depth": 3, "alerts": 0, "oldest_age_s": 1.0, "dropped_readings": 7,
                     "bytes": 4096},
          "nodes": {"slope-07": {"last_seen": T0, "frames_ok": 10, "gaps": 0}},
          "cpu_temp_c": None, "disk_free_bytes": None}
    r = await influx_hub.client.post("/api/v1/heartbeat", json=hb, headers=auth(token))
    assert r.status_code == 200, r.text
    r = await influx_hub.client.post("/api/v1/heartbeat", json=dict(hb, gateway="gw-x"),
                                     headers=auth(token))
    assert r.status_code == 403
    r = await influx_hub.client.post("/api/v1/heartbeat", json=hb)
    assert r.status_code == 401
    metrics = (await influx_hub.client.get("/metrics")).text
    assert f'siaga_gateway_dropped_readings{{gateway="{GW}"}} 7' in metrics


def alert(**extra: Any) -> dict[str, Any]:
    return {"id": 57, "node": "slope-07", "site": "bumiaji-slope", "hazard": "landslide",
            "level": 3, "previous_level": 2, "detector": "landslide", "channel": "rain",
            "ts": T0 + 60_000, "explanation": "Hujan 3 jam 78 mm", "explanation_en": "Rain 78 mm",
            "values": {"rain_3h_mm": 78.0}, "thresholds": {"siaga_mm": 60.0},
            "window_s": 10800, "backfill": False, **extra}


async def test_alerts_in_a_batch_open_one_incident_and_a_resend_changes_nothing(
    influx_hub: AsgiHub,
) -> None:
    token = await influx_hub.gateway(GW)
    admin = await influx_hub.staff(role="admin", agency="DISKOMINFO")
    body = make_batch(2, alerts=[alert()])
    for _ in range(2):
        r = await influx_hub.client.post("/api/v1/ingest", json=body, headers=auth(token))
        assert r.status_code == 200, r.text
    r = await influx_hub.client.get("/api/v1/incidents", headers=admin.headers)
    assert r.status_code == 200, r.text
    doc = r.json()
    incidents = doc if isinstance(doc, list) else doc["items"]
    assert len(incidents) == 1
    assert incidents[0]["hazard"] == "landslide" and incidents[0]["alert_count"] == 1
    # the incident event also lands in InfluxDB for Grafana annotations
    events: list[Any] = []
    for _ in range(100):
        events = await influx_hub.services.telemetry.incident_events(T0 - 86_400_000,
                                                                     2**41)
        if events:
            break
        await asyncio.sleep(0.05)
    assert events and events[0].hazard == "landslide" and "BPBD" in events[0].agencies
