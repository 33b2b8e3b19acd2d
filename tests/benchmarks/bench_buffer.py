"""Buffer and uplink figures (issue 4). Run: .venv/bin/python -m tests.benchmarks.bench_buffer

Prints:
1. buffer commits: readings/s committed (WAL, synchronous=FULL) by transaction size;
   target >= 20,000 readings/s with batched transactions.
2. backlog drain: 100,000 readings buffered during an outage, then drained through the
   real MQTT uplink, a real Mosquitto and the hub stand-in's acks; target < 10 s.
3. memory: peak RSS of this process during the drain, and of the real
   ``siaga-gateway run`` process during the loss run; target < 80 MB.
4. loss report: readings the nodes sent vs readings that reached the hub stand-in
   across N SIGKILLs of the gateway and an uplink broker outage (lost, duplicated).
5. buffer + uplink CPU: a child process appends readings as the core does under a flood
   (``--per-append`` a commit, paced at ``--rate`` readings/s) while the real HTTP uplink
   drains them into a real ``siaga-hub serve``, or the real MQTT uplink through a real
   Mosquitto to the hub stand-in's acks: the child's CPU seconds (user + sys) per 1k
   readings, and the appending and uplink threads' shares. CPU, not
   wall-clock, so the figure holds on a shared machine; compare before/after in one
   sitting (``--only uplink``).

The hub stand-in (tests/integration/gateway/hub_stand_in.py) stands in for the hub until the
hub's own tests exercise the same contract. Figures depend on the machine; the one
these were measured on was shared with other engineers' test runs.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from siaga.firmware_bridge.reading import Reading
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.uplink.http_uplink import HttpUplink
from siaga.gateway.uplink.mqtt_uplink import MqttUplink
from siaga.gateway.uplink.settings import UplinkSettings
from siaga.simulators.servers import HubProcess, Mosquitto
from tests.integration.gateway.gateway_process import GatewayProcess, NodeFleet, gateway_config
from tests.integration.gateway.hub_stand_in import MqttAckResponder, wait_for


def readings(start: int, n: int) -> list[Reading]:
    t0 = 1_795_000_000.0
    return [Reading("slope-07", "vwc", 30.0 + i % 7, "%", t0 + i / 10, t0 + i / 10 + 0.05, i,
                    "serial:/dev/ttyUSB0") for i in range(start, start + n)]


def bench_commits(workdir: Path) -> None:
    print("1. buffer commits (WAL, synchronous=FULL), one transaction per append()")
    for per_txn, total in ((1, 500), (10, 5_000), (100, 50_000), (500, 100_000)):
        path = workdir / f"commits-{per_txn}.sqlite3"
        buf = StoreAndForwardBuffer(BufferSettings(path=str(path)))
        chunks = [readings(i, per_txn) for i in range(0, total, per_txn)]
        t = time.perf_counter()
        for chunk in chunks:
            buf.append(chunk, [])
        dt = time.perf_counter() - t
        buf.close()
        print(f"   {per_txn:>4} readings/transaction: {total / dt:>10,.0f} readings/s "
              f"({len(chunks) / dt:,.0f} commits/s)")


def bench_drain(workdir: Path, n: int) -> None:
    """The gateway side (buffer + MQTT uplink) runs in a child process of its own, so
    its memory is measured without the hub stand-in's (which keeps every batch)."""
    print(f"2. backlog drain: {n:,} readings buffered during an outage, then sent")
    broker = Mosquitto().start()
    hub = MqttAckResponder(broker.host, broker.port, client_id="bench-hub").start()
    try:
        for count in (500, 2000):
            db = workdir / f"drain-{count}.sqlite3"
            buf = StoreAndForwardBuffer(BufferSettings(path=str(db)))
            for i in range(0, n, 1000):
                buf.append(readings(i, 1000), [])
            buf.close()
            child = subprocess.run(
                [sys.executable, "-m", "tests.benchmarks.bench_buffer", "--drain-child",
                 str(db), broker.host, str(broker.port), str(count)],
                capture_output=True, text=True, timeout=300, check=True,
            )
            print(child.stdout.rstrip())
    finally:
        hub.stop()
        broker.cleanup()


def drain_child(db: str, host: str, port: int, count: int) -> None:
    buf = StoreAndForwardBuffer(BufferSettings(path=db))
    depth = buf.stats().depth
    up = MqttUplink(UplinkSettings(
        kind="mqtt", gateway_id=f"bench-{count}", host=host, port=port,
        batch_max_count=count, max_inflight=4, batch_max_age_s=0.5, ack_timeout_s=30), buf)
    t, cpu0 = time.perf_counter(), os.times()
    up.start()
    done = wait_for(lambda: up.counters().entries_acked >= depth, 120, step=0.05)
    dt, cpu1 = time.perf_counter() - t, os.times()
    up.stop()
    c = up.counters()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent
    # across fork+exec, so it would report the benchmark's own (hub stand-in) memory.
    rss = peak_rss_mb(os.getpid())
    print(f"   batch_max_count={count}, max_inflight=4: {depth:,} readings "
          f"{'drained' if done else 'NOT drained'} in {dt:.2f} s "
          f"({c.entries_acked / dt:,.0f} readings/s, {c.batches_acked} batches, "
          f"{c.batches_resent} resent, {c.stale_acks} stale acks; "
          f"{cpu / (depth / 1000) * 1000:.2f} ms CPU per 1k readings)")
    print(f"3. memory: peak RSS of the buffer + MQTT uplink process during the drain: "
          f"{rss:.0f} MB")


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def loss_report(workdir: Path, kills: int, rounds: int) -> None:
    print(f"4. loss report: {kills} SIGKILLs of siaga-gateway run and a 5 s uplink outage")
    devices, uplink = Mosquitto().start(), Mosquitto().start()
    hub = MqttAckResponder(uplink.host, uplink.port, client_id="loss-hub").start()
    gw = GatewayProcess(gateway_config(workdir / "state", "gw-loss", devices, uplink),
                        workdir / "gateway.log").start()
    fleet = NodeFleet(devices, "gw-loss")
    rng = random.Random(4)
    peaks: list[float] = []
    try:
        fleet.wait_forwarded(hub)
        feeding = fleet.run(count=rounds, rate_hz=100)
        for i in range(kills):
            time.sleep(rng.uniform(1.0, 2.0))
            if gw.proc is not None and (p := peak_rss_mb(gw.proc.pid)) is not None:
                peaks.append(p)
            gw.kill()
            time.sleep(0.2)
            gw.start()
            if i == kills // 2:
                uplink.stop()
                time.sleep(5)
                uplink.start()
        feeding.join()
        hub.wait_until(lambda: set(hub.reading_deliveries) >= fleet.sent, 120)
        time.sleep(2)
        if gw.proc is not None and (p := peak_rss_mb(gw.proc.pid)) is not None:
            peaks.append(p)
        gw.terminate()
    finally:
        if gw.alive:
            gw.kill()
        fleet.stop()
        hub.stop()
        devices.cleanup()
        uplink.cleanup()
    stored = {k for k in hub.reading_deliveries if k[1] != "warm-up"}
    lost = len(fleet.sent - stored)
    extra = len(stored - fleet.sent)
    redelivered = sum(v for k, v in hub.reading_deliveries.items() if k[1] != "warm-up") \
        - len(stored)
    print(f"   readings sent by the nodes:        {len(fleet.sent):>8,}")
    print(f"   distinct readings at the hub:      {len(stored):>8,}")
    print(f"   lost:                              {lost:>8,}")
    print(f"   duplicated in the store:           {extra:>8,}  (identity-keyed, idempotent)")
    print(f"   redelivered on the wire:           {redelivered:>8,}  "
          "(at-least-once resends the hub's idempotent writes absorb)")
    if peaks:
        print(f"3b. memory: peak RSS of the siaga-gateway run process: {max(peaks):.0f} MB")


def bench_uplinks(workdir: Path, n: int, per_append: int, rate: float, runs: int) -> None:
    print(f"5. buffer + uplink CPU: {n:,} readings appended {per_append} a commit at "
          f"{rate:,.0f}/s (load {os.getloadavg()[0]:.1f})")
    (workdir / "hub").mkdir()
    hub = HubProcess(workdir / "hub")  # the embedded SQLite telemetry store
    token = hub.cli("gateway", "add", "bench-http").strip()
    broker = Mosquitto().start()
    acks = MqttAckResponder(broker.host, broker.port, client_id="bench-uplink-hub").start()
    hub.start()
    targets = {"http": (hub.url, token), "mqtt": (f"{broker.host}:{broker.port}", "-")}
    try:
        for run in range(runs):
            for kind, (target, secret) in targets.items():
                db = workdir / f"{kind}-{run}.sqlite3"
                child = subprocess.run(
                    [sys.executable, "-m", "tests.benchmarks.bench_buffer", "--uplink-child",
                     kind, str(db), target, secret, str(n), str(per_append), str(rate)],
                    capture_output=True, text=True, timeout=600, check=True,
                )
                print(child.stdout.rstrip())
    finally:
        hub.stop()
        acks.stop()
        broker.cleanup()


def uplink_child(kind: str, db: str, target: str, secret: str, n: int, per_append: int,
                 rate: float) -> None:
    """HTTP into siaga-hub serve (``target`` its URL, ``secret`` the gateway token), or MQTT
    through Mosquitto (``target`` host:port) to the hub stand-in's acks."""
    buf = StoreAndForwardBuffer(BufferSettings(path=db))
    up: HttpUplink | MqttUplink
    if kind == "http":
        up = HttpUplink(UplinkSettings(kind="http", gateway_id="bench-http", url=target,
                                       token=secret, batch_max_count=500), buf)
    else:
        host, port = target.rsplit(":", 1)
        up = MqttUplink(UplinkSettings(kind="mqtt", gateway_id=f"bench-mqtt-{Path(db).stem}",
                                       host=host, port=int(port), batch_max_count=500), buf)
    # Readings made before the clock starts: their making is the core's cost, not ours.
    t0 = 1_795_000_000.0
    chunks = [[Reading(f"bench-{i % 10:03d}", ("vwc", "temp")[i % 2], 30.0 + i % 97 / 4, "%",
                       t0 + i / 10, t0 + i / 10 + 0.05, (i // 20) % 65536, "mqtt")
               for i in range(j, min(j + per_append, n))] for j in range(0, n, per_append)]
    up.start()
    if isinstance(up, MqttUplink):
        wait_for(lambda: up.connected, 10)
    uplink_thread = next(t for t in threading.enumerate() if t.name == up.thread_name)
    cpu0, wall0, append_cpu = os.times(), time.perf_counter(), 0.0
    uplink0 = thread_cpu_s(uplink_thread)
    for k, chunk in enumerate(chunks):
        t = time.thread_time()
        buf.append(chunk, [])
        append_cpu += time.thread_time() - t
        pause = wall0 + (k + 1) * per_append / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    done = wait_for(lambda: up.counters().entries_acked >= n, 120, step=0.05)
    wall, cpu1 = time.perf_counter() - wall0, os.times()
    uplink_cpu = thread_cpu_s(uplink_thread) - uplink0
    up.stop()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    c = up.counters()
    ms = 1000 / (n / 1000)  # seconds -> ms per 1k readings
    extra = (f"{getattr(c, 'connections_opened', '?')} connections" if kind == "http"
             else "paho's thread in the process figure")
    print(f"   {kind}: {n:,} readings {'drained' if done else 'NOT drained'} in {wall:.1f} s, "
          f"{c.batches_acked} batches, {c.send_errors} send errors, {extra}: "
          f"process CPU {cpu * ms:.2f} ms per 1k readings "
          f"(appending thread {append_cpu * ms:.2f}, uplink thread {uplink_cpu * ms:.2f})")


def thread_cpu_s(thread: threading.Thread) -> float:
    """A thread's user + system CPU seconds so far, from /proc (10 ms ticks)."""
    fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1]
    utime, stime = fields.split()[11:13]
    return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1500, help="fleet rounds (3 nodes each)")
    parser.add_argument("--uplink-readings", type=int, default=100_000)
    parser.add_argument("--per-append", type=int, default=200,
                        help="readings a commit in section 5 (a flood's group commit)")
    parser.add_argument("--rate", type=float, default=10_000, help="readings/s in section 5")
    parser.add_argument("--runs", type=int, default=2, help="section 5 runs")
    parser.add_argument("--only", choices=("commits", "drain", "loss", "uplink"))
    parser.add_argument("--drain-child", nargs=4, metavar=("DB", "HOST", "PORT", "COUNT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--uplink-child", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drain_child:
        db, host, port, count = args.drain_child
        drain_child(db, host, int(port), int(count))
        return
    if args.uplink_child:
        kind, db, target, secret, n, per_append, rate = args.uplink_child
        uplink_child(kind, db, target, secret, int(n), int(per_append), float(rate))
        return
    workdir = Path(tempfile.mkdtemp(prefix="siaga-bench-buffer-"))
    try:
        if args.only in (None, "commits"):
            bench_commits(workdir)
        if args.only in (None, "drain"):
            bench_drain(workdir, args.backlog)
        if args.only in (None, "loss"):
            loss_report(workdir, args.kills, args.rounds)
        if args.only in (None, "uplink"):
            bench_uplinks(workdir, args.uplink_readings, args.per_append, args.rate, args.runs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
