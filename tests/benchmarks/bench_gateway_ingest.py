"""Readings per second through ``siaga-gateway run --stdout`` from MQTT, nothing lost at QoS 1.

Starts its own Mosquitto (siaga.simulators.servers), then measures two floods of device
messages (``siaga/node/<id>/up``, QoS 1, two channels each) into one gateway process:

- backlog: the gateway's persistent session is created, the gateway stopped, N
  messages published into the broker, then the gateway started again: how fast it
  drains a flood that is all there at once;
- backlog again with the detectors off (``[analytics] detectors = []``): the cost of
  ingest alone;
- live: publishers flood while the gateway runs (the publishers share the machine);
- kit (``--only kit``): the intake as the side-by-side kit runs it, outside the kit: the
  kit's message (``seq``, ``ts``, two channels) from 10 nodes by ``mosquitto_pub -l``, a
  broker with the kit's in-flight window (100), the gateway with its SQLite buffer
  (synchronous=FULL), detection on and no uplink or ``--stdout``. The gateway is stopped
  (SIGSTOP) while the backlog is published, so its CPU is counted from SIGCONT to the
  last reading in its status counters, per thread too (the core, the MQTT receive thread).
  ``--kit-live`` publishes while it runs instead. ``--gateway-bin DIR`` runs another
  checkout's ``siaga-gateway`` (before / after in one sitting).

Every reading is counted on the gateway's stdout; the run fails loudly when one is
missing or doubled. Prints messages/s, readings/s, the gateway's CPU use and its
peak RSS (VmHWM). Targets (issue 2): >= 10,000 messages/s, nothing lost, < 80 MB.

    .venv/bin/python tests/benchmarks/bench_gateway_ingest.py [--messages 100000]
    .venv/bin/python tests/benchmarks/bench_gateway_ingest.py --only kit --messages 60000 \
        [--kit-live] [--gateway-bin /tmp/old/.venv/bin] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from siaga.simulators.servers import Mosquitto

ROOT = Path(__file__).resolve().parents[2]

NODES = 100
PROTOCOL = "5"  # --protocol
CHANNELS = 2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def publish_flood(host: str, port: int, first: int, count: int, nodes: int) -> None:
    """Publish ``count`` messages numbered from ``first``; message i goes to node i % nodes."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{first}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    # paho's message ids wrap at 65535: keep fewer than that outstanding.
    outstanding: deque[mqtt.MQTTMessageInfo] = deque()
    for i in range(first, first + count):
        node, seq = i % nodes, (i // nodes) % 65536
        body = f'{{"seq":{seq},"v":{{"vwc":{i % 100}.5,"temp":{20 + i % 10}.25}}}}'
        outstanding.append(
            client.publish(f"siaga/node/bench-{node:03d}/up", body.encode(), qos=1)
        )
        if len(outstanding) > 30_000:
            outstanding.popleft().wait_for_publish(120)
    for info in outstanding:
        info.wait_for_publish(120)
    client.loop_stop()
    client.disconnect()


def cpu_s_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mb_of(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Gateway:
    """``python -m siaga.gateway run`` as a subprocess, its stdout counted line by line."""

    def __init__(
        self, broker: Mosquitto, state: Path, client_id: str, detectors: bool = True
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "siaga.gateway", "run", "--mqtt", broker.address, "--stdout",
             "--state-dir", str(state), "--gateway-id", "bench"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
            env={**os.environ, "SIAGA_MQTT__CLIENT_ID": client_id,
                 "SIAGA_MQTT__RECEIVE_MAXIMUM": "5000", "SIAGA_MQTT__PROTOCOL": PROTOCOL,
                 **({} if detectors else {"SIAGA_ANALYTICS__DETECTORS": "[]"})},
        )
        self.readings = 0
        self.errors = 0
        self.alerts = 0
        self.first_at: float | None = None
        self.last_at = 0.0
        self.subscribed = threading.Event()
        self.stderr: list[str] = []
        threading.Thread(target=self._count, daemon=True).start()
        threading.Thread(target=self._log, daemon=True).start()

    def _count(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            now = time.monotonic()
            if self.first_at is None:
                self.first_at = now
            if line.startswith(b'{"kind":"reading"'):
                self.readings += 1
            elif b'"kind":"alert"' in line:
                self.alerts += 1
            else:
                self.errors += 1
            self.last_at = now

    def _log(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace")
            self.stderr.append(line)
            if "connected" in line:
                self.subscribed.set()

    def cpu_s(self) -> float:
        return cpu_s_of(self.proc.pid)

    def peak_rss_mb(self) -> float:
        return peak_rss_mb_of(self.proc.pid)

    def wait_readings(self, want: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        idle_since = time.monotonic()
        seen = -1
        while self.readings < want and time.monotonic() < deadline:
            if self.readings != seen:
                seen, idle_since = self.readings, time.monotonic()
            elif time.monotonic() - idle_since > 20:
                break
            time.sleep(0.05)

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(30)


def report(name: str, messages: int, gw: Gateway, seconds: float, cpu: float) -> None:
    want = messages * CHANNELS
    lost = want - gw.readings
    print(f"{name}: {messages} messages ({want} readings) in {seconds:.2f} s -> "
          f"{messages / seconds:,.0f} messages/s, {gw.readings / seconds:,.0f} readings/s; "
          f"gateway CPU {cpu:.2f} s ({100 * cpu / seconds:.0f}% of one core; "
          f"{1e6 * cpu / messages:.1f} us a message, {1000 * cpu / want:.4f} s per 1k "
          f"readings); "
          f"peak RSS {gw.peak_rss_mb():.1f} MB; readings missing {lost}, decode errors "
          f"{gw.errors}, alerts {gw.alerts}")
    if lost != 0:
        print(f"FAIL: {name}: {lost} readings missing (negative: duplicated)", file=sys.stderr)


def bench_backlog(broker: Mosquitto, messages: int, tmp: Path, detectors: bool) -> None:
    name = "backlog drain" + ("" if detectors else " (no detectors)")
    cid = f"bench-backlog-{detectors}"
    gw = Gateway(broker, tmp / f"state-{cid}", cid, detectors)
    if not gw.subscribed.wait(20):
        raise SystemExit("gateway did not connect:\n" + "".join(gw.stderr))
    time.sleep(0.5)
    gw.stop()
    publish_flood(broker.host, broker.port, 0, messages, NODES)
    gw = Gateway(broker, tmp / f"state-{cid}", cid, detectors)
    gw.subscribed.wait(20)
    cpu0 = gw.cpu_s()
    t0 = time.monotonic()
    gw.wait_readings(messages * CHANNELS, timeout=600)
    seconds = (gw.last_at or time.monotonic()) - t0
    cpu = gw.cpu_s() - cpu0
    report(name, messages, gw, seconds, cpu)
    rc = gw.stop()
    print(f"  gateway exit code on SIGTERM: {rc}")


def bench_live(broker: Mosquitto, messages: int, publishers: int, tmp: Path) -> None:
    gw = Gateway(broker, tmp / "state-live", "bench-live")
    if not gw.subscribed.wait(20):
        raise SystemExit("gateway did not connect:\n" + "".join(gw.stderr))
    time.sleep(0.5)
    cpu0 = gw.cpu_s()
    t0 = time.monotonic()
    per = messages // publishers
    procs = [
        multiprocessing.Process(
            target=publish_flood, args=(broker.host, broker.port, k * per, per, NODES)
        )
        for k in range(publishers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    published_s = time.monotonic() - t0
    gw.wait_readings(per * publishers * CHANNELS, timeout=600)
    seconds = gw.last_at - t0
    cpu = gw.cpu_s() - cpu0
    print(f"live flood: publishers took {published_s:.2f} s "
          f"({per * publishers / published_s:,.0f} messages/s offered)")
    report("live flood", per * publishers, gw, seconds, cpu)
    rc = gw.stop()
    print(f"  gateway exit code on SIGTERM: {rc}")


KIT_NODES = 10


def kit_files(messages: int, tmp: Path) -> list[Path]:
    """The kit's flood: message i to node i % 10, seq i // 10, ts unique (now - n + i ms)."""
    base = time.time_ns() // 1_000_000 - messages
    files = [tmp / f"kit-{k:02d}.txt" for k in range(KIT_NODES)]
    handles = [f.open("w") for f in files]
    for i in range(messages):
        seq, vwc, temp = (i // KIT_NODES) % 65536, 30.0 + (i % 40) * 0.05, 25.0 + (i % 20) * 0.1
        handles[i % KIT_NODES].write(
            f'{{"seq":{seq},"ts":{base + i},"v":{{"vwc":{vwc:.2f},"temp":{temp:.1f}}}}}\n')
    for h in handles:
        h.close()
    return files


def thread_cpu_s(pid: int) -> dict[int, float]:
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return out


def bench_kit(messages: int, tmp: Path, gateway_bin: Path, live: bool, label: str) -> None:
    broker = Mosquitto(extra_config="max_inflight_messages 100").start()
    try:
        state = tmp / f"state-{label}-{time.monotonic_ns()}"
        conf = tmp / "kit-gateway.toml"
        conf.write_text(
            f'[gateway]\nid = "bench"\nstate_dir = "{state}"\nstatus_write_s = 0.5\n'
            f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nclient_id = "bench-kit"\n'
            '[buffer]\npath = "buffer.sqlite3"\n')
        files = kit_files(messages, tmp)
        log = (tmp / "kit-gateway.log").open("w+b")
        gw = subprocess.Popen([str(gateway_bin / "siaga-gateway"), "run", "--config", str(conf)],
                              stdout=subprocess.DEVNULL, stderr=log, cwd=tmp)
        deadline = time.monotonic() + 60
        while b"connected, subscribed" not in (tmp / "kit-gateway.log").read_bytes():
            if time.monotonic() > deadline or gw.poll() is not None:
                raise SystemExit("gateway did not connect")
            time.sleep(0.05)
        time.sleep(1.0)

        def publish() -> list[subprocess.Popen[bytes]]:
            return [subprocess.Popen(
                ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-q", "1", "-l",
                 "-t", f"siaga/node/kit-{k:02d}/up", "-i", f"kit-pub-{k}"], stdin=f.open("rb"))
                for k, f in enumerate(files)]

        if not live:
            os.kill(gw.pid, signal.SIGSTOP)
            for p in publish():
                p.wait(300)
        load = os.getloadavg()[0]
        cpu0, threads0, t0 = cpu_s_of(gw.pid), thread_cpu_s(gw.pid), time.monotonic()
        if live:
            publishers = publish()
        else:
            os.kill(gw.pid, signal.SIGCONT)
            publishers = []
        readings, want = 0, 2 * messages
        while readings < want and time.monotonic() - t0 < 600:
            with contextlib.suppress(OSError, ValueError, KeyError):  # not written yet
                readings = json.loads((state / "status.json").read_text())["totals"]["readings"]
            time.sleep(0.1)
        cpu, threads1 = cpu_s_of(gw.pid) - cpu0, thread_cpu_s(gw.pid)
        for p in publishers:
            p.wait(300)
        busy = sorted((threads1[t] - threads0.get(t, 0.0) for t in threads1), reverse=True)
        rss = peak_rss_mb_of(gw.pid)
        gw.terminate()
        gw.wait(30)
        print(f"kit {'live' if live else 'backlog'} [{label}]: {messages} messages, readings "
              f"{readings}/{want}; gateway CPU {cpu:.2f} s = {1e6 * cpu / messages:.1f} us a "
              f"message ({1000 * cpu / want:.4f} s per 1k readings); busiest threads "
              f"{', '.join(f'{b:.2f}' for b in busy[:2])} s (core, receive); peak RSS "
              f"{rss:.0f} MB; load average {load:.1f}", flush=True)
        if readings != want:
            print(f"FAIL: kit: {want - readings} readings missing", file=sys.stderr)
    finally:
        broker.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--publishers", type=int, default=1)
    parser.add_argument("--only", choices=("backlog", "live", "kit"))
    parser.add_argument("--kit-live", action="store_true",
                        help="kit: publish while the gateway runs, not into a stopped one")
    parser.add_argument("--gateway-bin", type=Path, default=Path(sys.executable).parent,
                        help="kit: the bin directory whose siaga-gateway runs (comma-separated: "
                             "several, interleaved)")
    parser.add_argument("--repeats", type=int, default=1, help="kit: rounds")
    parser.add_argument("--protocol", choices=("5", "3.1.1"), default="5",
                        help="the gateway's MQTT protocol (mqtt.protocol)")
    args = parser.parse_args()
    global PROTOCOL
    PROTOCOL = args.protocol
    print(f"machine: {os.cpu_count()} cores, shared with other work; "
          f"python {sys.version.split()[0]}; gateway MQTT "
          f"{'at its default' if args.only == 'kit' else PROTOCOL}")
    if args.only == "kit":
        bins = [Path(b) for b in str(args.gateway_bin).split(",")]
        with tempfile.TemporaryDirectory(prefix="siaga-bench-kit-") as tmp:
            for _ in range(args.repeats):
                for b in bins:
                    bench_kit(args.messages, Path(tmp), b, args.kit_live, str(b))
        return
    broker = Mosquitto().start()
    try:
        with tempfile.TemporaryDirectory(prefix="siaga-bench-gw-") as tmp:
            if args.only != "live":
                bench_backlog(broker, args.messages, Path(tmp), detectors=True)
                bench_backlog(broker, args.messages, Path(tmp), detectors=False)
            if args.only != "backlog":
                bench_live(broker, args.messages, args.publishers, Path(tmp))
    finally:
        broker.cleanup()


if __name__ == "__main__":
    main()
