"""Alert -> incident event on the live stream, with readings flowing in the background.

Starts its own influxd (siaga.simulators.servers) and a hub process (``siaga-hub serve``) with
``[telemetry] kind = "influxdb"``. Then:

1. A background gateway POSTs ``--rate`` readings/s over HTTP (10 batches a second).
2. An admin listens on ``GET /api/v1/stream`` (server-sent events).
3. Another gateway POSTs ``--alerts`` batches of one alert each, ``--interval`` s apart, over
   ``--sites`` sites (so incidents open and then update). Latency = from just before the
   POST to the arrival of the stream event that carries the alert's marker.
4. In-process: the incident engine alone (``record_alerts`` on a fresh SQLite file), alerts
   per second one per transaction and 100 per transaction.

Target (issue 5): alert -> stream event p99 under 250 ms with 5,000 readings/s flowing.

    .venv/bin/python tests/benchmarks/bench_hub_incidents.py [--alerts 300] [--rate 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

import httpx

from siaga.api.db import Database
from siaga.api.incidents.intake import AlertFacts, record_alerts
from siaga.api.incidents.schema import ensure_schema
from siaga.api.incidents.settings import IncidentSettings
from siaga.firmware_bridge.uplink import UplinkAlert
from siaga.simulators.servers import HubProcess, InfluxDB

PASSWORD = "bench-password-123"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(q * len(ordered))) - 1))]


def hub_for(workdir: Path, influx: InfluxDB) -> HubProcess:
    return HubProcess(workdir, f'[telemetry]\nkind = "influxdb"\nurl = "{influx.url}"\n'
                               'database = "bench"\n')


def readings_load(url: str, token: str, rate: int, stop: threading.Event,
                  stored: list[int]) -> None:
    """``rate`` readings/s in 10 batches a second, paced on the monotonic clock."""
    per_batch = max(1, rate // 10)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    row = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        next_at = time.monotonic()
        while not stop.is_set():
            now_ms = int(time.time() * 1000)
            rs = [{"id": row + i + 1, "node": f"load-n{(row + i) % 50:02d}", "channel": "vwc",
                   "value": 30.0, "unit": "%", "ts": now_ms, "rx": now_ms, "seq": row + i,
                   "src": "bench"} for i in range(per_batch)]
            body = {"v": 1, "gateway": "gw-load", "sent_at": now_ms, "readings": rs,
                    "batch": f"gw-load:{row + 1}-{row + per_batch}"}
            r = client.post("/api/v1/ingest", content=json.dumps(body), headers=headers)
            if r.status_code == 200:
                stored[0] += per_batch
            row += per_batch
            next_at += 0.1
            stop.wait(max(0.0, next_at - time.monotonic()))


def stream_reader(url: str, token: str, arrivals: dict[str, float],
                  ready: threading.Event, stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=url, timeout=None) as client, \
                client.stream("GET", "/api/v1/stream", headers=headers) as r:
            ready.set()
            for line in r.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    text = event.get("text", "")
                    if text.startswith("bench-") and text not in arrivals:
                        arrivals[text] = time.perf_counter()
    except httpx.HTTPError:
        if not stop.is_set():
            raise  # the hub going away at the end is expected; before it is not


def engine_only(workdir: Path, n: int) -> None:
    settings = IncidentSettings()
    for per_tx in (1, 100):
        db = Database(workdir / f"engine-{per_tx}.sqlite3")
        db.call(ensure_schema)
        now = time.time()
        facts = [AlertFacts(gateway="gw", site=f"s{i % 50}", alert=UplinkAlert(
            id=i, node=f"n{i % 200}", hazard="landslide", level=2 + i % 3, previous_level=1,
            detector="landslide", ts=int((now + i) * 1000), explanation="x",
            explanation_en="")) for i in range(n)]
        t = time.perf_counter()
        for i in range(0, n, per_tx):
            db.call(partial(record_alerts, settings=settings, alerts=facts[i:i + per_tx],
                            received_at=now))
        elapsed = time.perf_counter() - t
        db.close()
        print(f"  engine alone, {per_tx:3d} alert(s) per transaction: "
              f"{n / elapsed:8,.0f} alerts/s ({n} alerts, 50 sites)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=300)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--sites", type=int, default=20)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--engine-alerts", type=int, default=2000)
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="siaga-bench-incidents-"))
    influx = InfluxDB().start()
    hub = hub_for(workdir, influx)
    stop = threading.Event()
    try:
        load_token = hub.cli("gateway", "add", "gw-load").strip().splitlines()[-1]
        alert_token = hub.cli("gateway", "add", "gw-alert").strip().splitlines()[-1]
        hub.cli("user", "add", "bench", "--agency", "DISKOMINFO",
                "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
        hub.start()
        staff = httpx.post(f"{hub.url}/api/v1/auth/token",
                           json={"username": "bench", "password": PASSWORD}).json()
        token = staff["access_token"]

        arrivals: dict[str, float] = {}
        ready = threading.Event()
        reader = threading.Thread(target=stream_reader, daemon=True,
                                  args=(hub.url, token, arrivals, ready, stop))
        reader.start()
        ready.wait(10)
        stored = [0]
        loader = threading.Thread(target=readings_load, daemon=True,
                                  args=(hub.url, load_token.strip(), args.rate, stop, stored))
        loader.start()
        time.sleep(2)  # let the background load settle

        print(f"alert -> stream benchmark ({os.cpu_count()} cores, shared machine): "
              f"{args.alerts} alerts over {args.sites} sites, {args.rate:,} readings/s "
              "in the background into InfluxDB")
        sent: dict[str, float] = {}
        headers = {"Authorization": f"Bearer {alert_token.strip()}",
                   "Content-Type": "application/json"}
        load_start, t_start = stored[0], time.perf_counter()
        with httpx.Client(base_url=hub.url, timeout=30) as client:
            for i in range(args.alerts):
                now_ms = int(time.time() * 1000)
                marker = f"bench-{i}"
                alert = {"id": i + 1, "node": f"alert-n{i % args.sites}",
                         "site": f"bench-site-{i % args.sites}", "hazard": "landslide",
                         "level": 2 + i % 3, "previous_level": 1, "detector": "landslide",
                         "ts": now_ms, "explanation": marker, "explanation_en": marker}
                body = {"v": 1, "gateway": "gw-alert", "batch": f"gw-alert:{i}",
                        "sent_at": now_ms, "alerts": [alert]}
                payload = json.dumps(body)
                sent[marker] = time.perf_counter()
                r = client.post("/api/v1/ingest", content=payload, headers=headers)
                r.raise_for_status()
                time.sleep(args.interval)
        deadline = time.monotonic() + 10
        while len(arrivals) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = time.perf_counter() - t_start
        background = (stored[0] - load_start) / elapsed
        lat = [(arrivals[m] - sent[m]) * 1000 for m in sent if m in arrivals]
        missing = len(sent) - len(lat)
        print(f"  background readings stored: {background:,.0f}/s")
        print(f"  alert -> stream event: p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms,"
              f" max {max(lat):.1f} ms ({len(lat)} events, {missing} missing)")
        met = pct(lat, 0.99) < 250 and not missing
        print(f"  target p99 < 250 ms: {'met' if met else 'NOT met'}")
        stop.set()
        engine_only(workdir, args.engine_alerts)
        return 0 if lat and not missing else 1
    finally:
        stop.set()
        hub.stop()
        influx.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
