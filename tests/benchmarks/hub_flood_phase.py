"""bench_hub_ingest.py ``--flood N``: the real ``siaga-gateway run`` (its defaults, every
detector, durable buffer) takes a flood of N device messages (2 readings each, 10 nodes,
``mosquitto_pub -l`` at QoS 1 as in the side-by-side kit, from bench_alert_latency's files)
from a device Mosquitto (in-flight window 100, queue 100,000: deploy/mosquitto/gateway.conf)
and sends it to the hub over the HTTP or the MQTT uplink, the batch sizer off
(``batch_ceiling_count`` 500) and on (``--drain-ceiling``), interleaved.

Per run: seconds from the first publish until influxd has written 2N points (its own counter,
polled), CPU seconds per 1k readings of the gateway, the hub and influxd over that time, the
``POST /write`` requests that carried them, and the gateway's peak RSS; then ``count(value)``
must find all 2N readings (a resent batch would be written twice but counted once).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench_alert_latency import flood_files, peak_rss_mb
from hub_ingest_phases import influx_count, influx_writes
from machine_figures import cpu_seconds

from siaga.simulators.servers import HubProcess, InfluxDB, Mosquitto

FLOOR = 500  # uplink.batch_max_count, the default
GATEWAY_BIN = Path(sys.executable).parent / "siaga-gateway"


def flood_phase(hub: HubProcess, influx: InfluxDB, broker: Mosquitto, workdir: Path,
                messages: int, ceiling: int, runs: int) -> bool:
    assert hub.proc is not None and influx.proc is not None
    # The queue bound of deploy/mosquitto/gateway.conf: with mosquitto's default (1,000) a
    # gateway behind in a flood on a loaded machine lost ~5% of the messages at the broker.
    device = Mosquitto(extra_config="max_inflight_messages 100\n"
                                    "max_queued_messages 100000").start()
    files = flood_files(messages, workdir)
    print(f"  flood: {messages:,} messages ({2 * messages:,} readings) per run into "
          f"siaga-gateway run, batch_max_count {FLOOR}, sizer off (ceiling {FLOOR}) / on "
          f"(ceiling {ceiling}), interleaved")
    ok = True
    try:
        for run in range(runs):
            for kind in ("http", "mqtt"):
                for label, top in (("off", FLOOR), ("on", ceiling)):
                    gw = f"flood-{kind}-{label}-{run}"
                    ok = flood_run(hub, influx, broker, device, workdir / gw, gw, kind, top,
                                   files, 2 * messages, label) and ok
    finally:
        device.cleanup()
    return ok


def flood_run(hub: HubProcess, influx: InfluxDB, broker: Mosquitto, device: Mosquitto,
              gw_dir: Path, gw: str, kind: str, ceiling: int, files: list[Path],
              readings: int, label: str) -> bool:
    assert hub.proc is not None and influx.proc is not None
    gw_dir.mkdir()
    if kind == "http":
        token = hub.cli("gateway", "add", gw).strip().splitlines()[-1].strip()
        uplink = f'kind = "http"\nurl = "{hub.url}"\ntoken = "{token}"\n'
    else:
        uplink = f'kind = "mqtt"\nhost = "{broker.host}"\nport = {broker.port}\n'
    (gw_dir / "gateway.toml").write_text(
        f'[gateway]\nid = "{gw}"\nstate_dir = "{gw_dir}/state"\n'
        f'[mqtt]\nhost = "{device.host}"\nport = {device.port}\nclient_id = "{gw}"\n'
        f'[buffer]\npath = "buffer.sqlite3"\n[uplink]\n{uplink}'
        f"batch_ceiling_count = {ceiling}\n")
    with (gw_dir / "gateway.log").open("wb") as log:
        gateway = subprocess.Popen([str(GATEWAY_BIN), "run", "--config",
                                    str(gw_dir / "gateway.toml")],
                                   stdout=log, stderr=subprocess.STDOUT, cwd=gw_dir)
    try:
        time.sleep(4.0)  # connected and subscribed (the import alone takes ~2 s)
        pids = {"gateway": gateway.pid, "hub": hub.proc.pid, "influxd": influx.proc.pid}
        load = os.getloadavg()[0]
        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        writes0, points0 = influx_writes(influx)
        t0 = time.monotonic()
        pubs = [subprocess.Popen(
            ["mosquitto_pub", "-h", device.host, "-p", str(device.port), "-q", "1", "-l",
             "-t", f"siaga/node/flood-{k:02d}/up", "-i", f"{gw}-pub-{k:02d}"],
            stdin=f.open("rb")) for k, f in enumerate(files)]
        for p in pubs:
            p.wait(300)
        # Polled on influxd's write counters, not with SELECT count(value): that query reads
        # every point of the run so far, and polled every 0.2 s it was most of influxd's CPU
        # in the figure (0.0115-0.0131 against 0.0047-0.0053 CPU s per 1k readings, HTTP at
        # 500 a batch; issue 17). The count verifies once, after the CPU is read.
        writes = written = 0
        while written < readings and time.monotonic() - t0 < 300:
            time.sleep(0.2)
            writes, written = (n - n0 for n, n0 in zip(influx_writes(influx),
                                                        (writes0, points0), strict=True))
        took = time.monotonic() - t0
        cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
        # influxd's counter counts a resent batch's points again: the count may lag it.
        stored = influx_count(influx, f"WHERE gateway = '{gw}'")
        settle = time.monotonic() + 30
        while stored < readings and time.monotonic() < settle:
            time.sleep(0.5)
            stored = influx_count(influx, f"WHERE gateway = '{gw}'")
        rss = peak_rss_mb(gateway.pid)
    finally:
        gateway.terminate()
        gateway.wait(30)
    per_k = 1000 / readings
    print(f"  {kind} sizer {label:>3}: {readings / took:>7,.0f} readings/s (all stored after "
          f"{took:.1f} s); CPU s per 1k readings: " + ", ".join(
              f"{name} {s * per_k:.4f}" for name, s in cpu.items())
          + f", sum {sum(cpu.values()) * per_k:.4f}; {writes} /writes of "
          f"{readings / max(writes, 1):,.0f} points; gateway peak RSS {rss:.0f} MB; "
          f"load {load:.1f}; {'none lost' if stored == readings else f'MISMATCH {stored}'}")
    return stored == readings

