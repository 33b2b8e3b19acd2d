"""The hub benchmark's ingest load (bench_hub_ingest.py, steps 1-3): batch bodies built ahead,
sent over HTTP or MQTT as gateways would, and the readings counted back in InfluxDB."""

from __future__ import annotations

import gzip
import http.client
import json
import threading
import time
import urllib.parse
import urllib.request

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from siaga.simulators.servers import HubProcess, InfluxDB, Mosquitto

T0 = 1_790_000_000_000  # 2026-09-21, so no reading is in the hub's future
MIN = 60_000
DAY = 86_400_000
CHANNELS = ("vwc", "rain", "temp", "hum", "tilt")


def build_batches(gateway: str, readings: int, batch: int,
                  offset: int = 0, compress: bool = False) -> list[tuple[str, bytes]]:
    """JSON bodies of ``gateway``'s batches: 50 nodes x 5 channels, 1-minute steps; rows
    ``offset`` .. ``offset + readings`` (distinct ids, times and batch ids); gzipped at the
    gateway's level 5 when ``compress``."""
    out = []
    row = offset
    while row < offset + readings:
        n = min(batch, offset + readings - row)
        rs = []
        for i in range(row, row + n):
            node, ch, step = i % 50, CHANNELS[(i // 50) % 5], i // 250
            ts = T0 + step * MIN
            rs.append({"id": i + 1, "node": f"{gateway}-n{node:02d}", "channel": ch,
                       "value": round(20 + (i % 997) * 0.01, 2), "unit": "", "ts": ts,
                       "rx": ts + 40, "seq": step, "src": "serial:/dev/ttyUSB0", "raw": None,
                       "skew": False, "reset": False, "backfill": False})
        bid = f"{gateway}:{row + 1:012d}-{row + n:012d}"
        doc = {"v": 1, "gateway": gateway, "batch": bid, "sent_at": T0, "backfill": False,
               "readings": rs, "alerts": [], "loss": {"dropped_readings": 0,
                                                      "dropped_since": None}}
        body = json.dumps(doc, separators=(",", ":")).encode()
        out.append((bid, gzip.compress(body, compresslevel=5) if compress else body))
        row += n
    return out


def influx_count(influx: InfluxDB, where: str) -> int:
    q = urllib.parse.urlencode({"db": "bench", "q": f"SELECT count(value) FROM reading {where}"})
    with urllib.request.urlopen(f"{influx.url}/query?{q}", timeout=120) as r:
        doc = json.load(r)
    series = doc["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def influx_writes(influx: InfluxDB) -> tuple[int, int]:
    """(``POST /write`` requests, points written) that influxd counted so far."""
    with urllib.request.urlopen(f"{influx.url}/debug/vars", timeout=30) as r:
        doc = json.load(r)
    httpd = next(v["values"] for k, v in doc.items() if k.startswith("httpd"))
    return int(httpd["writeReq"]), int(httpd["pointsWrittenOK"])


def http_phase(hub: HubProcess, plans: dict[str, list[tuple[str, bytes]]],
               tokens: dict[str, str], *, compressed: bool = False,
               connect_per_batch: bool = False) -> float:
    """One thread per gateway on a keep-alive http.client connection (a light client, so the
    figure is the hub's, not the load generator's); ``connect_per_batch``: a new connection
    for every batch, as the gateway's urllib uplink makes."""
    errors: list[str] = []

    def gateway(gw: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=120)
        headers = {"Authorization": f"Bearer {tokens[gw]}", "Content-Type": "application/json"}
        if compressed:
            headers["Content-Encoding"] = "gzip"
        for bid, body in plans[gw]:
            if connect_per_batch:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=120)
            conn.request("POST", "/api/v1/ingest", body=body, headers=headers)
            r = conn.getresponse()
            answer = r.read()
            if r.status != 200 or json.loads(answer)["batch"] != bid:
                errors.append(f"{gw}: {r.status} {answer[:300]!r}")
                return
        conn.close()

    threads = [threading.Thread(target=gateway, args=(gw,)) for gw in plans]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    return time.perf_counter() - started


def mqtt_phase(broker: Mosquitto, plans: dict[str, list[tuple[str, bytes]]],
               inflight: int) -> float:
    done = threading.Event()
    lock = threading.Lock()
    pending = {gw: {bid for bid, _ in batches} for gw, batches in plans.items()}
    windows = {gw: threading.Semaphore(inflight) for gw in plans}
    failures: list[str] = []
    clients = []

    def on_message(client: mqtt.Client, gw: str, msg: mqtt.MQTTMessage) -> None:
        ack = json.loads(msg.payload)
        with lock:
            if ack["status"] != "stored":
                failures.append(str(ack))
            if ack["batch"] in pending[gw]:
                pending[gw].discard(ack["batch"])
                windows[gw].release()
            if not any(pending.values()) or failures:
                done.set()

    for gw in plans:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"siaga-gw-{gw}", userdata=gw)
        c.on_message = on_message
        c.connect(broker.host, broker.port)
        c.subscribe(f"siaga/gw/{gw}/ack", qos=1)
        c.loop_start()
        clients.append(c)
    time.sleep(0.5)

    def publisher(gw: str, client: mqtt.Client) -> None:
        for _, body in plans[gw]:
            windows[gw].acquire()
            client.publish(f"siaga/gw/{gw}/data", body, qos=1)

    threads = [threading.Thread(target=publisher, args=(gw, c), daemon=True)
               for gw, c in zip(plans, clients, strict=True)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    if not done.wait(600):
        raise RuntimeError(f"MQTT acks missing: {sum(len(p) for p in pending.values())}")
    elapsed = time.perf_counter() - started
    for c in clients:
        c.disconnect()
        c.loop_stop()
    if failures:
        raise RuntimeError(f"MQTT batches not stored: {failures[:3]}")
    return elapsed
