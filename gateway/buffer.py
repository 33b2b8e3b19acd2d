"""The store-and-forward buffer: SQLite, committed before a reading counts as received.

The core thread calls ``append``; the uplink thread calls ``peek_batch`` / ``ack`` /
``reject``. Each thread gets its own connection (WAL lets a reader and a writer
proceed together); writes and the in-memory counters share one lock.

Rows are never read ahead of their acknowledgement: ``peek_batch`` hands out rows
above a per-kind cursor and moves the cursor, so a row in flight is never handed
out again (a ThingsBoard gateway once sent rows twice because a prefetch thread
re-read rows not yet deleted). The uplink resends the *same* ``Batch`` on an ack
timeout; ``release_all`` (a fresh uplink, nothing in flight) rewinds the cursors.

One pass per reading: ``append`` keeps the rows it committed (id, encoded payload) in a
bounded in-memory tail per kind, and ``peek_batch`` hands those out without reading
them back from SQLite while the tail still holds every row above the cursor (the
uplink keeps up). When the uplink falls behind by more than ``FRESH_MAX_ROWS`` the tail
is dropped and peeks read SQLite until they reach the end again. ``ack`` deletes a
batch's rows as id ranges (a batch is mostly one run of ids), one statement per run.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

from annotated_types import Ge, MinLen, doc

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.channels import CHANNELS, COUNTER_MODULUS
from siaga.firmware_bridge.reading import Reading
from siaga.firmware_bridge.uplink import (
    LossReport,
    UplinkAlert,
    entry_payload,
    ms,
    reading_entry_payload,
)
from siaga.gateway.errors import BufferStorageError

log = logging.getLogger(__name__)

READING, ALERT = 0, 1
# Rough per-row cost beyond the payload (rowid, columns, index entry), so max_bytes
# tracks the file size better than the payload sum alone.
ROW_OVERHEAD_BYTES = 40
# Rows per kind kept in memory after their commit for the uplink's next peeks (about
# 150 bytes each): bounded by this, not by the message rate.
FRESH_MAX_ROWS = 5_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: batch ids stay unique
    kind INTEGER NOT NULL,                 -- 0 reading, 1 alert
    payload TEXT NOT NULL,                 -- wire form without id / backfill
    enqueued_at INTEGER NOT NULL           -- ms since the epoch
);
CREATE INDEX IF NOT EXISTS pending_by_kind ON pending (kind);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    payload TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL,
    rejected_at INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
-- The last cumulative count of every (node, counter channel), committed with the readings
-- that carry it: after a restart the first count is an increment, not a new baseline, so
-- rain tips and people counted while the gateway was down are not lost.
CREATE TABLE IF NOT EXISTS counter_baselines (
    node TEXT NOT NULL,
    channel TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (node, channel)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class BufferSettings:
    """The store-and-forward buffer's SQLite file and its bounds."""

    path: Annotated[str, MinLen(1), doc("The SQLite file; relative: in gateway.state_dir")] \
        = "buffer.sqlite3"
    max_bytes: Annotated[int, Ge(4096), doc("The oldest readings go above this size")] \
        = 256 * 1024 * 1024
    max_rows: Annotated[int, Ge(0), doc("The oldest readings go above this many rows; "
                                        "0: no row bound")] = 2_000_000

    def resolved(self, state_dir: Path) -> BufferSettings:
        return replace(self, path=str(state_dir / self.path))


@dataclass(frozen=True, slots=True)
class Entry:
    """One buffered row as the uplink sends it (a ``firmware_bridge.uplink.BufferedEntry``)."""

    id: int
    payload: str  # entry_payload: the record's JSON without id and backfill
    enqueued_at_ms: int
    backfill: bool


def alert_entry_payload(a: Alert) -> str:
    """The buffered JSON of the UplinkAlert an Alert becomes (its id is the row's, later)."""
    return entry_payload(UplinkAlert(
        id=0, node=a.node, hazard=a.hazard, level=int(a.level),
        previous_level=int(a.previous_level), detector=a.detector, ts=ms(a.ts),
        explanation=a.explanation_id, explanation_en=a.explanation_en, site=a.site,
        channel=a.channel, values=a.values, thresholds=a.thresholds, window_s=a.window_s,
        channels=a.channels, nodes=a.nodes, late=a.late,
    ))


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows handed to the uplink; alerts first, then the oldest readings."""

    readings: tuple[Entry, ...]
    alerts: tuple[Entry, ...]
    loss: LossReport

    @property
    def entries(self) -> tuple[Entry, ...]:
        return self.alerts + self.readings

    @property
    def key(self) -> str:
        """``<first id>-<last id>-<crc32 of the ids>``: the same rows give the same key.

        The checksum keeps two different sets of rows with the same first and last
        id apart (possible after a restart), so a stale ack from the persistent
        session can never acknowledge rows it did not cover.
        """
        ids = sorted(e.id for e in self.entries)
        crc = zlib.crc32(",".join(map(str, ids)).encode())
        return f"{ids[0]:012d}-{ids[-1]:012d}-{crc:08x}"

    def __len__(self) -> int:
        return len(self.readings) + len(self.alerts)

    def split(self) -> tuple[Batch, Batch]:
        """Two halves (for an HTTP 413); a batch of one entry cannot be split."""
        entries = self.entries
        if len(entries) < 2:
            raise ValueError("a batch of one entry cannot be split")
        half = len(entries) // 2
        return self._of(entries[:half]), self._of(entries[half:])

    def may_leave_rows(self, max_count: int) -> bool:
        """Whether rows may still wait after this peek: the batch was full, or it held the
        alerts, which travel alone ahead of waiting readings."""
        return len(self) == max_count or bool(self.alerts)

    def subset(self, entries: Sequence[Entry]) -> Batch:
        """These of the batch's entries as a batch of their own."""
        return self._of(tuple(entries))

    def _of(self, entries: tuple[Entry, ...]) -> Batch:
        alert_ids = {e.id for e in self.alerts}
        return Batch(
            readings=tuple(e for e in entries if e.id not in alert_ids),
            alerts=tuple(e for e in entries if e.id in alert_ids),
            loss=self.loss,
        )


@dataclass(frozen=True, slots=True)
class BufferStats:
    depth: int
    alerts: int
    oldest_enqueued_ms: int | None
    bytes: int
    dropped_readings: int
    dropped_alerts: int
    dropped_since_ms: int | None
    rejected: int


def counter_counts(readings: Sequence[Reading]) -> dict[tuple[str, str], int]:
    """The last whole cumulative count per (node, counter channel) among ``readings``."""
    out: dict[tuple[str, str], int] = {}
    for r in readings:
        spec = CHANNELS.get(r.channel)
        if (spec is not None and spec.kind == "counter" and r.raw is not None
                and float(r.raw).is_integer() and 0 <= r.raw < COUNTER_MODULUS):
            out[(r.node, r.channel)] = int(r.raw)
    return out


def now_ms() -> int:
    return int(time.time() * 1000)


def _runs(ids: Iterator[int]) -> Iterator[tuple[int, int]]:
    """Sorted ids as (first, last) runs of consecutive ids: [1,2,3,7] -> (1,3), (7,7)."""
    first = last = None
    for i in sorted(ids):
        if last is not None and i == last + 1:
            last = i
            continue
        if first is not None and last is not None:
            yield first, last
        first = last = i
    if first is not None and last is not None:
        yield first, last


class StoreAndForwardBuffer:
    def __init__(self, settings: BufferSettings) -> None:
        self.settings = settings
        Path(settings.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.RLock()
        self._cursor = {READING: 0, ALERT: 0}
        # Committed rows above the cursor, per kind: (id, payload, enqueued_at). Valid
        # only while _fresh_complete[kind]: then it holds *every* such row.
        self._fresh: dict[int, deque[tuple[int, str, int]]] = {READING: deque(), ALERT: deque()}
        # Rows written by an earlier process are above the cursor but not in memory.
        self._fresh_complete = {READING: False, ALERT: False}
        self._listeners: list[Callable[[int, int], None]] = []
        db = self._db()
        db.executescript(_SCHEMA)
        self._counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
        self._rows, self._bytes = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM pending"
        ).fetchone()
        self._bytes += self._rows * ROW_OVERHEAD_BYTES

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(
                    self.settings.path, isolation_level=None, check_same_thread=False,
                    timeout=30,
                )
                db.execute("PRAGMA journal_mode=WAL")
                # FULL: the WAL is synced at every commit, so a commit survives power loss.
                db.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as exc:
                raise BufferStorageError(
                    f"cannot open buffer {self.settings.path}: {exc}") from exc
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def counter_baselines(self) -> dict[tuple[str, str], int]:
        """The last committed count of every (node, counter channel), for the converter."""
        rows = self._db().execute("SELECT node, channel, count FROM counter_baselines")
        return {(node, channel): count for node, channel, count in rows}

    def on_append(self, listener: Callable[[int, int], None]) -> None:
        """``listener(n_readings, n_alerts)`` runs in the appending thread after each commit."""
        self._listeners.append(listener)

    # -- core thread ---------------------------------------------------------------

    def append(self, readings: Sequence[Reading], alerts: Sequence[Alert]) -> None:
        """Commit readings and alerts in one transaction before returning.

        An entry JSON cannot carry (a NaN value) goes to the ``rejected`` table with
        its reason instead of stopping the rest.
        """
        at = now_ms()
        rows: list[tuple[int, str, int]] = []
        bad: list[tuple[int, str, int, int, str]] = []
        for alert in alerts:
            try:
                rows.append((ALERT, alert_entry_payload(alert), at))
            except (ValueError, TypeError) as exc:
                bad.append((ALERT, repr(alert), at, at, f"not encodable: {exc}"))
        for reading in readings:
            try:
                rows.append((READING, reading_entry_payload(reading), at))
            except (ValueError, TypeError) as exc:
                bad.append((READING, repr(reading), at, at, f"not encodable: {exc}"))
        if not rows and not bad:
            return
        baselines = counter_counts(readings)
        db = self._db()
        with self._lock:
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    "INSERT INTO pending (kind, payload, enqueued_at) VALUES (?, ?, ?)", rows
                )
                # AUTOINCREMENT under BEGIN IMMEDIATE: this transaction's ids are
                # consecutive and end at the last insert's rowid.
                first_id = (db.execute("SELECT last_insert_rowid()").fetchone()[0]
                            - len(rows) + 1) if rows else 0
                if baselines:
                    db.executemany(
                        "INSERT OR REPLACE INTO counter_baselines (node, channel, count)"
                        " VALUES (?, ?, ?)", [(n, c, v) for (n, c), v in baselines.items()],
                    )
                if bad:
                    db.executemany(
                        "INSERT INTO rejected (kind, payload, enqueued_at, rejected_at, reason)"
                        " VALUES (?, ?, ?, ?, ?)", bad,
                    )
                    self._bump(db, "rejected", len(bad))
                self._rows += len(rows)
                self._bytes += sum(len(p) + ROW_OVERHEAD_BYTES for _, p, _ in rows)
                trimmed = self._trim(db, at)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                self._reload_totals(db)
                self._forget_fresh()
                raise BufferStorageError(f"buffer commit failed: {exc}") from exc
            self._keep_fresh(first_id, rows, trimmed)
        if bad:
            log.warning("rejected %d entries that JSON cannot carry: %s", len(bad), bad[0][4])
        n_alerts = sum(1 for r in rows if r[0] == ALERT)
        for listener in self._listeners:
            listener(len(rows) - n_alerts, n_alerts)

    def _over(self) -> bool:
        s = self.settings
        return self._bytes > s.max_bytes or (s.max_rows > 0 and self._rows > s.max_rows)

    def _keep_fresh(
        self, first_id: int, rows: list[tuple[int, str, int]], trimmed: dict[int, int]
    ) -> None:
        """After a commit: its rows join the in-memory tail; trimmed rows leave it
        (the same commit may have trimmed some of its own rows)."""
        for offset, (kind, payload, at) in enumerate(rows):
            if self._fresh_complete[kind]:
                self._fresh[kind].append((first_id + offset, payload, at))
        for kind, fresh in self._fresh.items():
            last = trimmed.get(kind)
            if last is not None:
                while fresh and fresh[0][0] <= last:
                    fresh.popleft()
            if len(fresh) > FRESH_MAX_ROWS:  # the uplink is behind: peeks read SQLite
                self._fresh_complete[kind] = False
                fresh.clear()

    def _forget_fresh(self) -> None:
        for kind, fresh in self._fresh.items():
            self._fresh_complete[kind] = False
            fresh.clear()

    def _trim(self, db: sqlite3.Connection, at: int) -> dict[int, int]:
        """Drop the oldest readings, then (only if no reading is left) the oldest alerts.

        Returns the last dropped id per kind.
        """
        trimmed: dict[int, int] = {}
        for kind, counter in ((READING, "dropped_readings"), (ALERT, "dropped_alerts")):
            if not self._over():
                return trimmed
            last_id, dropped = None, 0
            for row_id, size in db.execute(
                "SELECT id, LENGTH(payload) FROM pending WHERE kind = ? ORDER BY id", (kind,)
            ):
                last_id, dropped = row_id, dropped + 1
                self._rows -= 1
                self._bytes -= size + ROW_OVERHEAD_BYTES
                if not self._over():
                    break
            if last_id is None:
                continue
            trimmed[kind] = last_id
            db.execute("DELETE FROM pending WHERE kind = ? AND id <= ?", (kind, last_id))
            self._bump(db, counter, dropped)
            if "dropped_since" not in self._counters:
                self._bump(db, "dropped_since", at)
            log.warning("buffer full: dropped the %d oldest %s", dropped, counter[8:])
        return trimmed

    def _bump(self, db: sqlite3.Connection, name: str, by: int) -> None:
        db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value", (name, by),
        )
        self._counters[name] = self._counters.get(name, 0) + by

    def _reload_totals(self, db: sqlite3.Connection) -> None:
        self._counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
        rows, size = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM pending"
        ).fetchone()
        self._rows, self._bytes = rows, size + rows * ROW_OVERHEAD_BYTES

    # -- uplink thread -------------------------------------------------------------

    def loss(self) -> LossReport:
        with self._lock:
            return LossReport(self._counters.get("dropped_readings", 0),
                        self._counters.get("dropped_since"))

    def peek_batch(
        self, max_count: int, *, backfill_after_s: float = 60.0, at_ms: int | None = None,
    ) -> Batch | None:
        """Up to ``max_count`` rows not yet handed out: waiting alerts alone (an alert never
        shares a batch, nor its fate, with readings), else the oldest readings.

        Entries enqueued more than ``backfill_after_s`` before now are marked back-filled.
        None when nothing is waiting.
        """
        at = now_ms() if at_ms is None else at_ms
        cutoff = at - int(backfill_after_s * 1000)
        db = self._db()
        with self._lock:
            picked: dict[int, tuple[Entry, ...]] = {ALERT: (), READING: ()}
            for kind in (ALERT, READING):
                fresh = self._fresh[kind]
                if self._fresh_complete[kind]:
                    rows = [fresh.popleft() for _ in range(min(max_count, len(fresh)))]
                else:
                    rows = db.execute(
                        "SELECT id, payload, enqueued_at FROM pending WHERE kind = ? AND id > ?"
                        " ORDER BY id LIMIT ?", (kind, self._cursor[kind], max_count),
                    ).fetchall()
                    if len(rows) < max_count:  # reached the end: from now on the tail is whole
                        self._fresh_complete[kind] = True
                        fresh.clear()
                if rows:  # alerts travel in batches of their own, ahead of readings
                    picked[kind] = tuple(Entry(i, p, e, e < cutoff) for i, p, e in rows)
                    self._cursor[kind] = rows[-1][0]
                    break
            else:
                return None
            return Batch(readings=picked[READING], alerts=picked[ALERT], loss=self.loss())

    def ack(self, batch: Batch) -> int:
        """Delete exactly the batch's rows (the hub stored them); returns how many were left."""
        return self._remove(batch, None)

    def reject(self, batch: Batch, reason: str) -> int:
        """Move the batch's rows to ``rejected`` (the hub can never store them as sent)."""
        return self._remove(batch, reason)

    def settle(self, batch: Batch, refused: Mapping[int, str]) -> int:
        """The hub stored the batch except the rows in ``refused`` (row id -> reason): those
        move to ``rejected`` with their reason, the rest are deleted. Returns rows removed."""
        if not refused:
            return self.ack(batch)
        removed = 0
        by_reason: dict[str, list[Entry]] = {}
        for e in batch.entries:
            reason = refused.get(e.id)
            if reason is not None:
                by_reason.setdefault(reason, []).append(e)
        for reason, entries in by_reason.items():
            removed += self.reject(batch.subset(entries), reason)
        kept = [e for e in batch.entries if e.id not in refused]
        if kept:
            removed += self.ack(batch.subset(kept))
        return removed

    def _remove(self, batch: Batch, reason: str | None) -> int:
        ids = [(e.id,) for e in batch.entries]
        db = self._db()
        with self._lock:
            try:
                db.execute("BEGIN IMMEDIATE")
                if reason is not None:
                    db.executemany(
                        "INSERT OR IGNORE INTO rejected"
                        " (id, kind, payload, enqueued_at, rejected_at, reason)"
                        " SELECT id, kind, payload, enqueued_at, ?, ? FROM pending WHERE id = ?",
                        [(now_ms(), reason, i) for (i,) in ids],
                    )
                before = db.total_changes
                db.executemany("DELETE FROM pending WHERE id BETWEEN ? AND ?",
                               list(_runs(i for (i,) in ids)))
                deleted = db.total_changes - before
                if reason is not None and deleted:
                    self._bump(db, "rejected", deleted)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise BufferStorageError(f"buffer ack of {batch.key} failed: {exc}") from exc
            if deleted == len(ids):
                self._rows -= deleted
                self._bytes -= sum(len(e.payload) + ROW_OVERHEAD_BYTES for e in batch.entries)
            else:  # some rows were dropped while in flight
                self._reload_totals(db)
            return deleted

    def release_all(self) -> None:
        """Forget what is in flight (a fresh uplink): the next peeks start from the oldest."""
        with self._lock:
            self._cursor = {READING: 0, ALERT: 0}
            self._forget_fresh()

    # -- anyone --------------------------------------------------------------------

    def stats(self) -> BufferStats:
        db = self._db()
        with self._lock:
            row = db.execute("SELECT enqueued_at FROM pending ORDER BY id LIMIT 1").fetchone()
            alerts = db.execute("SELECT COUNT(*) FROM pending WHERE kind = 1").fetchone()[0]
            c = self._counters
            return BufferStats(
                depth=self._rows, alerts=alerts, bytes=self._bytes,
                oldest_enqueued_ms=row[0] if row else None,
                dropped_readings=c.get("dropped_readings", 0),
                dropped_alerts=c.get("dropped_alerts", 0),
                dropped_since_ms=c.get("dropped_since"), rejected=c.get("rejected", 0),
            )

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
            self._local = threading.local()
