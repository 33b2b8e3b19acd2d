"""Group commit in the core (issue 17). Run: .venv/bin/python -m tests.benchmarks.bench_group_commit

A thread offers device messages at a paced rate (default 2,000 msg/s, two readings
each, one ``InboundBatch`` per message as the MQTT source hands a lone message over)
to a real ``Core`` with every detector and a real SQLite buffer (WAL,
synchronous=FULL), for each ``gateway.group_commit_ms``. Prints per setting: commits/s,
messages per commit, the core thread's CPU per 1k readings, and the time from a
message's hand-over to its ack (p50/p99): the cost of waiting for company.
Figures depend on the machine and its load (printed).
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from siaga.analytics.engine import EdgeAnalytics
from siaga.firmware_bridge.device_message import DeviceMessage
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.config import DownlinkSettings, load_settings
from siaga.gateway.core import Core, Stop
from siaga.gateway.downlink import Downlink
from siaga.gateway.messages import InboundBatch, NodeMessage
from siaga.gateway.reading_converter import ReadingConverter

NODES = 10


def run(window_ms: float, rate: float, seconds: float, workdir: Path) -> dict[str, float]:
    settings = load_settings(None, {}, {
        "serial.ports": ["/dev/x"], "gateway.state_dir": str(workdir),
        "gateway.group_commit_ms": window_ms,
    })
    buffer = StoreAndForwardBuffer(
        BufferSettings(path=str(workdir / f"b-{window_ms}.sqlite3")))
    inbox: queue.Queue[Any] = queue.Queue(maxsize=settings.queue_size)
    core = Core(settings, inbox, ReadingConverter(settings.convert),
                Downlink(DownlinkSettings(), lambda *a: True),
                detection=EdgeAnalytics(settings.analytics, alerts_only=True), store=buffer)
    delays: list[float] = []
    cpu: list[float] = []

    def core_thread() -> None:
        t = time.thread_time()
        core.run()
        cpu.append(time.thread_time() - t)

    worker = threading.Thread(target=core_thread)
    worker.start()
    n = int(rate * seconds)
    start = time.monotonic()
    for i in range(n):
        due = start + i / rate
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)  # the publisher's pace, not the gateway's
        node, seq = f"n{i % NODES:02d}", i // NODES + 1
        msg = DeviceMessage("up", node, seq, values={"vwc": 30.0 + i % 5, "temp": 25.0})
        handed = time.monotonic()
        inbox.put(InboundBatch([NodeMessage(msg, "mqtt", time.time())],
                               lambda h=handed: delays.append(time.monotonic() - h)))
    inbox.put(Stop())
    worker.join()
    buffer.close()
    commits = core.stats.commits
    elapsed = time.monotonic() - start
    q = statistics.quantiles(delays, n=100)
    return {"commits_per_s": commits / elapsed, "msgs_per_commit": n / commits,
            "cpu_per_1k_readings": cpu[0] / (2 * n) * 1000,
            "ack_p50_ms": q[49] * 1000, "ack_p99_ms": q[98] * 1000}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=2000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--windows", type=float, nargs="+", default=[0, 2, 5, 10, 20])
    a = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}; {a.rate:.0f} msg/s for "
          f"{a.seconds:.0f} s, 2 readings a message, every detector, synchronous=FULL")
    print("| group_commit_ms | commits/s | messages/commit | core CPU s per 1k readings "
          "| hand-over -> ack p50 ms | p99 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for w in a.windows:
            r = run(w, a.rate, a.seconds, Path(tmp))
            print(f"| {w:g} | {r['commits_per_s']:,.0f} | {r['msgs_per_commit']:.1f} | "
                  f"{r['cpu_per_1k_readings']:.3f} | {r['ack_p50_ms']:.1f} | "
                  f"{r['ack_p99_ms']:.1f} |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
