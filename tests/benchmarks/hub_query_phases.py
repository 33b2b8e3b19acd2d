"""The hub benchmark's query timings (bench_hub_ingest.py, step 5): background data loaded
straight into influxd, then the readings API timed against influxd alone and against the
SQLite store."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from hub_ingest_phases import DAY, MIN, T0
from machine_figures import pct

from siaga.firmware_bridge.frame_rules import SEQ_MODULUS
from siaga.simulators.servers import HubProcess, InfluxDB


def load_month(influx: InfluxDB, nodes: int, days: int) -> float:
    """``nodes`` x ``days`` of 1-minute vwc data straight into influxd (background data)."""
    started = time.perf_counter()
    end = T0 + 10 * DAY
    start = end - days * DAY
    step_lines = 10_000
    with httpx.Client(base_url=influx.url, timeout=120) as client:
        buf: list[str] = []
        for n in range(nodes):
            for ts in range(start, end, MIN):
                # the hub's own form: seq in the time's sub-ms part (line_protocol.py)
                buf.append(f"reading,channel=vwc,gateway=month,node=month-n{n:03d} "
                           f"value={20 + (ts // MIN) % 30}.5 "
                           f"{ts * 1_000_000 + ts // MIN % SEQ_MODULUS}")
                if len(buf) >= step_lines:
                    client.post("/write", params={"db": "bench", "precision": "ns"},
                                content="\n".join(buf)).raise_for_status()
                    buf.clear()
        if buf:
            client.post("/write", params={"db": "bench", "precision": "ns"},
                        content="\n".join(buf)).raise_for_status()
    return time.perf_counter() - started


def timed_gets(client: httpx.Client, path: str, params: dict[str, Any], headers: dict[str, str],
               runs: int) -> tuple[list[float], Any]:
    times = []
    doc = None
    for _ in range(runs):
        t = time.perf_counter()
        r = client.get(path, params=params, headers=headers)
        times.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
        doc = r.json()
    return times, doc


def query_phase(hub: HubProcess, influx: InfluxDB, staff_headers: dict[str, str], node: str,
                runs: int) -> None:
    end = T0 + 10 * DAY
    day = {"channel": "vwc", "from": end - DAY, "to": end}
    # influxd alone, the same InfluxQL the store sends, for how much of the time is the hub's
    q = (f"SELECT value, seq, gateway FROM \"reading\" WHERE node = '{node}' AND channel = 'vwc'"
         f" AND time >= {(end - DAY) * 1_000_000} AND time < {end * 1_000_000}"
         " ORDER BY time ASC LIMIT 10000")
    with httpx.Client(base_url=influx.url, timeout=60) as client:
        times, _ = timed_gets(client, "/query", {"db": "bench", "q": q, "epoch": "ns"}, {},
                              runs)
        print(f"  influxd alone raw 24 h: p50 {pct(times, .5):6.1f} ms  "
              f"p99 {pct(times, .99):6.1f} ms")
    with httpx.Client(base_url=hub.url, timeout=60) as client:
        for name, params in (("raw 24 h", day), ("hourly 24 h", {**day, "every": "1h"}),
                             ("latest", None)):
            path = f"/api/v1/nodes/{node}/latest" if params is None else \
                f"/api/v1/nodes/{node}/readings"
            timed_gets(client, path, params or {}, staff_headers, 3)  # warm up
            times, doc = timed_gets(client, path, params or {}, staff_headers, runs)
            size = (len(doc["readings"]) if "readings" in doc else
                    len(doc.get("intervals", doc.get("channels", []))))
            print(f"  query {name:12s}: {size:5d} rows  p50 {pct(times, .5):6.1f} ms  "
                  f"p99 {pct(times, .99):6.1f} ms  max {max(times):6.1f} ms")


def sqlite_query_phase(nodes: int, days: int, runs: int) -> None:
    """The same queries on the embedded SqliteStore (store level) over ``nodes`` x ``days``
    of 1-minute data, written in bulk as the store's own transactions would."""
    from siaga.api.telemetry.sqlite import SqliteStore

    path = Path(tempfile.mkdtemp(prefix="siaga-bench-sqlite-")) / "telemetry.sqlite3"
    store = SqliteStore(path)
    end = T0 + 10 * DAY
    start = end - days * DAY

    async def run() -> None:
        await store.start()
        t = time.perf_counter()

        def load(conn: Any) -> None:
            conn.execute("PRAGMA synchronous=OFF")  # bulk load only; the store uses FULL
            conn.execute("BEGIN")
            for n in range(nodes):
                conn.executemany(
                    "INSERT INTO reading (node, channel, ts, gateway, seq, value)"
                    " VALUES (?, 'vwc', ?, 'month', ?, ?)",
                    ((f"month-n{n:03d}", ts, ts // MIN % 100000, 20.5 + (ts // MIN) % 30)
                     for ts in range(start, end, MIN)))
                conn.execute("INSERT OR REPLACE INTO latest_reading VALUES (?, 'vwc', ?, 0, 1.0)",
                             (f"month-n{n:03d}", end - MIN))
            conn.execute("COMMIT")

        await store.db.run(load)
        print(f"  SQLite: loaded {nodes * days * 1440:,} rows in {time.perf_counter() - t:.0f} s "
              f"({path.stat().st_size / 1e9:.1f} GB)")
        node = f"month-n{nodes // 2:03d}"
        for name, call in (
            ("raw 24 h", lambda: store.readings(node, "vwc", end - DAY, end)),
            ("hourly 24 h", lambda: store.aggregate(node, "vwc", end - DAY, end, 3_600_000)),
            ("latest", lambda: store.latest(node)),
        ):
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                rows = await call()
                times.append((time.perf_counter() - t) * 1000)
            print(f"  SQLite {name:12s}: {len(rows):5d} rows  p50 {pct(times, .5):6.1f} ms  "
                  f"p99 {pct(times, .99):6.1f} ms")
        await store.close()

    try:
        asyncio.run(run())
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
