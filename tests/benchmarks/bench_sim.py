"""Simulator throughput: scenario generation, wire encoding, and the MQTT flood.

Run: .venv/bin/python tests/benchmarks/bench_sim.py [--count 50000] [--nodes 10]
Prints its figures; asserts nothing. The flood runs against a Mosquitto of its own
(simulators/servers.py) on a free port, with nothing subscribed.
"""

from __future__ import annotations

import argparse
import resource
import time

from siaga.simulators.device_wire import mqtt_message, serial_line
from siaga.simulators.mqtt_nodes import flood
from siaga.simulators.scenario_catalog import build, generate
from siaga.simulators.servers import Mosquitto


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=50_000)
    p.add_argument("--nodes", type=int, default=10)
    args = p.parse_args()

    t = time.perf_counter()
    run = generate("quiet", seed=1, duration_s=86400.0)
    gen_s = time.perf_counter() - t
    n = len(run.messages)
    print(f"generate quiet, 1 day, 7 nodes: {n} messages in {gen_s:.2f} s "
          f"= {n / gen_s:,.0f} messages/s ({len(run.samples) / gen_s:,.0f} samples/s)")

    t = time.perf_counter()
    for m in run.messages:
        serial_line(m)
    s = time.perf_counter() - t
    print(f"serial_line: {n / s:,.0f} frames/s")
    t = time.perf_counter()
    for m in run.messages:
        mqtt_message(m)
    s = time.perf_counter() - t
    print(f"mqtt_message: {n / s:,.0f} messages/s")

    broker = Mosquitto().start()
    try:
        cpu0 = time.process_time()
        result = flood(build("quiet", seed=1, nodes=args.nodes), broker.host, broker.port,
                       args.count)
        cpu = time.process_time() - cpu0
    finally:
        broker.cleanup()
    print(f"flood {args.count} messages, {args.nodes} nodes, QoS 1: sent {result.sent}, "
          f"acked {result.acked} in {result.seconds:.2f} s = {result.rate:,.0f} msg/s "
          f"(built in {result.prepare_seconds:.2f} s; process CPU {cpu:.2f} s)")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
