"""bench_hub_ingest.py ``--drain N``: a gateway's buffered backlog of N readings drained by the
real uplinks into the hub and influxd, the batch sizer off (``batch_ceiling_count`` =
``batch_max_count`` = 500) and on (ceiling ``--drain-ceiling``), interleaved off, on, off, on.

Per run: CPU seconds per 1k readings of the gateway side (a child process: the buffer and the
uplink thread, from the uplink's start to the last ack; the backlog is appended before the
clock starts), the hub and influxd; batches sent; the child's peak RSS during the drain
(VmHWM reset after the backlog is appended); readings counted in InfluxDB must equal N.
HTTP posts to ``siaga-hub serve``; MQTT publishes through Mosquitto to the hub's subscriber.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from hub_ingest_phases import influx_count
from machine_figures import cpu_seconds

from siaga.simulators.servers import HubProcess, InfluxDB, Mosquitto

FLOOR = 500  # uplink.batch_max_count, the default


def drain_phase(hub: HubProcess, influx: InfluxDB, broker: Mosquitto, workdir: Path,
                readings: int, ceiling: int, runs: int) -> bool:
    assert hub.proc is not None and influx.proc is not None
    print(f"  drain: {readings:,} buffered readings per run, batch_max_count {FLOOR}, "
          f"sizer off (ceiling {FLOOR}) / on (ceiling {ceiling}), interleaved")
    ok = True
    for run in range(runs):
        for kind in ("http", "mqtt"):
            for label, top in (("off", FLOOR), ("on", ceiling)):
                gw = f"drain-{kind}-{label}-{run}"
                target = hub.url if kind == "http" else f"{broker.host}:{broker.port}"
                secret = hub.cli("gateway", "add", gw).strip().splitlines()[-1].strip() \
                    if kind == "http" else "-"
                load = os.getloadavg()[0]
                hub0, influx0 = cpu_seconds(hub.proc.pid), cpu_seconds(influx.proc.pid)
                child = subprocess.run(
                    [sys.executable, __file__, kind, gw, str(workdir / f"{gw}.sqlite3"),
                     target, secret, str(readings), str(top)],
                    capture_output=True, text=True, timeout=600, check=True)
                hub_cpu = cpu_seconds(hub.proc.pid) - hub0
                influx_cpu = cpu_seconds(influx.proc.pid) - influx0
                figures = json.loads(child.stdout.strip().splitlines()[-1])
                time.sleep(0.5)  # the last write's answer precedes nothing the count needs
                counted = influx_count(influx, f"WHERE gateway = '{gw}'")
                ok = ok and counted == readings
                per_k = 1000 / readings
                gateway_cpu = figures["cpu_s"]
                print(f"  {kind} sizer {label:>3}: {readings / figures['wall_s']:>7,.0f} "
                      f"readings/s, {figures['batches']:>4} batches (last count "
                      f"{figures['batch_count']}); CPU s per 1k readings: gateway "
                      f"{gateway_cpu * per_k:.4f}, hub {hub_cpu * per_k:.4f}, influxd "
                      f"{influx_cpu * per_k:.4f}, sum "
                      f"{(gateway_cpu + hub_cpu + influx_cpu) * per_k:.4f}; gateway peak RSS "
                      f"{figures['peak_rss_mb']:.0f} MB; load {load:.1f}; "
                      f"{'none lost' if counted == readings else f'MISMATCH {counted}'}")
    return ok


def child(kind: str, gw: str, db: str, target: str, secret: str, n: int, ceiling: int) -> None:
    """The gateway side: buffer the backlog, then time the uplink draining it."""
    from siaga.firmware_bridge.reading import Reading
    from siaga.gateway.buffer import StoreAndForwardBuffer
    from siaga.gateway.buffer_sqlite import BufferSettings
    from siaga.gateway.uplink.http_uplink import HttpUplink
    from siaga.gateway.uplink.mqtt_uplink import MqttUplink
    from siaga.gateway.uplink.settings import UplinkSettings

    buf = StoreAndForwardBuffer(BufferSettings(path=db))
    t0 = 1_795_000_000.0
    for j in range(0, n, 5000):
        buf.append([Reading(f"bench-{i % 10:03d}", ("vwc", "temp")[i % 2], 30.0 + i % 97 / 4,
                            "%", t0 + i / 10, t0 + i / 10 + 0.05, (i // 20) % 65536, "mqtt")
                    for i in range(j, min(j + 5000, n))], [])
    common = dict(gateway_id=gw, batch_max_count=FLOOR, batch_ceiling_count=ceiling)
    up: HttpUplink | MqttUplink
    if kind == "http":
        up = HttpUplink(UplinkSettings(kind="http", url=target, token=secret, **common), buf)
    else:
        host, port = target.rsplit(":", 1)
        up = MqttUplink(UplinkSettings(kind="mqtt", host=host, port=int(port), **common), buf)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here: the drain's peak
    cpu0, wall0 = os.times(), time.perf_counter()
    up.start()
    while up.counters().entries_acked < n:
        time.sleep(0.02)
    wall, cpu1 = time.perf_counter() - wall0, os.times()
    c = up.counters()
    up.stop()
    peak = next(int(line.split()[1]) / 1024 for line in
                Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    print(json.dumps({"cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
                      "wall_s": wall, "batches": c.batches_sent, "batch_count": c.batch_count,
                      "peak_rss_mb": peak}))


if __name__ == "__main__":
    kind, gw, db, target, secret, n, ceiling = sys.argv[1:]
    child(kind, gw, db, target, secret, int(n), int(ceiling))
