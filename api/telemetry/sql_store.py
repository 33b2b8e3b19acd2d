"""SqlStore: telemetry in SQL tables, one text for SQLite and PostgreSQL.

The SQL is written once, in SQLite's spelling, and PostgreSQL reads it through
:mod:`siaga.api.sql_dialect` (``INSERT OR IGNORE`` -> ``ON CONFLICT DO NOTHING``, ``INTEGER`` ->
``BIGINT`` millisecond timestamps, ``REAL`` -> ``DOUBLE PRECISION``). The reading table's primary
key is the reading identity ``(gateway, node, channel, ts, seq)``, ordered
``(node, channel, ts, gateway, seq)`` (a WITHOUT ROWID table on SQLite, the primary key's btree
on PostgreSQL) so the same key is also the index every time-range query of one node's channel
walks; the ignored duplicate makes a rewrite a no-op and tells us how many rows were new.
``latest_reading`` keeps the newest reading of each node's channel, so "latest" never scans
history. Subclasses say where the tables live: :class:`~siaga.api.telemetry.sqlite.SqliteStore`
and :class:`~siaga.api.telemetry.postgres.PostgresStore`.
"""

from __future__ import annotations

from collections.abc import Sequence

from siaga.api.db import Connection, Database, concurrent
from siaga.api.telemetry.records import (
    AggregatePoint,
    IncidentEventPoint,
    LatestReading,
    ReadingPoint,
)
from siaga.firmware_bridge.channels import VALUE_BOUND
from siaga.firmware_bridge.uplink import UplinkReading

__all__ = ["SCHEMA", "SqlStore"]

SCHEMA = """
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


class SqlStore:
    """The telemetry tables in ``db``; :meth:`_open` says which database that is."""

    kind = "sql"

    def __init__(self) -> None:
        self._db: Database | None = None

    def _open(self) -> Database:
        raise NotImplementedError

    def _create_schema(self, conn: Connection) -> None:
        conn.executescript(SCHEMA)

    async def start(self) -> None:
        self._db = self._open()
        self._db.call(self._create_schema)

    async def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def ping(self) -> str | None:
        """For /healthz: None when the database answers a query."""
        await self.db.run(lambda conn: conn.execute("SELECT 1").fetchone())
        return None

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        return self._db

    async def write_readings(self, gateway: str, readings: Sequence[UplinkReading]) -> int:
        if not readings:
            return 0
        # Sorted by key: concurrent writers (several hub processes on PostgreSQL) of the same
        # rows then wait on each other in one order and never deadlock.
        rows = sorted(
            ((r.node, r.channel, r.ts, gateway, r.seq, r.value, r.raw, r.backfill, r.skew, r.reset)
             for r in readings),
            key=lambda row: row[:5])
        newest: dict[tuple[str, str], UplinkReading] = {}
        for r in readings:
            best = newest.get((r.node, r.channel))
            if best is None or (r.ts, r.seq) > (best.ts, best.seq):
                newest[(r.node, r.channel)] = r
        latest = sorted((r.node, r.channel, r.ts, r.seq, r.value) for r in newest.values())

        dialect = self.db.dialect

        def write(conn: Connection) -> int:
            # No hub-wide write lock: the upserts conflict only on their own rows.
            with concurrent(conn, dialect):
                # executemany's rowcount sums the rows each statement wrote (0 if ignored).
                added = conn.executemany(_INSERT, rows).rowcount
                conn.executemany(_LATEST, latest)
            return added

        return await self.db.run(write)

    async def write_incident_events(self, events: Sequence[IncidentEventPoint]) -> None:
        rows = sorted(((e.id, e.type, e.ts, e.hazard, e.level, e.site, e.agency_tag, e.text)
                       for e in events), key=lambda row: row[:3])

        dialect = self.db.dialect

        def write(conn: Connection) -> None:
            with concurrent(conn, dialect):
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
                "SELECT (ts / ?) * ? AS bucket, avg(value), min(value), max(value),"
                " sum(value), count(*) FROM reading"
                " WHERE node = ? AND channel = ? AND ts >= ? AND ts < ?"
                " AND value BETWEEN ? AND ?"
                " GROUP BY bucket ORDER BY bucket",
                (every, every, node, channel, start, end, -VALUE_BOUND, VALUE_BOUND),
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
