"""Data the browser tests put into a live hub: alerts and readings as a gateway sends them."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import httpx

from tests.api_fixtures import LiveHub

__all__ = ["alert", "ingest", "landslide"]

_ids = iter(range(1, 1_000_000))


def ingest(hub: LiveHub, token: str, gateway: str, *,
           readings: Sequence[tuple[str, str, float, str, int]] = (),
           alerts: Sequence[Mapping[str, object]] = ()) -> None:
    """POST one batch; readings are (node, channel, value, unit, ts_ms), alerts complete dicts
    but for their ``id`` and ``ts`` (now when absent)."""
    now = int(time.time() * 1000)
    batch = {
        "v": 1, "gateway": gateway, "batch": f"{gateway}:{now}:{next(_ids)}", "sent_at": now,
        "readings": [{"id": next(_ids), "node": n, "channel": c, "value": v, "unit": u, "ts": ts,
                      "rx": ts, "seq": next(_ids), "src": "serial:/dev/ttyUSB0"}
                     for n, c, v, u, ts in readings],
        "alerts": [{"id": next(_ids), "ts": now, **a} for a in alerts],
    }
    r = httpx.post(f"{hub.url}/api/v1/ingest", json=batch,
                   headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text


def alert(node: str, hazard: str, level: int, channel: str, text: str,
          **extra: object) -> dict[str, object]:
    """An alert as a gateway detector raises it."""
    return {"node": node, "hazard": hazard, "level": level, "previous_level": 1,
            "detector": hazard, "channel": channel, "explanation": text,
            "explanation_en": text, "values": {}, "thresholds": {}, "window_s": 600, **extra}


def landslide(hub: LiveHub) -> int:
    """Forty minutes of slope-07's four channels, a Waspada rain alert, then Awas on the crack."""
    token = hub.gateway("gw-bumiaji-01")
    now = int(time.time() * 1000)
    readings = [("slope-07", ch, base + i * step, unit, now - (40 - i) * 60_000)
                for ch, unit, base, step in (("rain", "mm", 0.0, 0.4), ("vwc", "%", 31.0, 0.3),
                                             ("ext", "mm", 2.0, 0.25), ("tilt", "deg", 0.5, 0.02))
                for i in range(40)]
    ingest(hub, token, "gw-bumiaji-01", readings=readings, alerts=[
        alert("slope-07", "landslide", 2, "rain", "Curah hujan 3 jam 45 mm",
              thresholds={"waspada_3h_mm": 40.0, "siaga_3h_mm": 60.0}, ts=now - 120_000)])
    ingest(hub, token, "gw-bumiaji-01", alerts=[
        alert("slope-07", "landslide", 4, "ext", "Retakan melebar 12 mm/jam",
              thresholds={"awas_mm_per_h": 10.0})])
    r = httpx.get(f"{hub.url}/api/v1/incidents", timeout=10,
                  headers=hub.staff(role="admin").headers)
    items = r.json()
    items = items if isinstance(items, list) else items["items"]
    return int(next(i["id"] for i in items if i["hazard"] == "landslide"))
