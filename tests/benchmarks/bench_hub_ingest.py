"""Readings per second stored in InfluxDB through the hub's HTTP and MQTT ingest, verified.

Starts its own influxd and Mosquitto (siaga.simulators.servers) and a hub process
(``siaga-hub serve``) with ``[telemetry] kind = "influxdb"`` and the MQTT subscriber on. Then:

1. HTTP: ``--gateways`` gateways each POST their batches of ``--batch`` readings, one request
   in flight per gateway (like a real gateway), bodies built before the clock starts.
   Time = first request to last 200 (a 200 is sent only after influxd confirmed the write).
2. MQTT: the same over ``siaga/gw/<id>/data`` at QoS 1, ``--inflight`` batches per gateway
   awaiting their ack on ``siaga/gw/<id>/ack``.
3. Verification: ``SELECT count(value)`` per transport in InfluxDB must equal what was sent.
4. Alert -> stream: ``--alerts`` alerts (each a new flood incident) POSTed one by one while
   ``--background`` readings/s flow in; time until each ``incident.opened`` arrives on
   ``GET /api/v1/stream`` (p50, p99).
5. Queries: 24 h of 1-minute data of one channel (raw, and hourly aggregates) and the latest
   values of a node, through the HTTP API with a staff token, p50/p99 of ``--query-runs``.
   ``--month-nodes N`` first loads 30 days of 1-minute data for N nodes straight into influxd
   (the issue's "a month of 1-minute data for 500 nodes") so the query runs against that.
   ``--sqlite-nodes N`` times the same queries on the SqliteStore over 30 days x N nodes.
6. Encoder micro-benchmark: our line-protocol encoder vs influxdb_client's Point, and wire
   validation per reading.

Targets (issue 5): >= 100,000 readings/s stored with none lost; 24 h query < 50 ms; alert to
stream event p99 < 250 ms with 5,000 readings/s in the background.

    .venv/bin/python tests/benchmarks/bench_hub_ingest.py [--readings 500000] [--batch 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from siaga.simulators.servers import HubProcess, InfluxDB, Mosquitto

ROOT = Path(__file__).resolve().parents[2]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
T0 = 1_790_000_000_000  # 2026-09-21, so no reading is in the hub's future
MIN = 60_000
DAY = 86_400_000
CHANNELS = ("vwc", "rain", "temp", "hum", "tilt")
SIAGA_HUB = str(ROOT / ".venv" / "bin" / "siaga-hub")
PASSWORD = "bench-password-123"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def build_batches(gateway: str, readings: int, batch: int,
                  offset: int = 0) -> list[tuple[str, bytes]]:
    """JSON bodies of ``gateway``'s batches: 50 nodes x 5 channels, 1-minute steps; rows
    ``offset`` .. ``offset + readings`` (distinct ids, times and batch ids)."""
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
        out.append((bid, json.dumps(doc, separators=(",", ":")).encode()))
        row += n
    return out


def influx_count(influx: InfluxDB, where: str) -> int:
    q = urllib.parse.urlencode({"db": "bench", "q": f"SELECT count(value) FROM reading {where}"})
    with urllib.request.urlopen(f"{influx.url}/query?{q}", timeout=120) as r:
        doc = json.load(r)
    series = doc["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def cli(config: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([SIAGA_HUB, *args, "--config", str(config)], input=stdin,
                          capture_output=True, text=True, cwd=config.parent)
    if done.returncode != 0:
        raise RuntimeError(f"siaga-hub {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


def hub_for(workdir: Path, influx: InfluxDB, broker: Mosquitto) -> HubProcess:
    return HubProcess(workdir, (
        f'[telemetry]\nkind = "influxdb"\nurl = "{influx.url}"\ndatabase = "bench"\n'
        f'[mqtt]\nenabled = true\nhost = "{broker.host}"\nport = {broker.port}\n'
        'client_id = "bench-hub"\nqueue_size = 8\nworkers = 4\n'
        '[ingest]\nmax_batch_bytes = 67108864\nmax_future_skew_s = 86400\n'))


def http_phase(hub: HubProcess, plans: dict[str, list[tuple[str, bytes]]],
               tokens: dict[str, str]) -> float:
    """One thread per gateway on a keep-alive http.client connection (a light client, so the
    figure is the hub's, not the load generator's)."""
    errors: list[str] = []

    def gateway(gw: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=120)
        headers = {"Authorization": f"Bearer {tokens[gw]}", "Content-Type": "application/json"}
        for bid, body in plans[gw]:
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


def load_month(influx: InfluxDB, nodes: int, days: int) -> float:
    """``nodes`` x ``days`` of 1-minute vwc data straight into influxd (background data)."""
    started = time.perf_counter()
    end = T0 + 10 * DAY
    start = end - days * DAY
    step_lines = 10_000
    with httpx.Client(base_url=influx.url, timeout=120) as client:
        buf: list[str] = []
        for n in range(nodes):
            for ts in range(start, end, MIN):
                # the hub's own form: seq in the time's sub-ms part (line_protocol.py)
                buf.append(f"reading,channel=vwc,gateway=month,node=month-n{n:03d} "
                           f"value={20 + (ts // MIN) % 30}.5 "
                           f"{ts * 1_000_000 + ts // MIN % 65536}")
                if len(buf) >= step_lines:
                    client.post("/write", params={"db": "bench", "precision": "ns"},
                                content="\n".join(buf)).raise_for_status()
                    buf.clear()
        if buf:
            client.post("/write", params={"db": "bench", "precision": "ns"},
                        content="\n".join(buf)).raise_for_status()
    return time.perf_counter() - started


def timed_gets(client: httpx.Client, path: str, params: dict[str, Any], headers: dict[str, str],
               runs: int) -> tuple[list[float], Any]:
    times = []
    doc = None
    for _ in range(runs):
        t = time.perf_counter()
        r = client.get(path, params=params, headers=headers)
        times.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
        doc = r.json()
    return times, doc


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def query_phase(hub: HubProcess, influx: InfluxDB, staff_headers: dict[str, str], node: str,
                runs: int) -> None:
    end = T0 + 10 * DAY
    day = {"channel": "vwc", "from": end - DAY, "to": end}
    # influxd alone, the same InfluxQL the store sends, for how much of the time is the hub's
    q = (f"SELECT value, seq, gateway FROM \"reading\" WHERE node = '{node}' AND channel = 'vwc'"
         f" AND time >= {(end - DAY) * 1_000_000} AND time < {end * 1_000_000}"
         " ORDER BY time ASC LIMIT 10000")
    with httpx.Client(base_url=influx.url, timeout=60) as client:
        times, _ = timed_gets(client, "/query", {"db": "bench", "q": q, "epoch": "ns"}, {},
                              runs)
        print(f"  influxd alone raw 24 h: p50 {pct(times, .5):6.1f} ms  "
              f"p99 {pct(times, .99):6.1f} ms")
    with httpx.Client(base_url=hub.url, timeout=60) as client:
        for name, params in (("raw 24 h", day), ("hourly 24 h", {**day, "every": "1h"}),
                             ("latest", None)):
            path = f"/api/v1/nodes/{node}/latest" if params is None else \
                f"/api/v1/nodes/{node}/readings"
            timed_gets(client, path, params or {}, staff_headers, 3)  # warm up
            times, doc = timed_gets(client, path, params or {}, staff_headers, runs)
            size = (len(doc["readings"]) if "readings" in doc else
                    len(doc.get("intervals", doc.get("channels", []))))
            print(f"  query {name:12s}: {size:5d} rows  p50 {pct(times, .5):6.1f} ms  "
                  f"p99 {pct(times, .99):6.1f} ms  max {max(times):6.1f} ms")


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


def sqlite_query_phase(nodes: int, days: int, runs: int) -> None:
    """The same queries on the embedded SqliteStore (store level) over ``nodes`` x ``days``
    of 1-minute data, written in bulk as the store's own transactions would."""
    from siaga.api.telemetry.sqlite import SqliteStore

    path = Path(tempfile.mkdtemp(prefix="siaga-bench-sqlite-")) / "telemetry.sqlite3"
    store = SqliteStore(path)
    end = T0 + 10 * DAY
    start = end - days * DAY

    async def run() -> None:
        await store.start()
        t = time.perf_counter()

        def load(conn: Any) -> None:
            conn.execute("PRAGMA synchronous=OFF")  # bulk load only; the store uses FULL
            conn.execute("BEGIN")
            for n in range(nodes):
                conn.executemany(
                    "INSERT INTO reading (node, channel, ts, gateway, seq, value)"
                    " VALUES (?, 'vwc', ?, 'month', ?, ?)",
                    ((f"month-n{n:03d}", ts, ts // MIN % 100000, 20.5 + (ts // MIN) % 30)
                     for ts in range(start, end, MIN)))
                conn.execute("INSERT OR REPLACE INTO latest_reading VALUES (?, 'vwc', ?, 0, 1.0)",
                             (f"month-n{n:03d}", end - MIN))
            conn.execute("COMMIT")

        await store.db.run(load)
        print(f"  SQLite: loaded {nodes * days * 1440:,} rows in {time.perf_counter() - t:.0f} s "
              f"({path.stat().st_size / 1e9:.1f} GB)")
        node = f"month-n{nodes // 2:03d}"
        for name, call in (
            ("raw 24 h", lambda: store.readings(node, "vwc", end - DAY, end)),
            ("hourly 24 h", lambda: store.aggregate(node, "vwc", end - DAY, end, 3_600_000)),
            ("latest", lambda: store.latest(node)),
        ):
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                rows = await call()
                times.append((time.perf_counter() - t) * 1000)
            print(f"  SQLite {name:12s}: {len(rows):5d} rows  p50 {pct(times, .5):6.1f} ms  "
                  f"p99 {pct(times, .99):6.1f} ms")
        await store.close()

    try:
        asyncio.run(run())
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def encoder_bench() -> None:
    from influxdb_client import Point

    from siaga.api.ingest.body import parse_batch
    from siaga.api.telemetry.line_protocol import encode_readings, reading_time_ns

    _, body = build_batches("enc", 5000, 5000)[0]
    t = time.perf_counter()
    for _ in range(5):
        batch = parse_batch(body)
    validate = (time.perf_counter() - t) / 5
    rs = batch.readings
    t = time.perf_counter()
    for _ in range(5):
        encode_readings("reading", "enc", rs)
    ours = (time.perf_counter() - t) / 5
    t = time.perf_counter()
    "\n".join(Point("reading").tag("gateway", "enc").tag("node", r.node)
              .tag("channel", r.channel).field("value", r.value).field("seq", r.seq)
              .time(reading_time_ns(r.ts, r.seq)).to_line_protocol() for r in rs)
    theirs = time.perf_counter() - t
    print(f"  wire validation      : {5000 / validate:10,.0f} readings/s")
    print(f"  line protocol (ours) : {5000 / ours:10,.0f} points/s")
    print(f"  influxdb_client Point: {5000 / theirs:10,.0f} points/s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--readings", type=int, default=500_000, help="per transport")
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--gateways", type=int, default=4)
    ap.add_argument("--inflight", type=int, default=2, help="MQTT batches awaiting ack per gw")
    ap.add_argument("--query-runs", type=int, default=50)
    ap.add_argument("--alerts", type=int, default=100, help="alerts timed to the stream")
    ap.add_argument("--background", type=int, default=5000, help="readings/s meanwhile")
    ap.add_argument("--month-nodes", type=int, default=0,
                    help="load 30 days x 1-minute data for this many nodes before querying")
    ap.add_argument("--sqlite-nodes", type=int, default=0,
                    help="also time the SQLite store's queries on 30 days x this many nodes")
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="siaga-bench-hub-"))
    influx, broker = InfluxDB().start(), Mosquitto().start()
    hub = hub_for(workdir, influx, broker)
    try:
        per_gw = args.readings // args.gateways
        http_gws = [f"http-gw-{i}" for i in range(args.gateways)]
        mqtt_gws = [f"mqtt-gw-{i}" for i in range(args.gateways)]
        tokens = {gw: cli(hub.config, "gateway", "add", gw).strip().splitlines()[-1].strip()
                  for gw in [*http_gws, "lat-gw"]}
        cli(hub.config, "user", "add", "bench", "--agency", "DISKOMINFO",
            "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
        hub.start(settle_s=0.5)
        assert hub.proc is not None and influx.proc is not None
        print(f"hub ingest benchmark ({os.cpu_count()} cores, shared machine): "
              f"{args.gateways} gateways x {per_gw:,} readings, batches of {args.batch:,}")
        t = time.perf_counter()
        http_plans = {gw: build_batches(gw, per_gw, args.batch) for gw in http_gws}
        mqtt_plans = {gw: build_batches(gw, per_gw, args.batch) for gw in mqtt_gws}
        print(f"  (bodies built in {time.perf_counter() - t:.1f} s, not timed)")
        total = per_gw * args.gateways

        for name, run in (
            ("HTTP", lambda: http_phase(hub, http_plans, tokens)),
            ("MQTT", lambda: mqtt_phase(broker, mqtt_plans, args.inflight)),
        ):
            hub_pid, influx_pid = hub.proc.pid, influx.proc.pid
            hub_cpu, influx_cpu = cpu_seconds(hub_pid), cpu_seconds(influx_pid)
            busy0, total0 = machine_busy()
            own0 = time.process_time()
            elapsed = run()
            own = time.process_time() - own0
            busy1, total1 = machine_busy()
            hub_cpu = cpu_seconds(hub_pid) - hub_cpu
            influx_cpu = cpu_seconds(influx_pid) - influx_cpu
            prefix = "http-gw" if name == "HTTP" else "mqtt-gw"
            counted = influx_count(influx, f"WHERE gateway =~ /^{prefix}-/")
            status = "none lost" if counted == total else f"MISMATCH: {counted} of {total}"
            print(f"  {name}: {total:,} readings stored in {elapsed:.2f} s = "
                  f"{total / elapsed:,.0f} readings/s ({status}); CPU hub {hub_cpu:.1f} s, "
                  f"influxd {influx_cpu:.1f} s, load generator {own:.1f} s; machine "
                  f"{100 * (busy1 - busy0) / (total1 - total0):.0f}% busy")
            if counted != total:
                return 1

        if args.month_nodes:
            took = load_month(influx, args.month_nodes, 30)
            print(f"  loaded 30 days x 1-minute data for {args.month_nodes} nodes "
                  f"({args.month_nodes * 30 * 1440:,} points) in {took:.0f} s")
            node = f"month-n{args.month_nodes // 2:03d}"
        else:
            load_month(influx, 1, 2)
            node = "month-n000"
        login = httpx.post(f"{hub.url}/api/v1/auth/token",
                           json={"username": "bench", "password": PASSWORD}).json()
        staff_headers = {"Authorization": f"Bearer {login['access_token']}"}
        query_phase(hub, influx, staff_headers, node, args.query_runs)
        if args.alerts:
            alert_latency_phase(hub, tokens["lat-gw"], staff_headers, args.alerts,
                                args.background)
        if args.sqlite_nodes:
            sqlite_query_phase(args.sqlite_nodes, 30, args.query_runs)
        encoder_bench()
        return 0
    finally:
        hub.stop()
        influx.cleanup()
        broker.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
