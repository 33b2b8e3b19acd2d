"""Soak: ``--rate`` device messages/s for ``--minutes`` through the whole chain, memory watched.

MQTT devices (one paced publisher, QoS 1, ``siaga/node/<id>/up``, two channels a message, node
timestamps) -> a device Mosquitto -> one ``siaga-gateway run`` (MQTT source, SQLite buffer,
HTTP uplink) -> one ``siaga-hub serve`` -> a real influxd. Everything is started here on
free loopback ports in a temporary directory (siaga.simulators.servers). The gateway's
broker session is opened before the gateway starts (siaga.simulators.gateway_session): a
gateway slow to start on a loaded machine misses nothing, and the first sample waits until
it runs.

Recorded at the start, every minute and at the end: the RSS of the gateway and the hub (and of
influxd and Mosquitto, for scale), their CPU seconds, the machine's load average, the
gateway's buffer depth and the readings InfluxDB holds. After the publisher stops, the chain
drains and every message is counted in InfluxDB: lost = sent - stored, and extra = stored -
sent (a reading stored under two times would count twice); the hub's count of readings that
arrived again (resends the store absorbed) is printed too.

Issue 12's target: the gateway's memory bounded by configuration (its buffer on disk, the
uplink batch size, the in-memory tail), not by message rate or run time: RSS flat after
warm-up.

    .venv/bin/python tests/benchmarks/bench_soak.py [--minutes 10] [--rate 1000] [--nodes 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from siaga.simulators.demo_configs import write_toml
from siaga.simulators.gateway_session import open_gateway_session
from siaga.simulators.servers import HubProcess, InfluxDB, Mosquitto, terminate

BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CHANNELS = 2
GATEWAY = "gw-soak-01"
GATEWAY_CLIENT_ID = "soak-gateway"
DATABASE = "soak"


def proc_status(pid: int, key: str) -> float:
    """A ``/proc/<pid>/status`` size field (VmRSS, VmHWM) in MB; nan once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def influx_count(influx: InfluxDB) -> int:
    q = urllib.parse.urlencode({"db": DATABASE, "q": "SELECT count(value) FROM reading"})
    with urllib.request.urlopen(f"{influx.url}/query?{q}", timeout=120) as r:
        doc = json.load(r)
    series = doc["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def metric(hub: HubProcess, name: str) -> float:
    """The sum of a counter's samples on the hub's /metrics."""
    with urllib.request.urlopen(f"{hub.url}/metrics", timeout=30) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def gateway_depth(state_dir: Path) -> int | None:
    """The gateway buffer's pending rows, from the status file it rewrites every few seconds."""
    try:
        doc = json.loads((state_dir / "status.json").read_text())
        return int(doc["buffer"]["depth"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def wait_started(gw: subprocess.Popen[bytes], state_dir: Path, log: Path,
                 timeout_s: float = 120.0) -> None:
    """Until the gateway's core writes its first status file, so the start sample measures
    a running gateway (under load it may take many seconds to import); SystemExit when it
    exits or does not start."""
    deadline = time.monotonic() + timeout_s
    while gateway_depth(state_dir) is None:
        if gw.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("gateway did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.2)


class Publisher(threading.Thread):
    """``rate`` messages/s over ``nodes`` nodes, paced in 10 ms ticks against the wall clock
    (a late tick catches up, so the offered total is exact). Counts what it published."""

    def __init__(self, broker: Mosquitto, rate: int, nodes: int, seconds: float) -> None:
        super().__init__(name="soak-publisher", daemon=True)
        self.rate, self.nodes, self.seconds = rate, nodes, seconds
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="soak-publisher")
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(broker.host, broker.port)
        self.sent = 0
        self.behind_max = 0

    def run(self) -> None:
        self.client.loop_start()
        outstanding: deque[mqtt.MQTTMessageInfo] = deque()
        start = time.monotonic()
        total = int(self.seconds * self.rate)
        i = 0
        while i < total:
            elapsed = time.monotonic() - start
            # the last tick sends whatever is left, so exactly `total` go out
            due = total if elapsed >= self.seconds else min(
                int(elapsed * self.rate) + self.rate // 100, total)
            self.behind_max = max(self.behind_max, min(int(elapsed * self.rate), total) - i)
            now_ms = int(time.time() * 1000)
            while i < due:
                node, seq = i % self.nodes, (i // self.nodes) % 65536
                # Values move (a flat series would raise the stuck-sensor health alert).
                body = (f'{{"seq":{seq},"ts":{now_ms},"v":{{"vwc":{30 + (i * 7) % 23 * 0.1:.1f},'
                        f'"temp":{22 + (i * 3) % 17 * 0.1:.1f}}}}}')
                outstanding.append(self.client.publish(f"siaga/node/soak-{node:03d}/up",
                                                       body.encode(), qos=1))
                i += 1
            while len(outstanding) > 20_000:
                outstanding.popleft().wait_for_publish(60)
            time.sleep(0.01)
        for info in outstanding:
            info.wait_for_publish(60)
        self.sent = i
        self.client.loop_stop()
        self.client.disconnect()


@dataclass
class Sample:
    t_s: float
    gateway_rss: float
    hub_rss: float
    influx_rss: float
    broker_rss: float
    gateway_cpu: float
    hub_cpu: float
    load1: float
    depth: int | None
    stored: int


def sample(t0: float, gw: subprocess.Popen[bytes], hub: HubProcess, influx: InfluxDB,
           broker: Mosquitto, gw_state: Path) -> Sample:
    assert hub.proc is not None and influx.proc is not None and broker.proc is not None
    return Sample(
        t_s=time.monotonic() - t0,
        gateway_rss=proc_status(gw.pid, "VmRSS"), hub_rss=proc_status(hub.proc.pid, "VmRSS"),
        influx_rss=proc_status(influx.proc.pid, "VmRSS"),
        broker_rss=proc_status(broker.proc.pid, "VmRSS"),
        gateway_cpu=cpu_seconds(gw.pid), hub_cpu=cpu_seconds(hub.proc.pid),
        load1=os.getloadavg()[0], depth=gateway_depth(gw_state), stored=influx_count(influx))


def print_sample(label: str, s: Sample) -> None:
    print(f"{label:>8} {s.t_s:7.0f} s  gateway {s.gateway_rss:6.1f} MB  hub {s.hub_rss:6.1f} MB"
          f"  influxd {s.influx_rss:6.1f} MB  mosquitto {s.broker_rss:5.1f} MB"
          f"  cpu gw {s.gateway_cpu:6.1f} s hub {s.hub_cpu:6.1f} s  load {s.load1:4.1f}"
          f"  buffer {s.depth if s.depth is not None else '?':>6}  stored {s.stored:>9,}",
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000, help="device messages per second")
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--drain-s", type=float, default=180.0,
                        help="how long to wait for the chain to deliver everything")
    args = parser.parse_args()
    seconds = args.minutes * 60
    print(f"machine: {os.cpu_count()} cores, shared with other work; load at start "
          f"{os.getloadavg()[0]:.1f}; python {sys.version.split()[0]}")
    print(f"soak: {args.rate} messages/s ({args.rate * CHANNELS} readings/s) over "
          f"{args.nodes} nodes for {args.minutes:g} min")

    with tempfile.TemporaryDirectory(prefix="siaga-soak-") as tmp_name:
        tmp = Path(tmp_name)
        broker = Mosquitto().start()
        influx = InfluxDB().start()
        (tmp / "hub").mkdir()
        hub = HubProcess(tmp / "hub", (
            f'[telemetry]\nkind = "influxdb"\nurl = "{influx.url}"\ndatabase = "{DATABASE}"\n'))
        gw: subprocess.Popen[bytes] | None = None
        try:
            token = hub.cli("gateway", "add", GATEWAY).strip()
            hub.start()
            gw_config = tmp / "gateway.toml"
            write_toml(gw_config, {
                "gateway": {"id": GATEWAY, "state_dir": str(tmp / "gateway")},
                "mqtt": {"host": broker.host, "port": broker.port,
                         "client_id": GATEWAY_CLIENT_ID},
                "uplink": {"kind": "http", "url": hub.url, "token": token},
            })
            # The broker keeps what the nodes publish for this session from now on, however
            # long the gateway takes to start (simulators/gateway_session.py).
            open_gateway_session(broker.host, broker.port, GATEWAY_CLIENT_ID)
            with (tmp / "gateway.log").open("ab") as log:
                gw = subprocess.Popen([str(BIN / "siaga-gateway"), "run", "--config",
                                       str(gw_config)], stdout=log, stderr=subprocess.STDOUT)
            wait_started(gw, tmp / "gateway", tmp / "gateway.log")

            publisher = Publisher(broker, args.rate, args.nodes, seconds)
            t0 = time.monotonic()
            samples = [sample(t0, gw, hub, influx, broker, tmp / "gateway")]
            print_sample("start", samples[0])
            publisher.start()
            minute = 1
            while publisher.is_alive():
                publisher.join(max(0.0, t0 + 60 * minute - time.monotonic()))
                if publisher.is_alive() or time.monotonic() - t0 >= 60 * minute - 1:
                    samples.append(sample(t0, gw, hub, influx, broker, tmp / "gateway"))
                    print_sample(f"min {minute}", samples[-1])
                    minute += 1
            want = publisher.sent * CHANNELS
            deadline = time.monotonic() + args.drain_s
            stored = influx_count(influx)
            while stored < want and time.monotonic() < deadline:
                time.sleep(2)
                stored = influx_count(influx)
            end = sample(t0, gw, hub, influx, broker, tmp / "gateway")
            print_sample("end", end)
            resent = metric(hub, "siaga_ingest_duplicate_readings_total")
            refused = metric(hub, "siaga_ingest_rejected_items_total")
            print(f"sent {publisher.sent:,} messages = {want:,} readings in "
                  f"{publisher.seconds:.0f} s ({publisher.sent / publisher.seconds:,.0f}/s; "
                  f"publisher at most {publisher.behind_max} behind its schedule)")
            print(f"stored {stored:,}: lost {max(0, want - stored):,}, extra "
                  f"{max(0, stored - want):,}; resent and absorbed by the hub {resent:,.0f}; "
                  f"items refused {refused:,.0f}")
            first = samples[1] if len(samples) > 1 else samples[0]
            print(f"RSS gateway {samples[0].gateway_rss:.1f} -> {first.gateway_rss:.1f} (1 min)"
                  f" -> {end.gateway_rss:.1f} MB (peak {proc_status(gw.pid, 'VmHWM'):.1f}); "
                  f"hub {samples[0].hub_rss:.1f} -> {first.hub_rss:.1f} -> {end.hub_rss:.1f} MB"
                  f" (peak {proc_status(hub.proc.pid, 'VmHWM') if hub.proc else 0:.1f})")
            busy = end.t_s or 1
            print(f"CPU over the run: gateway {end.gateway_cpu - samples[0].gateway_cpu:.0f} s "
                  f"({100 * (end.gateway_cpu - samples[0].gateway_cpu) / busy:.0f}% of a core),"
                  f" hub {end.hub_cpu - samples[0].hub_cpu:.0f} s "
                  f"({100 * (end.hub_cpu - samples[0].hub_cpu) / busy:.0f}%)")
            return 0 if stored == want else 1
        finally:
            if gw is not None:
                terminate(gw, grace_s=30)
            hub.stop()
            influx.cleanup()
            broker.cleanup()


if __name__ == "__main__":
    sys.exit(main())
