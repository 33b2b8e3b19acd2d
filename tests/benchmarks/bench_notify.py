"""Notification delivery throughput: the outbox bookkeeping and a real webhook round trip.

1. In-process on a fresh SQLite file: ``--incidents`` incidents opened (one outbox row each),
   then ``plan`` (rules -> deliveries, one transaction per 200 rows) and the sender's
   ``claim`` + ``finish`` per delivery with a channel that answers at once: the ceiling the
   database puts on deliveries per second (two committed transactions per message).
2. The NotifyService with the real webhook channel against a local HTTP receiver: end to end
   deliveries per second, rate limit lifted.

No target in the issue; the figures say how far the sender is from the channels' own limits
(Telegram ~30 msg/s, WhatsApp 80 msg/s per number by default).

    .venv/bin/python tests/benchmarks/bench_notify.py [--incidents 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from siaga.api.db import Database
from siaga.api.incidents.intake import AlertFacts, record_alerts
from siaga.api.incidents.settings import IncidentSettings
from siaga.api.metrics import MetricsRegistry
from siaga.api.migrations import migrate
from siaga.api.notify import outbox
from siaga.api.notify.channel import Sent
from siaga.api.notify.service import NotifyService, build_channels
from siaga.api.notify.settings import NotifySettings
from siaga.firmware_bridge.uplink import UplinkAlert

ROOT = Path(__file__).resolve().parents[2]

S = IncidentSettings()


def settings(url: str) -> NotifySettings:
    return NotifySettings.model_validate({
        "enabled": True, "poll_s": 0.05, "webhook": {"secret": "bench-secret-123456",
                                                      "rate": {"per_minute": 10**6,
                                                               "burst": 10**4}},
        "groups": {"g": {"webhook": url}},
        "rules": [{"min_level": 2, "channels": ["webhook"], "to": ["group:g"]}]})


def open_incidents(db: Database, n: int) -> None:
    now = time.time()
    facts = [AlertFacts(gateway="gw", site=f"s{i}", alert=UplinkAlert(
        id=i + 1, node=f"n{i}", hazard="landslide", level=3, previous_level=1,
        detector="landslide", ts=int(now * 1000) + i, explanation="bench",
        explanation_en="bench"))
        for i in range(n)]
    for i in range(0, n, 100):
        db.call(lambda c, chunk=facts[i:i + 100]: record_alerts(c, S, chunk, now))


def bookkeeping(workdir: Path, n: int) -> None:
    db = Database(workdir / "book.sqlite3")
    migrate(db)
    open_incidents(db, n)
    s = settings("http://127.0.0.1:9/")
    t = time.perf_counter()
    made = 0
    while True:
        got = db.call(lambda c: outbox.plan(c, s, S, now=time.time(), timezone="Asia/Jakarta",
                                            site_name=lambda _: None))
        if not got:
            break
        made += got
    plan_s = time.perf_counter() - t
    t = time.perf_counter()
    sent = 0
    while True:
        batch = db.call(lambda c: outbox.claim(c, "webhook", now=time.time(), limit=1,
                                               lease_s=60))
        if not batch:
            break
        db.call(lambda c, b=batch: outbox.finish(c, s, [(d, Sent()) for d in b],
                                                 now=time.time(), backoff=lambda a: 1.0))
        sent += len(batch)
    send_s = time.perf_counter() - t
    db.close()
    print(f"plan:          {made} deliveries in {plan_s:.2f} s = {made / plan_s:,.0f}/s")
    print(f"claim+finish:  {sent} deliveries in {send_s:.2f} s = {sent / send_s:,.0f}/s "
          "(batch 1: two transactions each)")


def end_to_end(workdir: Path, n: int) -> None:
    seen = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen[0] += 1
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    db = Database(workdir / "e2e.sqlite3")
    migrate(db)
    open_incidents(db, n)
    s = settings(f"http://127.0.0.1:{server.server_address[1]}/hook")

    async def run() -> float:
        import httpx
        async with httpx.AsyncClient() as client:
            svc = NotifyService(db, s, S, timezone="Asia/Jakarta", site_name=lambda _: None,
                                channels=build_channels(s, client), metrics=MetricsRegistry())
            t = time.perf_counter()
            await svc.start()
            while seen[0] < n:
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - t
            await svc.close()
            return elapsed

    elapsed = asyncio.run(run())
    server.shutdown()
    db.close()
    print(f"webhook e2e:   {n} deliveries in {elapsed:.2f} s = {n / elapsed:,.0f}/s "
          "(plan, sign, POST, record; one sender)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--incidents", type=int, default=500)
    args = p.parse_args()
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as d:
        bookkeeping(Path(d), args.incidents)
        end_to_end(Path(d), args.incidents)


if __name__ == "__main__":
    main()
