"""Data the browser tests put into a live hub: alerts and readings as a gateway sends them."""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from tests.api_fixtures import LiveHub

__all__ = ["ingest"]

_ids = iter(range(1, 1_000_000))


def ingest(hub: LiveHub, token: str, gateway: str, *,
           readings: list[tuple[str, str, float, str, int]] = (),  # type: ignore[assignment]
           alerts: list[Mapping[str, object]] = ()) -> None:  # type: ignore[assignment]
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
