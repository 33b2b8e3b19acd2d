"""The gateway's CPU at a paced (low) rate and at rest: where a field gateway lives.

A flood costs ~17 us a message; at 200 messages/s the side-by-side kit measured ~500 us
(issue 17): fixed costs per wake-up, per commit and per timer. This runs the real
``siaga-gateway run`` (SQLite buffer, synchronous=FULL, every detector, no uplink) against
its own Mosquitto (in-flight window 100, as the kit) and

- idle: no messages for ``--idle-s`` seconds -> CPU s (user, system) per minute;
- paced: a paho publisher sends the kit's message (``seq``, ``ts``, two channels; 10 nodes)
  at each ``--rates`` rate, QoS 1, evenly spaced, for ``--seconds`` -> CPU s (user,
  system) per 1k messages and commits per message (from the status file).

``--gateway-bin A,B`` runs several checkouts' ``siaga-gateway``, interleaved per round.

    PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_gateway_paced.py \
        [--rates 20,200,2000] [--seconds 30] [--idle-s 60] [--repeats 2] \
        [--gateway-bin /tmp/base/.venv/bin,.venv/bin]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from siaga.simulators.servers import Mosquitto

NODES = 10
TICKS = os.sysconf("SC_CLK_TCK")


def user_system_s(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def status_of(state: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        return dict(json.loads((state / "status.json").read_text()))
    return {}


class PacedPublisher:
    """QoS 1 publisher at a fixed rate. (Its PUBACKs come from Mosquitto on receipt, not
    from the gateway's commit, so they say nothing about the gateway: not measured.)"""

    def __init__(self, host: str, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="paced-pub")
        self.client.max_inflight_messages_set(1000)
        self.client.connect(host, port)
        self.client.loop_start()
        self.seq = 0

    def run(self, rate: float, seconds: float) -> int:
        """Publish ``rate * seconds`` messages evenly spaced."""
        count = int(rate * seconds)
        start = time.monotonic()
        last = None
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            node, seq = i % NODES, self.seq // NODES % 65536
            self.seq += 1
            body = (f'{{"seq":{seq},"ts":{time.time_ns() // 1_000_000},'
                    f'"v":{{"vwc":{30 + i % 40 * 0.05:.2f},"temp":{25 + i % 20 * 0.1:.1f}}}}}')
            last = self.client.publish(f"siaga/node/paced-{node:02d}/up", body, qos=1)
        if last is not None:
            last.wait_for_publish(30)
        return count

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def one_round(gateway_bin: Path, rates: list[float], seconds: float, idle_s: float,
              tmp: Path, label: str, gateway_extra: str) -> None:
    broker = Mosquitto(extra_config="max_inflight_messages 100").start()
    gw: subprocess.Popen[bytes] | None = None
    try:
        state = tmp / f"state-{time.monotonic_ns()}"
        conf = tmp / "paced-gateway.toml"
        conf.write_text(
            f'[gateway]\nid = "bench"\nstate_dir = "{state}"\n{gateway_extra}'
            f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nclient_id = "bench-paced"\n'
            '[buffer]\npath = "buffer.sqlite3"\n')
        log_path = tmp / f"paced-{time.monotonic_ns()}.log"
        with log_path.open("wb") as log:
            gw = subprocess.Popen([str(gateway_bin / "siaga-gateway"), "run", "--config",
                                   str(conf)], stdout=subprocess.DEVNULL, stderr=log, cwd=tmp)
        deadline = time.monotonic() + 60
        while b"connected, subscribed" not in log_path.read_bytes():
            if time.monotonic() > deadline or gw.poll() is not None:
                raise SystemExit("gateway did not connect")
            time.sleep(0.05)
        time.sleep(3.0)  # start-up settled (imports, first status write)
        if idle_s > 0:
            u0, s0 = user_system_s(gw.pid)
            time.sleep(idle_s)
            u1, s1 = user_system_s(gw.pid)
            per_min = 60 / idle_s
            print(f"[{label}] idle {idle_s:.0f} s: CPU per minute user {(u1 - u0) * per_min:.3f} s"
                  f", system {(s1 - s0) * per_min:.3f} s, total "
                  f"{(u1 - u0 + s1 - s0) * per_min:.3f} s", flush=True)
        pub = PacedPublisher(broker.host, broker.port)
        try:
            for rate in rates:
                before = status_of(state)
                load = os.getloadavg()[0]
                u0, s0 = user_system_s(gw.pid)
                count = pub.run(rate, seconds)
                time.sleep(1.0)
                u1, s1 = user_system_s(gw.pid)
                time.sleep(5.5)  # the next status write carries the commits
                after = status_of(state)
                commits = int(after.get("commits", 0)) - int(before.get("commits", 0))
                readings = (int(after.get("totals", {}).get("readings", 0))
                            - int(before.get("totals", {}).get("readings", 0)))
                k = 1000 / count
                print(f"[{label}] {rate:g} msg/s x {seconds:g} s ({count} messages, "
                      f"{readings}/{2 * count} readings): CPU per 1k messages user "
                      f"{(u1 - u0) * k:.3f} s, "
                      f"system {(s1 - s0) * k:.3f} s, total {(u1 - u0 + s1 - s0) * k:.3f} s "
                      f"({1e6 * (u1 - u0 + s1 - s0) / count:.0f} us a message); "
                      f"{commits / count:.2f} commits a message; load average {load:.1f}",
                      flush=True)
        finally:
            pub.close()
    finally:
        if gw is not None:
            gw.terminate()
            gw.wait(30)
        broker.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="20,200,2000", help="messages/s, comma-separated")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--idle-s", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--gateway-bin", default=str(Path(sys.executable).parent),
                        help="bin directories whose siaga-gateway runs, comma-separated")
    parser.add_argument("--gateway-toml", default="",
                        help='extra [gateway] lines, e.g. "group_commit_ms = 20"; several: '
                             'separated by "|", each a round of its own')
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    print(f"machine: {os.cpu_count()} cores, shared; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="siaga-bench-paced-") as tmp:
        for _ in range(args.repeats):
            for b in args.gateway_bin.split(","):
                for extra in args.gateway_toml.split("|"):
                    one_round(Path(b), rates, args.seconds, args.idle_s, Path(tmp),
                              f"{b} {extra}".strip(), extra.replace(";", "\n") + "\n")


if __name__ == "__main__":
    main()
