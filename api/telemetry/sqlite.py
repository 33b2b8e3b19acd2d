"""SqliteStore: telemetry in an SQLite file of its own, the embedded default.

WAL journal and ``synchronous=FULL``: a write returns after the commit is fsynced. The reading
table's primary key is the reading identity ``(gateway, node, channel, ts, seq)``, ordered
``(node, channel, ts, gateway, seq)`` in a WITHOUT ROWID table so the same key is also the index
every time-range query of one node's channel walks; ``INSERT OR IGNORE`` makes a rewrite a
no-op and tells us how many rows were new. ``latest_reading`` keeps the newest reading of each
node's channel, so "latest" never scans history.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from siaga.api.db import Connection, Database, transaction
from siaga.api.telemetry.records import (
    AggregatePoint,
    IncidentEventPoint,
    LatestReading,
    ReadingPoint,
)
from siaga.firmware_bridge.channels import VALUE_BOUND
from siaga.firmware_bridge.uplink import UplinkReading

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reading (
    node TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts INTEGER NOT NULL,
    gateway TEXT NOT NULL,
    seq INTEGER NOT NULL,
    value REAL NOT NULL,
    raw REAL,
    backfill INTEGER NOT NULL DEFAULT 0,
    skew INTEGER NOT NULL DEFAULT 0,
    reset INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (node, channel, ts, gateway, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS latest_reading (
    node TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (node, channel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS incident_event (
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    ts INTEGER NOT NULL,
    hazard TEXT NOT NULL,
    level INTEGER NOT NULL,
    site TEXT NOT NULL,
    agency TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (id, type, ts)
);
CREATE INDEX IF NOT EXISTS incident_event_ts ON incident_event (ts);
"""

_INSERT = (
    "INSERT OR IGNORE INTO reading"
    " (node, channel, ts, gateway, seq, value, raw, backfill, skew, reset)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_LATEST = (
    "INSERT INTO latest_reading (node, channel, ts, seq, value) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (node, channel) DO UPDATE SET ts = excluded.ts, seq = excluded.seq,"
    " value = excluded.value"
    " WHERE (excluded.ts, excluded.seq) > (latest_reading.ts, latest_reading.seq)"
)


class SqliteStore:
    kind = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: Database | None = None

    async def start(self) -> None:
        if self.path.parent != Path(""):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = Database(self.path)
        self._db.call(lambda conn: conn.executescript(_SCHEMA))

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def ping(self) -> str | None:
        """For /healthz: None when the file answers a query."""
        await self.db.run(lambda conn: conn.execute("SELECT 1").fetchone())
        return None

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("SqliteStore not started")
        return self._db

    async def write_readings(self, gateway: str, readings: Sequence[UplinkReading]) -> int:
        if not readings:
            return 0
        rows = [
            (r.node, r.channel, r.ts, gateway, r.seq, r.value, r.raw, r.backfill, r.skew, r.reset)
            for r in readings
        ]
        newest: dict[tuple[str, str], UplinkReading] = {}
        for r in readings:
            best = newest.get((r.node, r.channel))
            if best is None or (r.ts, r.seq) > (best.ts, best.seq):
                newest[(r.node, r.channel)] = r
        latest = [(r.node, r.channel, r.ts, r.seq, r.value) for r in newest.values()]

        def write(conn: Connection) -> int:
            with transaction(conn):
                # executemany's rowcount sums the rows each statement wrote (0 if ignored).
                added = conn.executemany(_INSERT, rows).rowcount
                conn.executemany(_LATEST, latest)
            return added

        return await self.db.run(write)

    async def write_incident_events(self, events: Sequence[IncidentEventPoint]) -> None:
        rows = [(e.id, e.type, e.ts, e.hazard, e.level, e.site, e.agency_tag, e.text)
                for e in events]

        def write(conn: Connection) -> None:
            with transaction(conn):
                conn.executemany(
                    "INSERT OR IGNORE INTO incident_event"
                    " (id, type, ts, hazard, level, site, agency, text)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

        if rows:
            await self.db.run(write)

    async def readings(
        self, node: str, channel: str, start: int, end: int, limit: int = 100_000
    ) -> list[ReadingPoint]:
        def read(conn: Connection) -> list[ReadingPoint]:
            cur = conn.execute(
                "SELECT ts, value, seq, gateway FROM reading"
                " WHERE node = ? AND channel = ? AND ts >= ? AND ts < ?"
                " ORDER BY ts, gateway, seq LIMIT ?",  # the primary key order: no sort
                (node, channel, start, end, limit),
            )
            return [ReadingPoint(*row) for row in cur]

        return await self.db.run(read)

    async def aggregate(
        self, node: str, channel: str, start: int, end: int, every: int
    ) -> list[AggregatePoint]:
        def read(conn: Connection) -> list[AggregatePoint]:
            cur = conn.execute(
                "SELECT (ts / ?1) * ?1 AS bucket, avg(value), min(value), max(value),"
                " sum(value), count(*) FROM reading"
                " WHERE node = ?2 AND channel = ?3 AND ts >= ?4 AND ts < ?5"
                " AND value BETWEEN ?6 AND ?7"
                " GROUP BY bucket ORDER BY bucket",
                (every, node, channel, start, end, -VALUE_BOUND, VALUE_BOUND),
            )
            return [AggregatePoint(*row) for row in cur]

        return await self.db.run(read)

    async def latest(self, node: str) -> list[LatestReading]:
        def read(conn: Connection) -> list[LatestReading]:
            cur = conn.execute(
                "SELECT channel, ts, value FROM latest_reading WHERE node = ? ORDER BY channel",
                (node,),
            )
            return [LatestReading(*row) for row in cur]

        return await self.db.run(read)

    async def incident_events(self, start: int, end: int) -> list[IncidentEventPoint]:
        def read(conn: Connection) -> list[IncidentEventPoint]:
            cur = conn.execute(
                "SELECT ts, id, type, hazard, level, site, agency, text FROM incident_event"
                " WHERE ts >= ? AND ts < ? ORDER BY ts, id, type",
                (start, end),
            )
            return [
                IncidentEventPoint(ts=r[0], id=r[1], type=r[2], hazard=r[3], level=r[4],
                                   site=r[5], agencies=tuple(a for a in r[6].split(",") if a),
                                   text=r[7])
                for r in cur
            ]

        return await self.db.run(read)
