"""Alert latency during a flood (issue 17): does an alert still go ahead of the backlog?

Starts its own InfluxDB, a device Mosquitto (in-flight window 100, as
deploy/mosquitto/gateway.conf) and a hub Mosquitto, ``siaga-hub serve`` (InfluxDB
store, MQTT ingest) and ``siaga-gateway run`` (defaults: every detector, durable
buffer, MQTT uplink, batches of 500 / 1 s). An observer subscribed to
``siaga/gw/+/data`` on the hub's broker records when each batch is handed to the hub.

Alarm nodes (``alarm-NN``) send smoke readings every ``--alarm-every-s``; one after
another jumps from 5 to 500 ppm, which raises one ``fire`` alert (level 1 -> 3) each.
Each reading's ``ts`` is its publish time, so an alert's latency is (batch seen at the
hub broker) - (publish of the reading that raised it), and an alarm node's reading's
latency the same for that reading. Two phases:

- quiet: the alarm stream alone (readings wait up to the batch age, alerts go at once);
- flood: the same alarm stream while ``--flood`` benign messages (10 nodes, 2 readings
  each, ``mosquitto_pub -l`` at QoS 1 as in the side-by-side kit) arrive at once, so
  readings queue behind the backlog and alerts should not.

Prints p50 / p99 / max per phase for alerts and for the alarm nodes' readings, and the
gateway's peak RSS (with its sender process's: ``--sender process``). ``--gateway-bin`` runs
another checkout's ``siaga-gateway`` (before and after on the same machine, in the same
minutes); ``--batch-age-s`` sets the uplink's ``batch_max_age_s`` (what a reading waits for
company when the uplink keeps up); ``--batch-ceiling`` its ``batch_ceiling_count`` (500: the
batch sizer off); ``--sender`` its ``sender``. It also prints the flood's CPU seconds per 1k
readings of the gateway, the hub and influxd.

    .venv/bin/python tests/benchmarks/bench_alert_latency.py [--flood 100000] [--alarms 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from machine_figures import cpu_seconds
from paho.mqtt.enums import CallbackAPIVersion

from siaga.simulators.servers import HubProcess, InfluxDB, Mosquitto

BIN = Path(sys.executable).parent
FLOOD_NODES = 10


class Observer:
    """Every batch the gateway hands to the hub's broker, with its arrival time."""

    def __init__(self, broker: Mosquitto) -> None:
        self.lock = threading.Lock()
        self.alerts: dict[str, float] = {}  # alarm node -> first alert's arrival
        self.readings: dict[tuple[str, int], float] = {}  # (alarm node, ts ms) -> arrival
        self.total_readings = 0
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-observer")
        c.on_message = self._on_message
        c.on_connect = lambda cl, *a: cl.subscribe("siaga/gw/+/data", 1)
        c.connect(broker.host, broker.port)
        c.loop_start()
        self.client = c

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        try:
            batch = json.loads(msg.payload)
        except ValueError:
            return
        with self.lock:
            for a in batch.get("alerts", ()):
                self.alerts.setdefault(a["node"], now)
            rs = batch.get("readings", ())
            self.total_readings += len(rs)
            for r in rs:
                if r["node"].startswith("alarm-"):
                    self.readings.setdefault((r["node"], r["ts"]), now)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def flood_files(n: int, workdir: Path) -> list[Path]:
    base = int(time.time() * 1000) - n
    files = [workdir / f"flood-{k:02d}.txt" for k in range(FLOOD_NODES)]
    handles = [f.open("w") for f in files]
    for i in range(n):
        handles[i % FLOOD_NODES].write(
            f'{{"seq":{i // FLOOD_NODES},"ts":{base + i},"v":{{"vwc":{30 + (i % 40) * 0.05:.2f},'
            f'"temp":{25 + (i % 20) * 0.1:.1f}}}}}\n')
    for h in handles:
        h.close()
    return files


def alarm_stream(broker: Mosquitto, prefix: str, alarms: int, every_s: float,
                 jump_every_s: float, sent: dict[str, float],
                 readings: dict[tuple[str, int], float]) -> None:
    """Each alarm node reports smoke every ``every_s``; node k jumps to 500 ppm at
    ``(k + 1) * jump_every_s`` (its jump's publish time goes into ``sent``)."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-alarms-{prefix}",
                    protocol=mqtt.MQTTv311)
    c.connect(broker.host, broker.port)
    c.loop_start()
    start = time.time()
    end = start + (alarms + 2) * jump_every_s
    seq = 0
    next_at = start
    while time.time() < end:
        now = time.time()
        for k in range(alarms):
            node = f"alarm-{prefix}{k:02d}"
            high = now >= start + (k + 1) * jump_every_s
            ts = int(now * 1000)
            body = json.dumps({"seq": seq, "ts": ts, "v": {"smoke": 500.0 if high else 5.0}})
            c.publish(f"siaga/node/{node}/up", body, qos=1)
            readings[(node, ts)] = now
            if high and node not in sent:
                sent[node] = now
        seq += 1
        next_at += every_s
        time.sleep(max(0.0, next_at - time.time()))
    time.sleep(0.5)
    c.disconnect()
    c.loop_stop()


def pct(vals: list[float], p: float) -> float:
    s = sorted(vals)
    return s[min(len(s) - 1, round(p * (len(s) - 1)))]


def summary(name: str, vals: list[float], expected: int) -> str:
    if not vals:
        return f"| {name} | 0/{expected} | - | - | - |"
    return (f"| {name} | {len(vals)}/{expected} | {pct(vals, .5) * 1000:,.0f} | "
            f"{pct(vals, .99) * 1000:,.0f} | {max(vals) * 1000:,.0f} |")


def peak_rss_mb(pid: int) -> float:
    """The gateway's peak RSS plus its children's (the uplink's sender process)."""
    total = 0.0
    for p in [pid, *children(pid)]:
        with open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
    return total


def children(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as f:
                if name.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(name))
        except OSError:
            continue
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flood", type=int, default=100_000, help="benign messages (2 readings)")
    ap.add_argument("--alarms", type=int, default=20, help="alarm nodes, one alert each")
    ap.add_argument("--alarm-every-s", type=float, default=0.2)
    ap.add_argument("--jump-every-s", type=float, default=0.25)
    ap.add_argument("--gateway-bin", default=str(BIN / "siaga-gateway"))
    ap.add_argument("--batch-age-s", type=float, default=1.0, help="[uplink] batch_max_age_s")
    ap.add_argument("--batch-ceiling", type=int, default=None,
                    help="[uplink] batch_ceiling_count (500: the batch sizer off)")
    ap.add_argument("--sender", choices=("thread", "process"),
                    help="[uplink] sender (default: the gateway's own default)")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="siaga-bench-alert-"))
    influx = InfluxDB().start()
    device = Mosquitto(extra_config="max_inflight_messages 100").start()
    hub_broker = Mosquitto().start()
    urllib.request.urlopen(f"{influx.url}/query", data=urllib.parse.urlencode(
        {"q": 'CREATE DATABASE "siaga"'}).encode(), timeout=10).read()
    (work / "hub").mkdir()
    hub = HubProcess(work / "hub", toml=(
        f'[telemetry]\nkind = "influxdb"\nurl = "{influx.url}"\ndatabase = "siaga"\n'
        f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {hub_broker.port}\n'))
    gw_dir = work / "gateway"
    gw_dir.mkdir()
    (gw_dir / "gateway.toml").write_text(
        f'[gateway]\nid = "gw-alert"\nstate_dir = "{gw_dir}/state"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {device.port}\n'
        '[buffer]\npath = "buffer.sqlite3"\n'
        f'[uplink]\nkind = "mqtt"\nhost = "127.0.0.1"\nport = {hub_broker.port}\n'
        f"batch_max_age_s = {a.batch_age_s}\n"
        + ("" if a.batch_ceiling is None else f"batch_ceiling_count = {a.batch_ceiling}\n")
        + (f'sender = "{a.sender}"\n' if a.sender else ""))
    gateway = None
    observer = None
    rows: list[str] = []
    try:
        hub.start(settle_s=1.0)
        observer = Observer(hub_broker)
        gw_log = (gw_dir / "gateway.log").open("wb")
        gateway = subprocess.Popen([a.gateway_bin, "run", "--config", str(gw_dir / "gateway.toml")],
                                   stdout=gw_log, stderr=subprocess.STDOUT, cwd=gw_dir)
        time.sleep(4.0)  # connected and subscribed (the import alone takes ~2 s)
        files = flood_files(a.flood, work)
        for phase in ("quiet", "flood"):
            sent: dict[str, float] = {}
            published: dict[tuple[str, int], float] = {}
            pubs: list[subprocess.Popen[bytes]] = []
            if phase == "flood":
                assert hub.proc is not None and influx.proc is not None
                pids = {"gateway": gateway.pid, "hub": hub.proc.pid, "influxd": influx.proc.pid}
                senders = children(gateway.pid)  # the uplink's sender process, if any
                cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
                cpu0["gateway"] += sum(map(cpu_seconds, senders))
                flood_t0 = time.monotonic()
                pubs = [subprocess.Popen(
                    ["mosquitto_pub", "-h", device.host, "-p", str(device.port), "-q", "1", "-l",
                     "-t", f"siaga/node/flood-{k:02d}/up", "-i", f"flood-{k:02d}"],
                    stdin=f.open("rb")) for k, f in enumerate(files)]
                time.sleep(0.3)  # the backlog is building
            alarm_stream(device, phase[0], a.alarms, a.alarm_every_s, a.jump_every_s, sent,
                         published)
            for p in pubs:
                p.wait(300)
            deadline = time.time() + 300
            want = a.flood * 2 if phase == "flood" else 0
            while time.time() < deadline:
                with observer.lock:
                    done = (all(n in observer.alerts for n in sent)
                            and all(k in observer.readings for k in published)
                            and observer.total_readings - len(observer.readings) >= want)
                if done:
                    break
                time.sleep(0.2)
            if phase == "flood":
                flood_s = time.monotonic() - flood_t0
                cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
                cpu["gateway"] += sum(map(cpu_seconds, senders))
            with observer.lock:
                alert_lat = [observer.alerts[n] - t for n, t in sent.items()
                             if n in observer.alerts]
                reading_lat = [observer.readings[k] - t for k, t in published.items()
                               if k in observer.readings]
            rows.append(summary(f"{phase}: alert (smoke jump) -> hub broker", alert_lat,
                                len(sent)))
            rows.append(summary(f"{phase}: alarm node reading -> hub broker", reading_lat,
                                len(published)))
        rss = peak_rss_mb(gateway.pid)
    finally:
        if observer is not None:
            observer.stop()
        if gateway is not None:
            gateway.terminate()
            gateway.wait(30)
        hub.stop()
        for server in (hub_broker, device, influx):
            server.cleanup()
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"gateway {a.gateway_bin}; sender {a.sender or 'default'}; batch age "
          f"{a.batch_age_s} s; batch ceiling {a.batch_ceiling or 'default'}; "
          f"flood {a.flood:,} messages; {a.alarms} alarm nodes; "
          f"load average {load}; gateway peak RSS {rss:.0f} MB")
    per_k = 1000 / (2 * a.flood)
    print(f"flood: all readings at the hub broker in {flood_s:.1f} s (polled every 0.2 s); "
          "CPU s per 1k readings: " + ", ".join(f"{name} {s * per_k:.4f}"
                                                  for name, s in cpu.items()))
    print("| what | seen | p50 ms | p99 ms | max ms |\n| --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    shutil.rmtree(work, ignore_errors=True)
    os.sync()


if __name__ == "__main__":
    main()
