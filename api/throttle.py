"""Sliding-window counters kept in the hub database, so every hub process counts against the
same limits (failed logins, citizen reports; issue 16).

A *window* is (scope, key, limit, window_s): at most ``limit`` events of ``key`` (a client
address, a username, a reporter's contact) in any ``window_s`` seconds. Events are rows of
``throttle_events``; rows older than their window are pruned as new ones arrive, so the table
holds at most the events of the last window per key. The arithmetic is pure
(:func:`window_wait_s`); :class:`Throttle` reads and writes the rows, checking and counting
under one transaction lock so two processes cannot both admit the last allowed event
(``admit``), or counting without a check (``count``: a failed login counts whatever came
before it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from siaga.api.db import Connection, Database, exclusive

__all__ = ["THROTTLE_KEY", "Throttle", "Window", "ensure_schema", "event_times",
           "window_wait_s"]

# Transaction advisory lock (PostgreSQL) of every check-and-count: not the hub's write lock.
THROTTLE_KEY = 0x7369616761_03
# Every this many events a process prunes the expired rows of the scope it wrote.
_PRUNE_EVERY = 128


def ensure_schema(conn: Connection) -> None:
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS throttle_events (
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            ts REAL NOT NULL
        )
        """
    )
    conn.execute("CREATE INDEX IF NOT EXISTS throttle_events_key"
                 " ON throttle_events (scope, key, ts)")


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``limit`` events of ``key`` (within ``scope``) in any ``window_s`` seconds."""

    scope: str
    key: str
    limit: int
    window_s: float


def window_wait_s(times: Sequence[float], limit: int, window_s: float, now: float) -> float:
    """Seconds until fewer than ``limit`` of the event ``times`` lie within the window ending
    now, i.e. until one more may happen; 0 when it may now."""
    inside = sorted(t for t in times if t > now - window_s)
    if len(inside) < limit:
        return 0.0
    return max(0.0, inside[len(inside) - limit] + window_s - now)


def event_times(conn: Connection, scope: str, key: str, since: float) -> list[float]:
    """The times of ``key``'s events after ``since``, oldest first."""
    rows = conn.execute("SELECT ts FROM throttle_events WHERE scope = ? AND key = ? AND ts > ?"
                        " ORDER BY ts", (scope, key, since)).fetchall()
    return [float(r[0]) for r in rows]


def add_event(conn: Connection, scope: str, key: str, ts: float) -> None:
    conn.execute("INSERT INTO throttle_events (scope, key, ts) VALUES (?, ?, ?)",
                 (scope, key, ts))


def prune(conn: Connection, scope: str, before: float) -> None:
    conn.execute("DELETE FROM throttle_events WHERE scope = ? AND ts <= ?", (scope, before))


class Throttle:
    """Check-and-count over windows in the hub database (shared by all hub processes)."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self.db = db
        self.clock = clock
        self._writes = 0
        db.call(ensure_schema)

    def locked(self, conn: Connection) -> exclusive:
        """The transaction every check-and-count of a throttle runs in."""
        return exclusive(conn, self.db.dialect, THROTTLE_KEY)

    def _due_for_pruning(self) -> bool:
        """True once every ``_PRUNE_EVERY`` writes of this process."""
        self._writes += 1
        return self._writes % _PRUNE_EVERY == 0

    async def admit(self, windows: Sequence[Window]) -> tuple[float, int]:
        """When every window has room: count one event in each and return (0, -1). Otherwise
        count nothing and return the first full window's wait (seconds) and its index."""
        return await self._count(windows, check=True)

    async def count(self, windows: Sequence[Window]) -> None:
        """Count one event in each window, full or not (a failed login is counted however
        many came before it)."""
        await self._count(windows, check=False)

    async def _count(self, windows: Sequence[Window], *, check: bool) -> tuple[float, int]:
        now = self.clock()
        prune_now = self._due_for_pruning()

        def run(conn: Connection) -> tuple[float, int]:
            with self.locked(conn):
                if check:
                    for i, w in enumerate(windows):
                        times = event_times(conn, w.scope, w.key, now - w.window_s)
                        wait = window_wait_s(times, w.limit, w.window_s, now)
                        if wait > 0:
                            return wait, i
                for w in windows:
                    add_event(conn, w.scope, w.key, now)
                    if prune_now:
                        prune(conn, w.scope, now - w.window_s)
            return 0.0, -1

        return await self.db.run(run)
