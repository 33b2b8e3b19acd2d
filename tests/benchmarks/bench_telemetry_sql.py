"""Readings per second into the SQL telemetry stores: SqliteStore vs PostgresStore.

Store level, no HTTP: ``--writers`` concurrent writers (hub workers or hub processes) each
write ``--batches`` batches of ``--batch`` readings through ``write_readings`` (one committed
transaction per batch, as ingest does), 10 nodes x 2 channels per gateway, 1-minute cadence.
Both stores run here: SQLite on a temp file (WAL, ``synchronous=FULL``), PostgreSQL a cluster
of its own (siaga.simulators.servers, Debian's default ``fsync=on``). Then the row count is
checked against what was written, and the raw-24 h and hourly queries of one channel timed.

    .venv/bin/python tests/benchmarks/bench_telemetry_sql.py [--writers 4] [--batches 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from siaga.api.db_postgres import PostgresDatabase
from siaga.api.telemetry.postgres import PostgresStore
from siaga.api.telemetry.sql_store import SqlStore
from siaga.api.telemetry.sqlite import SqliteStore
from siaga.firmware_bridge.uplink import UplinkReading
from siaga.simulators.servers import PostgreSQL

T0 = 1_795_000_000_000
MIN = 60_000


def batch(gateway: int, number: int, size: int) -> list[UplinkReading]:
    out = []
    for i in range(size):
        k = number * size + i
        node, channel = f"gw{gateway}-n{k % 10}", ("vwc", "rain")[k // 10 % 2]
        ts = T0 + (k // 20) * MIN
        out.append(UplinkReading(id=k, node=node, channel=channel, value=20.0 + k % 30,
                                 unit="", ts=ts, rx=ts, seq=k % 65_536, src="serial"))
    return out


async def measure(name: str, store: SqlStore, writers: int, batches: int, size: int) -> None:
    await store.start()
    plans = [[batch(w, b, size) for b in range(batches)] for w in range(writers)]

    async def writer(w: int) -> int:
        return sum([await store.write_readings(f"gw{w}", b) for b in plans[w]])

    t = time.perf_counter()
    added = sum(await asyncio.gather(*(writer(w) for w in range(writers))))
    took = time.perf_counter() - t
    total = writers * batches * size
    counted = await store.db.run(
        lambda conn: conn.execute("SELECT count(*) FROM reading").fetchone()[0])
    print(f"{name}: {total:,} readings in {took:.1f} s = {total / took:,.0f} readings/s"
          f" ({writers} writers x {batches} batches of {size}); new {added:,}, counted {counted:,}")
    node, end = "gw0-n0", T0 + (batches * size // 20) * MIN
    for label, call in (
        ("raw 24 h", lambda: store.readings(node, "vwc", end - 1440 * MIN, end)),
        ("hourly 24 h", lambda: store.aggregate(node, "vwc", end - 1440 * MIN, end, 60 * MIN)),
    ):
        times = []
        for _ in range(20):
            q = time.perf_counter()
            await call()
            times.append((time.perf_counter() - q) * 1000)
        print(f"  {label}: p50 {statistics.median(times):.1f} ms")
    await store.close()


async def main(args: argparse.Namespace) -> None:
    path = Path(tempfile.mkdtemp(prefix="siaga-bench-telemetry-")) / "telemetry.sqlite3"
    await measure("SQLite", SqliteStore(path), args.writers, args.batches, args.batch)
    server = PostgreSQL().start()
    try:
        db = PostgresDatabase(server.create_schema(), pool_size=args.writers)
        await measure("PostgreSQL", PostgresStore(db), args.writers, args.batches, args.batch)
        db.close()
    finally:
        server.cleanup()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--batches", type=int, default=50, help="per writer")
    ap.add_argument("--batch", type=int, default=500, help="readings per batch")
    asyncio.run(main(ap.parse_args()))
