"""The hub benchmark's alert latency (bench_hub_ingest.py, step 4): alert POSTed -> its
``incident.opened`` on the live stream, with readings flowing in meanwhile."""

from __future__ import annotations

import http.client
import json
import threading
import time

import httpx
from hub_ingest_phases import build_batches
from machine_figures import pct

from siaga.simulators.servers import HubProcess


def alert_latency_phase(hub: HubProcess, token: str, staff_headers: dict[str, str], alerts: int,
                        background: int) -> None:
    """Alert POSTed -> its ``incident.opened`` on /api/v1/stream, with ``background``
    readings/s flowing into the hub over HTTP at the same time (another gateway)."""
    seen: dict[str, float] = {}
    ready = threading.Event()
    stop = threading.Event()

    def listen() -> None:
        with httpx.Client(base_url=hub.url, timeout=None) as client, \
                client.stream("GET", "/api/v1/stream", headers=staff_headers) as r:
            ready.set()
            try:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        site = (event.get("incident") or {}).get("site", "")
                        if event.get("type") == "incident.opened" and site not in seen:
                            seen[site] = time.perf_counter()
                    if stop.is_set():
                        return
            except httpx.HTTPError:
                return  # the hub shut down

    def flow() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=60)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        per_batch = max(1, background // 10)  # ten batches a second
        i = 0
        next_at = time.perf_counter()
        while not stop.is_set():
            _, body = build_batches("lat-gw", per_batch, per_batch, offset=i * per_batch)[0]
            conn.request("POST", "/api/v1/ingest", body=body, headers=headers)
            conn.getresponse().read()
            i += 1
            next_at += 0.1
            time.sleep(max(0.0, next_at - time.perf_counter()))

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    ready.wait(10)
    flower = threading.Thread(target=flow, daemon=True)
    flower.start()
    time.sleep(1.0)
    sent: dict[str, float] = {}
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    now_ms = int(time.time() * 1000)
    for i in range(alerts):
        site = f"lat-site-{i:04d}"
        alert = {"id": i + 1, "node": f"lat-node-{i}", "site": site, "hazard": "flood",
                 "level": 3, "previous_level": 1, "detector": "flood", "channel": "rain",
                 "ts": now_ms + i, "explanation": "uji", "explanation_en": "test",
                 "values": {}, "thresholds": {}, "window_s": 600, "backfill": False}
        doc = {"v": 1, "gateway": "lat-gw", "batch": f"lat-gw:alert-{i}", "sent_at": now_ms,
               "readings": [], "alerts": [alert]}
        sent[site] = time.perf_counter()
        conn.request("POST", "/api/v1/ingest", body=json.dumps(doc).encode(), headers=headers)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"alert batch answered {r.status}")
        time.sleep(0.05)
    deadline = time.monotonic() + 10
    while len(seen.keys() & sent.keys()) < alerts and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    got = [(seen[s] - sent[s]) * 1000 for s in sent if s in seen]
    if not got:
        print("  alert -> stream: no events seen")
        return
    print(f"  alert -> stream ({len(got)}/{alerts} events, {background:,} readings/s "
          f"in the background): p50 {pct(got, .5):.1f} ms  p99 {pct(got, .99):.1f} ms  "
          f"max {max(got):.1f} ms")
