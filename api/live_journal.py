"""Live events kept in the hub database (table ``live_events``), so their ids outlive a process.

Every incident event the hub publishes is appended to ``live_events``; the row id is the
event's SSE id. Ids therefore keep growing across restarts (issue 12 case 7: they used to
restart at 1, so a client resuming with ``Last-Event-ID: 18`` skipped the new process's events
1-3) and, on PostgreSQL, form one sequence for every hub process. At start the newest
``live.replay`` rows fill the bus's replay ring, so a client that reconnects across a restart
gets what it missed.

``publish`` never blocks: events queue for one writer task that appends them in batches and
then, on SQLite, hands them with their ids to this process's bus. On PostgreSQL the append also
sends ``NOTIFY siaga_live`` and every process's :class:`~siaga.api.cluster.Cluster` listener
delivers the new rows (the writer's own process included). The incidents behind the events
are already committed, so an append the database refuses is retried until it lands.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Collection, Mapping
from typing import Any

from siaga.api.db import Connection, Database, Dialect, Row, exclusive
from siaga.api.live import LiveBus, LiveEvent, make_event
from siaga.api.metrics import MetricsRegistry

__all__ = ["LIVE_CHANNEL", "LiveJournal", "after", "ensure_schema", "newest"]

log = logging.getLogger(__name__)

LIVE_CHANNEL = "siaga_live"
_APPEND_KEY = 0x7369616761_02  # transaction advisory lock: live events commit in id order
# Rows kept in live_events; older ones are deleted (the replay ring is far smaller).
KEEP = 20_000
_COLUMNS = "id, agencies, data, ts"

Batch = list[tuple[dict[str, Any], frozenset[str]]]


def ensure_schema(conn: Connection) -> None:
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS live_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            type TEXT NOT NULL,
            agencies TEXT NOT NULL,
            data TEXT NOT NULL,
            ts REAL NOT NULL
        )
        """
    )


def event_from_row(row: Row) -> LiveEvent:
    """A ``live_events`` row (id, agencies, data, ts) as the bus's event."""
    return make_event(int(row[0]), json.loads(row[2]), frozenset(json.loads(row[1])),
                      ts=float(row[3]))


def newest(conn: Connection, limit: int) -> list[LiveEvent]:
    """The newest ``limit`` events, oldest first (to fill a replay ring)."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM (SELECT {_COLUMNS} FROM live_events"
                        " ORDER BY id DESC LIMIT ?) newest ORDER BY id", (limit,)).fetchall()
    return [event_from_row(r) for r in rows]


def after(conn: Connection, last_id: int) -> list[LiveEvent]:
    """Every event with an id above ``last_id``, oldest first."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM live_events WHERE id > ? ORDER BY id",
                        (last_id,)).fetchall()
    return [event_from_row(r) for r in rows]


def append(conn: Connection, batch: Batch, *, dialect: Dialect) -> list[LiveEvent]:
    """Store ``batch`` in order; the events with the ids they got."""
    now = time.time()
    # Ids are taken and committed under one lock (on PostgreSQL this table's own, not the hub's
    # write lock), so a reader's "rows past the last seen" never skips one.
    with exclusive(conn, dialect, _APPEND_KEY):
        events = []
        for event, agencies in batch:
            live = make_event(0, event, agencies, ts=now)
            row = conn.execute(
                "INSERT INTO live_events (type, agencies, data, ts) VALUES (?, ?, ?, ?)"
                " RETURNING id", (live.type, json.dumps(sorted(agencies)), live.json, now),
            ).fetchone()
            events.append(make_event(int(row[0]), json.loads(live.json), agencies, ts=now))
        newest_id = events[-1].id if events else 0
        if newest_id % 1000 < len(batch):
            conn.execute("DELETE FROM live_events WHERE id <= ?", (newest_id - KEEP,))
        if dialect == "postgresql":
            conn.execute(f"NOTIFY {LIVE_CHANNEL}")
    return events


class LiveJournal:
    """The hub's event publisher: events into ``live_events``, then onto the live bus."""

    def __init__(self, db: Database, bus: LiveBus, *, replay: int,
                 metrics: MetricsRegistry | None = None) -> None:
        self._db = db
        self._bus = bus
        self._replay = replay
        self._postgres = db.dialect == "postgresql"
        self._queue: asyncio.Queue[tuple[dict[str, Any], frozenset[str]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        metrics = metrics or MetricsRegistry()
        self._retries = metrics.counter(
            "siaga_live_append_retries_total",
            "Appends of live events the database refused, retried")

    async def start(self) -> None:
        """Start writing; on SQLite also fill the replay ring (on PostgreSQL the cluster does)."""
        if not self._postgres:
            self._bus.resume(await self._db.run(functools.partial(newest, limit=self._replay)))
        self._writer = asyncio.create_task(self._write(), name="live-journal")

    async def close(self, timeout: float = 5.0) -> None:
        if self._writer is None:
            return
        try:  # what was published before shutdown still goes, if the database lets it
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            log.warning("%d live events not stored at shutdown", self._queue.qsize())
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every event queued so far is stored (at most ``timeout`` s: while the
        database is away they stay queued and land later, and the caller goes on)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)

    def publish(self, event: Mapping[str, Any], agencies: Collection[str]) -> None:
        """Queue ``event`` (with a ``type`` key) for the subscribers of any of ``agencies``."""
        self._queue.put_nowait((dict(event), frozenset(agencies)))

    async def _write(self) -> None:
        while True:
            batch: Batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            events = await self._append(batch)
            if not self._postgres:
                for e in events:
                    self._bus.deliver(e)
            for _ in batch:
                self._queue.task_done()

    async def _append(self, batch: Batch) -> list[LiveEvent]:
        backoff = 0.2
        while True:
            try:
                return await self._db.run(functools.partial(
                    append, batch=batch, dialect=self._db.dialect))
            except Exception as exc:
                self._retries.inc()
                log.warning("%d live events not yet stored: %s; retrying in %.1f s",
                            len(batch), exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
