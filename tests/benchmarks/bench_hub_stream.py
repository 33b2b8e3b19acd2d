"""Live stream fan-out: latency from ``bus.publish`` to the event read by SSE clients.

A real uvicorn hub (tests/api_fixtures.serve_hub) in this process; N SSE clients (half BPBD
responders, half admins) on their own connections, run by asyncio in a separate process so
their parsing does not compete with the hub for this process's GIL. M events are published
at a fixed rate, alternately for BPBD and PMK. Prints p50/p99/max latency (wall clock, same
machine) and checks every client got exactly the events its agency should see.

    .venv/bin/python -m tests.benchmarks.bench_hub_stream [--clients 50] [--events 400] [--rate 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

from tests.api_fixtures import make_settings, serve_hub

DONE = "bench.done"


async def _client(url: str, token: str, ready: asyncio.Queue[None],
                  out: list[float]) -> int:
    received = 0
    async with httpx.AsyncClient(base_url=url, timeout=120) as c, \
            c.stream("GET", "/api/v1/stream",
                     headers={"Authorization": f"Bearer {token}"}) as r:
        lines = r.aiter_lines()
        while await anext(lines) != "":
            pass
        ready.put_nowait(None)
        async for line in lines:
            if line.startswith("data: "):
                now = time.time()
                data = json.loads(line[6:])
                if data["type"] == DONE:
                    return received
                out.append(now - data["t"])
                received += 1
    return received


def _clients_process(url: str, tokens: list[str], conn: Connection) -> None:
    async def run() -> None:
        ready: asyncio.Queue[None] = asyncio.Queue()
        latencies: list[float] = []
        tasks = [asyncio.create_task(_client(url, t, ready, latencies)) for t in tokens]
        for _ in tokens:
            await ready.get()
        conn.send("ready")
        cpu0 = time.process_time()
        counts = await asyncio.gather(*tasks)
        conn.send((latencies, counts, time.process_time() - cpu0))

    asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--events", type=int, default=400)
    ap.add_argument("--rate", type=float, default=100.0, help="events per second")
    args = ap.parse_args()

    settings = make_settings(Path(tempfile.mkdtemp(prefix="bench-stream-")),
                             live={"queue_size": 1024, "keepalive_s": 5})
    with serve_hub(settings) as hub:
        tokens = [hub.staff(role="admin" if i % 2 else "responder", agency="BPBD").token
                  for i in range(args.clients)]
        parent, child = mp.get_context("spawn").Pipe()
        proc = mp.get_context("spawn").Process(target=_clients_process,
                                               args=(hub.url, tokens, child))
        proc.start()
        assert parent.poll(120) and parent.recv() == "ready"

        def publish(n: int) -> None:
            hub.services.bus.publish({"type": "incident.updated", "n": n, "t": time.time()},
                                     ["BPBD" if n % 2 else "PMK"])

        interval = 1 / args.rate
        cpu0 = time.process_time()
        start = time.perf_counter()
        for n in range(args.events):
            hub.loop.call_soon_threadsafe(publish, n)
            delay = start + (n + 1) * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        hub.loop.call_soon_threadsafe(
            lambda: hub.services.bus.publish({"type": DONE}, ["BPBD", "PMK"]))
        assert parent.poll(120)
        latencies, counts, client_cpu = parent.recv()
        wall = time.perf_counter() - start
        hub_cpu = time.process_time() - cpu0
        proc.join(30)

    expected = [args.events if i % 2 else args.events // 2 for i in range(args.clients)]
    lat_ms = sorted(x * 1000 for x in latencies)

    def pct(q: float) -> float:
        return lat_ms[min(len(lat_ms) - 1, int(q * len(lat_ms)))]

    print(f"clients {args.clients}, events {args.events} at {args.rate:g}/s, "
          f"deliveries {len(lat_ms)}")
    print(f"publish -> client latency ms: p50 {pct(0.5):.2f}  p99 {pct(0.99):.2f}  "
          f"max {lat_ms[-1]:.2f}  mean {statistics.fmean(lat_ms):.2f}")
    print(f"CPU over {wall:.1f} s: hub process {hub_cpu:.1f} s, client process "
          f"{client_cpu:.1f} s (a client process near {wall:.0f} s is the bottleneck)")
    print("every client got exactly its agency's events:", counts == expected)


if __name__ == "__main__":
    main()
