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

``--drain N`` runs only hub_drain_phase.py instead: a gateway's buffered backlog of N readings
drained by the real HTTP and MQTT uplinks with the batch sizer off and on, interleaved (CPU
per 1k readings of gateway, hub and influxd, the gateway side's peak RSS); ``--flood N`` runs
only hub_flood_phase.py: N device messages through the real ``siaga-gateway run`` and either
uplink, the sizer off and on, interleaved (``--drain-runs`` times).

Targets (issue 5): >= 100,000 readings/s stored with none lost; 24 h query < 50 ms; alert to
stream event p99 < 250 ms with 5,000 readings/s in the background.

    .venv/bin/python tests/benchmarks/bench_hub_ingest.py [--readings 500000] [--batch 5000]

The steps live beside this script: hub_ingest_phases.py (1-3), hub_alert_phase.py (4),
hub_query_phases.py (5); machine_figures.py reads CPU and percentiles.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import httpx
from hub_alert_phase import alert_latency_phase
from hub_drain_phase import drain_phase
from hub_flood_phase import flood_phase
from hub_ingest_phases import build_batches, http_phase, influx_count, influx_writes, mqtt_phase
from hub_query_phases import load_month, query_phase, sqlite_query_phase
from machine_figures import cpu_seconds, machine_busy

from siaga.simulators.servers import HubProcess, InfluxDB, Mosquitto

PASSWORD = "bench-password-123"


def hub_for(workdir: Path, influx: InfluxDB, broker: Mosquitto,
            telemetry: str = "") -> HubProcess:
    return HubProcess(workdir, (
        f'[telemetry]\nkind = "influxdb"\nurl = "{influx.url}"\ndatabase = "bench"\n'
        f"{telemetry}"
        f'[mqtt]\nenabled = true\nhost = "{broker.host}"\nport = {broker.port}\n'
        'client_id = "bench-hub"\nqueue_size = 8\nworkers = 4\n'
        '[ingest]\nmax_batch_bytes = 67108864\nmax_future_skew_s = 86400\n'))


def encoder_bench() -> None:
    from influxdb_client import Point

    from siaga.api.ingest.body import parse_batch
    from siaga.api.telemetry.line_protocol import encode_readings, reading_time_ns

    _, body = build_batches("enc", 5000, 5000)[0]
    t = time.perf_counter()
    for _ in range(5):
        batch = parse_batch(body).batch
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
    ap.add_argument("--gzip", action="store_true",
                    help="HTTP bodies gzipped, as the gateway sends them")
    ap.add_argument("--connect-per-batch", action="store_true",
                    help="a new HTTP connection per batch, as the gateway's urllib makes")
    ap.add_argument("--ingest-only", action="store_true",
                    help="steps 1-3 only (the CPU per reading figures), no queries or alerts")
    ap.add_argument("--drain", type=int, default=0,
                    help="only: drain a buffered backlog of N readings, batch sizer off/on")
    ap.add_argument("--flood", type=int, default=0,
                    help="only: a flood of N messages through siaga-gateway run, sizer off/on")
    ap.add_argument("--drain-ceiling", type=int, default=5000,
                    help="uplink.batch_ceiling_count of --drain and --flood")
    ap.add_argument("--drain-runs", type=int, default=2)
    ap.add_argument("--telemetry", default="",
                    help='extra [telemetry] lines for the hub, e.g. "write_concurrency = 1"')
    args = ap.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="siaga-bench-hub-"))
    influx, broker = InfluxDB().start(), Mosquitto().start()
    hub = hub_for(workdir, influx, broker, args.telemetry.replace("\\n", "\n") + "\n")
    try:
        per_gw = args.readings // args.gateways
        http_gws = [f"http-gw-{i}" for i in range(args.gateways)]
        mqtt_gws = [f"mqtt-gw-{i}" for i in range(args.gateways)]
        tokens = {gw: hub.cli("gateway", "add", gw).strip().splitlines()[-1].strip()
                  for gw in [*http_gws, "lat-gw"]}
        hub.cli("user", "add", "bench", "--agency", "DISKOMINFO",
                "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
        hub.start(settle_s=0.5)
        assert hub.proc is not None and influx.proc is not None
        if args.drain:
            return 0 if drain_phase(hub, influx, broker, workdir, args.drain,
                                    args.drain_ceiling, args.drain_runs) else 1
        if args.flood:
            return 0 if flood_phase(hub, influx, broker, workdir, args.flood,
                                    args.drain_ceiling, args.drain_runs) else 1
        print(f"hub ingest benchmark ({os.cpu_count()} cores, shared machine): "
              f"{args.gateways} gateways x {per_gw:,} readings, batches of {args.batch:,}")
        t = time.perf_counter()
        http_plans = {gw: build_batches(gw, per_gw, args.batch, compress=args.gzip)
                      for gw in http_gws}
        mqtt_plans = {gw: build_batches(gw, per_gw, args.batch) for gw in mqtt_gws}
        print(f"  (bodies built in {time.perf_counter() - t:.1f} s, not timed)")
        total = per_gw * args.gateways

        for name, run in (
            ("HTTP", lambda: http_phase(hub, http_plans, tokens, compressed=args.gzip,
                                        connect_per_batch=args.connect_per_batch)),
            ("MQTT", lambda: mqtt_phase(broker, mqtt_plans, args.inflight)),
        ):
            hub_pid, influx_pid = hub.proc.pid, influx.proc.pid
            hub_cpu, influx_cpu = cpu_seconds(hub_pid), cpu_seconds(influx_pid)
            busy0, total0 = machine_busy()
            own0 = time.process_time()
            writes0, _ = influx_writes(influx)
            elapsed = run()
            writes = influx_writes(influx)[0] - writes0
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
            print(f"  {name}: CPU s per 1k readings: hub {1000 * hub_cpu / total:.4f}, "
                  f"influxd {1000 * influx_cpu / total:.4f}; {writes} /writes of "
                  f"{total / max(writes, 1):,.0f} points (load average "
                  f"{os.getloadavg()[0]:.1f})")
            if counted != total:
                return 1
        if args.ingest_only:
            return 0

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
