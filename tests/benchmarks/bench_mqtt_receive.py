"""paho's receive path alone: CPU per device message in the gateway's process, from a
backlog already waiting in Mosquitto (so no publisher shares the measured time).

Variants (MQTT 3.1.1, QoS 1, manual acks, broker in-flight window 100 as
deploy/mosquitto/gateway.conf ships it):

- ``paho, on_message acks only``: the floor of paho itself;
- ``paho + receive buffer, acks only``: the same through
  gateway/sources/buffered_socket.py (one recv serves many packets);
- ``MqttSource``: the gateway's source (decode, batches to the core's inbox), a
  consumer thread acking each batch as the core would after its commit: as before
  (paho's ``ack(mid)`` per message, no buffer), with the receive buffer, and with the
  buffer and the batch's PUBACKs queued as one write (``_ReadHookClient.ack_all``);
- ``MqttSource + Core``: the whole receive path up to the readings the core hands
  detection (the real ``Core`` with detection, buffer and output off: sequence and
  duplicate checks, counters, conversion with the clock-offset filter), acking after
  each processed batch as after a commit.

Device messages carry ``seq``, ``ts`` (node time, ms) and two channels, as the
side-by-side kit's flood does.

    .venv/bin/python tests/benchmarks/bench_mqtt_receive.py [--messages 50000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import queue
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from siaga.gateway.config import DownlinkSettings, MqttSourceSettings, load_settings
from siaga.gateway.core import Core, Stop
from siaga.gateway.downlink import Downlink
from siaga.gateway.reading_converter import ReadingConverter
from siaga.gateway.sources import mqtt_source
from siaga.gateway.sources.handoff import Inbox
from siaga.gateway.sources.mqtt_source import MqttSource
from siaga.simulators.servers import Mosquitto

NODES = 10


def backlog(broker: Mosquitto, n: int, client_id: str) -> None:
    """Create the persistent session of ``client_id``, then queue ``n`` messages for it."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                    protocol=mqtt.MQTTv311)
    c.connect(broker.host, broker.port)
    c.subscribe("siaga/node/+/up", 1)
    c.loop(1.0)
    c.disconnect()
    t0_ms = int(time.time() * 1000) - n
    with tempfile.TemporaryDirectory() as d:
        procs = []
        for k in range(NODES):
            f = Path(d) / f"n{k}.txt"
            f.write_text("".join(
                f'{{"seq":{s // NODES},"ts":{t0_ms + s},"v":{{"vwc":{30 + s % 40 * 0.05:.2f},'
                f'"temp":{25 + s % 20 * 0.1:.1f}}}}}\n' for s in range(k, n, NODES)))
            procs.append(subprocess.Popen(
                ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-q", "1", "-l",
                 "-t", f"siaga/node/bench-{k:02d}/up", "-i", f"pub-{k}"], stdin=f.open()))
        for p in procs:
            p.wait(120)
    time.sleep(0.5)


def drain_paho(broker: Mosquitto, n: int, client_id: str, buffered: bool) -> float:
    done = threading.Event()
    got = [0]

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        client.ack(msg.mid, 1)
        got[0] += 1
        if got[0] >= n:
            done.set()

    cls = mqtt_source._ReadHookClient if buffered else mqtt.Client
    args: tuple[Any, ...] = (lambda: None, None) if buffered else ()
    c = cls(*args, CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
            protocol=mqtt.MQTTv311, manual_ack=True)
    c.on_message = on_message
    cpu0 = time.process_time()
    c.connect(broker.host, broker.port)
    c.loop_start()
    if not done.wait(300):
        raise SystemExit(f"only {got[0]} of {n} messages arrived")
    cpu = time.process_time() - cpu0
    c.disconnect()
    c.loop_stop()
    return cpu


def drain_source(broker: Mosquitto, n: int, client_id: str, buffered: bool,
                 batched_acks: bool) -> float:
    inbox: queue.Queue[Any] = Inbox(maxsize=1000)
    stop = threading.Event()
    got = [0]
    done = threading.Event()

    def core() -> None:  # acks each batch as the core does after its commit
        while not done.is_set():
            try:
                b = inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            b.on_committed()
            got[0] += len(b.items)
            if got[0] >= n:
                done.set()

    cls = mqtt_source._ReadHookClient
    original = cls._create_socket, cls.ack_all
    if not buffered:
        cls._create_socket = lambda self: mqtt.Client._create_socket(self)  # type: ignore
    if not batched_acks:
        cls.ack_all = lambda self, mids: [self.ack(mid, 1) for mid in mids]  # type: ignore
    try:
        src = MqttSource(MqttSourceSettings(host=broker.host, port=broker.port,
                                            client_id=client_id), inbox, stop)
        t = threading.Thread(target=core, daemon=True)
        cpu0 = time.process_time()
        t.start()
        src.start()
        if not done.wait(300):
            raise SystemExit(f"only {got[0]} of {n} messages arrived")
        cpu = time.process_time() - cpu0
        stop.set()
        src.stop()
    finally:
        cls._create_socket, cls.ack_all = original  # type: ignore[method-assign]
    return cpu


def drain_core(broker: Mosquitto, n: int, client_id: str, workdir: Path) -> float:
    """Socket to readings: MqttSource into a real Core (no detection, store or output)."""
    settings = load_settings(None, {}, {"mqtt.host": broker.host, "mqtt.port": broker.port,
                                        "mqtt.client_id": client_id,
                                        "gateway.state_dir": str(workdir)})
    inbox: queue.Queue[Any] = Inbox(maxsize=settings.queue_size)
    stop = threading.Event()
    core = Core(settings, inbox, ReadingConverter(settings.convert),
                Downlink(DownlinkSettings(), lambda *a: True))
    worker = threading.Thread(target=core.run, daemon=True)
    src = MqttSource(settings.mqtt, inbox, stop)
    cpu0 = time.process_time()
    worker.start()
    src.start()
    deadline = time.monotonic() + 300
    totals = core.stats.totals
    while totals.frames_ok + totals.duplicates < n:  # read racily: only ever grows
        if time.monotonic() > deadline:
            raise SystemExit(f"only {totals.frames_ok} of {n} messages arrived")
        time.sleep(0.01)
    cpu = time.process_time() - cpu0
    if totals.readings != 2 * n:
        raise SystemExit(f"{totals.readings} readings from {n} messages, want {2 * n}")
    stop.set()
    src.stop()
    inbox.put(Stop())
    worker.join(30)
    return cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", help="run only the variants whose name contains this")
    a = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-recv-"))
    broker = Mosquitto(extra_config="max_inflight_messages 100").start()
    variants = [
        ("paho, on_message acks only", lambda cid: drain_paho(broker, a.messages, cid, False)),
        ("paho + receive buffer, acks only", lambda cid: drain_paho(broker, a.messages, cid, True)),
        ("MqttSource (decode, hand-off), before: paho ack(mid) each",
         lambda cid: drain_source(broker, a.messages, cid, False, False)),
        ("MqttSource + receive buffer",
         lambda cid: drain_source(broker, a.messages, cid, True, False)),
        ("MqttSource + receive buffer + one write per batch of PUBACKs",
         lambda cid: drain_source(broker, a.messages, cid, True, True)),
        ("MqttSource + Core: socket to the readings detection gets",
         lambda cid: drain_core(broker, a.messages, cid, workdir)),
    ]
    if a.only:
        variants = [v for v in variants if a.only in v[0]]
    results: dict[str, list[float]] = {name: [] for name, _ in variants}
    try:
        for rep in range(a.repeats):  # interleaved: load drift hits every variant
            for i, (name, run) in enumerate(variants):
                cid = f"bench-recv-{rep}-{i}"
                backlog(broker, a.messages, cid)
                results[name].append(run(cid) / a.messages * 1e6)
    finally:
        broker.cleanup()
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"{a.messages:,} messages x {a.repeats} (interleaved), load average {' '.join(load)}")
    print("| variant | process CPU per message, median (min-max) |\n| --- | --- |")
    for name, vals in results.items():
        print(f"| {name} | {statistics.median(vals):.1f} µs ({min(vals):.1f}-{max(vals):.1f}) |")


if __name__ == "__main__":
    main()
