"""Several hub processes as one hub, through the PostgreSQL server they share.

With ``[database] url`` set, every hub process opens one :class:`Cluster`:

- **Live events.** :class:`~siaga.api.live_journal.LiveJournal` appends each event to
  ``live_events`` and sends ``NOTIFY siaga_live``; on that, every process (the writer's too)
  fetches the rows past the last it saw and hands them to its :class:`~siaga.api.live.LiveBus`.
  The row id is the SSE event id, the same in every process, so a client that reconnects to
  another process with ``Last-Event-ID`` misses nothing still in the replay ring (filled from
  the table at start).
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
import json
import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from siaga.api import live_journal
from siaga.api.live import LiveBus, LiveEvent
from siaga.api.live_journal import LIVE_CHANNEL
from siaga.api.metrics import MetricsRegistry

if TYPE_CHECKING:  # the PostgreSQL driver is optional (siaga[postgres])
    import psycopg

    from siaga.api.db_postgres import PostgresDatabase

__all__ = ["INVALIDATE_CHANNEL", "LEADER_KEY", "Cluster"]

log = logging.getLogger(__name__)

INVALIDATE_CHANNEL = "siaga_invalidate"
LEADER_KEY = 0x7369616761_01  # session advisory lock: the process running scheduled tasks


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
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._leader = False
        self._last_id: int | None = None  # None until the first catch-up filled the ring
        metrics = metrics or MetricsRegistry()
        metrics.gauge("siaga_cluster_leader",
                      "1 while this hub process runs the scheduled tasks").set_function(
            lambda: int(self._leader))

    # -- life -----------------------------------------------------------------------------

    async def start(self, timeout: float = 15.0) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._listen, name="cluster-listen", daemon=True)
        self._thread.start()
        if not await asyncio.to_thread(self._listening.wait, timeout):
            raise RuntimeError("the cluster listener did not connect to PostgreSQL")

    async def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5.0)

    # -- what the rest of the hub calls ---------------------------------------------------

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

    def _catch_up(self, raw: psycopg.Connection[Any]) -> None:
        from siaga.api.db_postgres import PgRow, PostgresConnection

        conn = PostgresConnection(cast("psycopg.Connection[PgRow]", raw))
        first = self._last_id is None
        if self._last_id is None:  # first connection: the newest rows fill the replay ring
            events = live_journal.newest(conn, self._replay)
        else:
            events = live_journal.after(conn, self._last_id)
        if events:
            self._last_id = events[-1].id
        elif self._last_id is None:
            self._last_id = 0
        if first or events:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._deliver, events, first)

    def _deliver(self, events: list[LiveEvent], first: bool) -> None:
        if first:
            self._bus.resume(events)
            return
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


def _run_callback(callback: Callable[[], object]) -> None:
    result = callback()
    if asyncio.iscoroutine(result):
        asyncio.get_running_loop().create_task(result).add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("cluster task failed: %s", task.exception())
