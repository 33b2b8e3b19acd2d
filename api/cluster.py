"""Several hub processes as one hub, through the PostgreSQL server they share.

With ``[database] url`` set, every hub process opens one :class:`Cluster`:

- **Live events.** ``publish(event, agencies)`` (the service's ``EventPublisher``) appends the
  event to ``live_events`` and ``NOTIFY siaga_live``; every process (this one too) fetches the
  rows past the last it saw and hands them to its :class:`~siaga.api.live.LiveBus`. The row id
  is the SSE event id, the same in every process, so a client that reconnects to another
  process with ``Last-Event-ID`` misses nothing still in the replay ring (filled from the table
  at start). Appends commit under an advisory lock, so ids become visible in order and
  "rows past the last seen" never skips one.
- **Cache invalidation.** ``invalidate(topic)`` sends ``NOTIFY siaga_invalidate``; the other
  processes run the callback registered for ``topic`` (the registry reloads, the gateway-token
  cache empties).
- **One scheduler.** The process holding the session advisory lock ``LEADER_KEY`` on its
  listening connection runs the periodic tasks (SLA clock, escalation, gateway watchdog);
  ``is_leader()`` says whether this one does. The lock dies with the connection, so when the
  leader's process or machine dies another process takes over within about a second.

One thread per process owns the listening connection (psycopg's blocking ``notifies``) and
crosses into the event loop with ``call_soon_threadsafe``; it reconnects by itself after the
server restarts or fails over, catching up from the table.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from siaga.api.db import Connection
from siaga.api.live import LiveBus, LiveEvent, make_event
from siaga.api.metrics import MetricsRegistry

if TYPE_CHECKING:  # the PostgreSQL driver is optional (siaga[postgres])
    import psycopg

    from siaga.api.db_postgres import PostgresDatabase

__all__ = ["LEADER_KEY", "LIVE_CHANNEL", "Cluster", "ensure_schema"]

log = logging.getLogger(__name__)

LIVE_CHANNEL = "siaga_live"
INVALIDATE_CHANNEL = "siaga_invalidate"
LEADER_KEY = 0x7369616761_01  # session advisory lock: the process running scheduled tasks
_APPEND_KEY = 0x7369616761_02  # transaction advisory lock: live events commit in id order
# Rows kept in live_events; older ones are deleted (the replay ring is far smaller).
_KEEP = 20_000


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


class Cluster:
    """Cross-process live bus, cache invalidation and leadership for one hub process."""

    def __init__(self, db: PostgresDatabase, bus: LiveBus, *, replay: int = 1000,
                 metrics: MetricsRegistry | None = None) -> None:
        self._db = db
        self._bus = bus
        self._replay = replay
        self._me = f"{os.uname().nodename}:{os.getpid()}:{id(self)}"
        self._callbacks: dict[str, Callable[[], object]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[dict[str, Any], frozenset[str]]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._leader = False
        self._last_id: int | None = None  # None until the first catch-up filled the ring
        metrics = metrics or MetricsRegistry()
        metrics.gauge("siaga_cluster_leader",
                      "1 while this hub process runs the scheduled tasks").set_function(
            lambda: int(self._leader))
        self._retries = metrics.counter("siaga_cluster_publish_retries_total",
                                        "Appends of live events the database refused, retried")

    # -- life -----------------------------------------------------------------------------

    async def start(self, timeout: float = 15.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._writer = asyncio.create_task(self._write_events(), name="cluster-publish")
        self._thread = threading.Thread(target=self._listen, name="cluster-listen", daemon=True)
        self._thread.start()
        if not await asyncio.to_thread(self._listening.wait, timeout):
            raise RuntimeError("the cluster listener did not connect to PostgreSQL")

    async def close(self) -> None:
        if self._writer is not None:
            try:  # what was published before shutdown still goes, if the database lets it
                await asyncio.wait_for(self._queue.join(), 5.0)
            except TimeoutError:
                log.warning("%d live events not published at shutdown", self._queue.qsize())
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)

    # -- what the rest of the hub calls ---------------------------------------------------

    def publish(self, event: Mapping[str, Any], agencies: Collection[str]) -> None:
        """Queue ``event`` for every process's live bus (never blocks)."""
        self._queue.put_nowait((dict(event), frozenset(agencies)))

    def is_leader(self) -> bool:
        return self._leader

    def on_invalidate(self, topic: str, callback: Callable[[], object]) -> None:
        """Run ``callback`` in the event loop when another process changes ``topic``."""
        self._callbacks[topic] = callback

    def invalidate(self, topic: str) -> None:
        """Tell the other processes that ``topic``'s data changed (fire and forget)."""
        payload = json.dumps({"topic": topic, "from": self._me})
        task = asyncio.get_running_loop().create_task(self._db.run(
            lambda c: c.execute("SELECT pg_notify(?, ?)", (INVALIDATE_CHANNEL, payload))))
        task.add_done_callback(_log_failure)

    # -- publishing -----------------------------------------------------------------------

    async def _write_events(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            backoff = 0.2
            # The incidents behind these events are committed: keep trying until the database
            # takes them (while it is down no new incident commits, so the queue stays small).
            while True:
                try:
                    await self._db.run(functools.partial(_append, batch=batch))
                    break
                except Exception as exc:
                    self._retries.inc()
                    log.warning("%d live events not yet published: %s; retrying in %.1f s",
                                len(batch), exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
            for _ in batch:
                self._queue.task_done()

    # -- the listening thread -------------------------------------------------------------

    def _listen(self) -> None:
        import psycopg

        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._db.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {LIVE_CHANNEL}")
                    conn.execute(f"LISTEN {INVALIDATE_CHANNEL}")
                    self._catch_up(conn)
                    self._listening.set()
                    backoff = 0.5
                    while not self._stop.is_set():
                        if not self._leader:
                            row = conn.execute("SELECT pg_try_advisory_lock(%s)",
                                               (LEADER_KEY,)).fetchone()
                            self._leader = bool(row and row[0])
                            if self._leader:
                                log.info("this hub process now runs the scheduled tasks")
                        # psycopg's notifies() yields while holding the connection's lock
                        # (not reentrant): a query inside its loop deadlocks this thread, so
                        # take what came, let the generator finish, then query.
                        notes = list(conn.notifies(timeout=1.0, stop_after=1))
                        if any(n.channel == LIVE_CHANNEL for n in notes):
                            self._catch_up(conn)
                        for note in notes:
                            if note.channel == INVALIDATE_CHANNEL:
                                self._invalidated(note.payload)
            except psycopg.Error as exc:
                if self._leader:
                    log.warning("lost the scheduler lease with the database connection")
                self._leader = False
                log.warning("cluster listener: %s; reconnecting in %.1f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        self._leader = False

    def _catch_up(self, conn: psycopg.Connection[Any]) -> None:
        if self._last_id is None:  # first connection: the newest rows fill the replay ring
            rows = conn.execute(
                "SELECT id, agencies, data, ts FROM (SELECT * FROM live_events ORDER BY id DESC"
                " LIMIT %s) newest ORDER BY id", (self._replay,)).fetchall()
        else:
            rows = conn.execute("SELECT id, agencies, data, ts FROM live_events WHERE id > %s"
                                " ORDER BY id", (self._last_id,)).fetchall()
        if not rows:
            self._last_id = self._last_id or 0
            return
        events = [make_event(int(r[0]), json.loads(r[2]), frozenset(json.loads(r[1])),
                             ts=float(r[3])) for r in rows]
        self._last_id = events[-1].id
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._deliver, events)

    def _deliver(self, events: list[LiveEvent]) -> None:
        for e in events:
            self._bus.deliver(e)

    def _invalidated(self, payload: str) -> None:
        try:
            note = json.loads(payload)
        except ValueError:
            return
        if note.get("from") == self._me:
            return
        callback = self._callbacks.get(str(note.get("topic")))
        if callback is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(_run_callback, callback)


def _append(conn: Connection, *, batch: list[tuple[dict[str, Any], frozenset[str]]]) -> None:
    now = time.time()
    # Not transaction(): the hub's write lock is not needed, only this append's own order.
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (_APPEND_KEY,))
        conn.executemany(
            "INSERT INTO live_events (type, agencies, data, ts) VALUES (?, ?, ?, ?)",
            [(str(e.get("type", "event")), json.dumps(sorted(a)),
              json.dumps(e, separators=(",", ":"), default=str), now) for e, a in batch])
        newest = conn.execute("SELECT MAX(id) FROM live_events").fetchone()[0]
        if newest is not None and int(newest) % 1000 < len(batch):
            conn.execute("DELETE FROM live_events WHERE id <= ?", (int(newest) - _KEEP,))
        conn.execute("SELECT pg_notify(?, '')", (LIVE_CHANNEL,))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _run_callback(callback: Callable[[], object]) -> None:
    result = callback()
    if asyncio.iscoroutine(result):
        asyncio.get_running_loop().create_task(result).add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("cluster task failed: %s", task.exception())
