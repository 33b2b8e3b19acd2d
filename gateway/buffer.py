"""The store-and-forward buffer: SQLite, committed before a reading counts as received.

The core thread calls ``append``; the uplink thread calls ``peek_batch`` / ``ack`` /
``reject``. Each thread gets its own connection (WAL lets a reader and a writer
proceed together). Write transactions take one lock, the in-memory state (cursor,
tail, totals, noted acks) another; an append holds only the first through its commit's
fsync, so the uplink's peeks and acks do not wait for the disk.

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

Acks ride on the next commit: while the core is appending (a commit within
``ACK_DEFER_S``), ``ack`` only notes the batch's id runs and the next ``append`` deletes
them in its own transaction, so the uplink thread neither waits for the buffer lock
through a second fsync nor makes the core wait for one of its own (in the flood the
uplink spent ~20% of its time in its own delete transactions, the core as long in the
lock behind them). An idle buffer deletes at once, as before; ``stats``,
``release_all`` and ``close`` apply what is noted first. A crash can forget a noted
ack (the rows committed in the last ~0.5 s of acks, or ~5 s when idle, since ``stats``
runs with every status write): those rows are sent again after the restart and the
hub, whose ingest is idempotent, stores them once.

Its parts: the rows, entries and batches (buffer_rows.py), the SQLite file, its schema and
its WAL bound (buffer_sqlite.py), the committed tail (buffer_tail.py), the noted acks
(buffer_acks.py), and the totals, trimming and loss counters (buffer_totals.py).
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.reading import Reading
from siaga.firmware_bridge.uplink import LossReport
from siaga.firmware_bridge.uplink_codec import reading_entry_payload
from siaga.gateway.buffer_acks import Applied, NotedAcks
from siaga.gateway.buffer_requeue import (
    Requeued,
    RequeueOverBounds,
    move_back,
    rejected_matching,
    weigh,
)
from siaga.gateway.buffer_rows import (
    ALERT,
    READING,
    Batch,
    BufferStats,
    Entry,
    alert_entry_payload,
    counter_counts,
    encodable,
    encoded_payloads,
    entries_bytes,
    id_runs,
    new_entries,
    now_ms,
)
from siaga.gateway.buffer_sqlite import (
    BufferSettings,
    bound_wal,
    insert_pending,
    open_buffer_db,
    prepare_schema,
)
from siaga.gateway.buffer_tail import CommittedTail
from siaga.gateway.buffer_totals import BufferTotals
from siaga.gateway.errors import BufferStorageError

log = logging.getLogger(__name__)

# Rows per kind kept in memory after their commit for the uplink's next peeks (about
# 150 bytes each): bounded by this, not by the message rate.
FRESH_MAX_ROWS = 5_000

# An ack within this long of the last append's commit is deferred to the next append's
# transaction (the appends are running); later, it is its own transaction.
ACK_DEFER_S = 0.5

class StoreAndForwardBuffer:
    def __init__(self, settings: BufferSettings) -> None:
        self.settings = settings
        Path(settings.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.RLock()  # the state below (cursor, tail, noted acks, totals)
        # One write transaction at a time, taken before ``_lock``: an append holds it, not
        # ``_lock``, through its commit.
        self._write = threading.Lock()
        self._cursor = {READING: 0, ALERT: 0}
        # Committed rows above the cursor (rows written by an earlier process are above
        # the cursor but not in memory: the tail starts incomplete).
        self._tail = CommittedTail(FRESH_MAX_ROWS)
        self._listeners: list[Callable[[int, int, float | None], None]] = []
        # Acked rows not yet deleted: the totals already leave them out.
        self._acked = NotedAcks()
        self._last_append = -math.inf  # monotonic time of the last append's commit
        db = self._db()
        try:
            prepare_schema(db)
        except BaseException:  # a file this gateway must not use: let it go
            db.close()
            self._connections.clear()
            raise
        self._totals = BufferTotals(settings, db)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = open_buffer_db(self.settings.path, self.settings.wal_bytes)
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def counter_baselines(self) -> dict[tuple[str, str], int]:
        """The last committed count of every (node, counter channel), for the converter."""
        rows = self._db().execute("SELECT node, channel, count FROM counter_baselines")
        return {(node, channel): count for node, channel, count in rows}

    def on_append(self, listener: Callable[[int, int, float | None], None]) -> None:
        """``listener(n_readings, n_alerts, first_seen)`` runs in the appending thread after
        each commit. ``first_seen`` is the monotonic time the commit's first entry reached
        the appender (the core: when it took the group's first message from its queue), or
        None when the appender did not say: the batch age counts from it, not from the
        commit, which a grown group-commit window delays (docs/uplink.md)."""
        self._listeners.append(listener)

    # -- core thread ---------------------------------------------------------------

    def append(self, readings: Sequence[Reading], alerts: Sequence[Alert],
               first_seen: float | None = None) -> None:
        """Commit readings and alerts in one transaction before returning; ``first_seen``
        goes to the listeners (``on_append``).

        An entry JSON cannot carry (a NaN value) goes to the ``rejected`` table with
        its reason instead of stopping the rest.
        """
        at = now_ms()
        bad: list[tuple[int, str, int, int, str]] = []
        alert_payloads = encoded_payloads(alerts, alert_entry_payload, ALERT, at, bad)
        payloads = encoded_payloads(readings, reading_entry_payload, READING, at, bad)
        if not alert_payloads and not payloads and not bad:
            return
        # A refused reading's count is no baseline (and its node may not even bind).
        baselines = counter_counts(readings if len(payloads) == len(readings)
                                   else encodable(readings, reading_entry_payload))
        n = len(alert_payloads) + len(payloads)
        db = self._db()
        with self._write:
            # The COMMIT (the fsync) runs outside the state lock: the uplink's peeks and
            # acks go on (in the flood the uplink waited for it ~26% of its time). Nothing
            # reads these rows before the tail below or SQLite's own snapshot has them.
            with self._transaction(db, "commit"):
                # alerts first, so within a commit they take the lower ids
                insert_pending(db, ALERT, alert_payloads, at)
                insert_pending(db, READING, payloads, at)
                # AUTOINCREMENT under BEGIN IMMEDIATE: this transaction's ids are
                # consecutive and end at the last insert's rowid.
                first_id = (db.execute("SELECT last_insert_rowid()").fetchone()[0]
                            - n + 1) if n else 0
                if baselines:
                    db.executemany(
                        "INSERT OR REPLACE INTO counter_baselines (node, channel, count)"
                        " VALUES (?, ?, ?)", [(n, c, v) for (n, c), v in baselines.items()],
                    )
                with self._lock:
                    if bad:
                        db.executemany(
                            "INSERT INTO rejected"
                            " (kind, payload, enqueued_at, rejected_at, reason)"
                            " VALUES (?, ?, ?, ?, ?)", bad,
                        )
                        self._totals.bump(db, "rejected", len(bad))
                    self._totals.added(alert_payloads)
                    self._totals.added(payloads)
                    applied = self._delete_acked(db)
                    trimmed = self._totals.trim(db, at)
            with self._lock:
                self._acked.deleted(applied)
                self._last_append = time.monotonic()
                # A peek that read SQLite after the commit has taken these rows already.
                self._tail.keep(ALERT, first_id, alert_payloads, at, self._cursor[ALERT])
                self._tail.keep(READING, first_id + len(alert_payloads), payloads, at,
                                self._cursor[READING])
                self._tail.bound(trimmed)
            bound_wal(db, self.settings.path, self.settings.wal_bytes)
        if bad:
            log.warning("rejected %d entries that JSON cannot carry: %s", len(bad), bad[0][4])
        for listener in self._listeners:
            listener(len(payloads), len(alert_payloads), first_seen)

    @contextmanager
    def _transaction(self, db: sqlite3.Connection, what: str) -> Iterator[None]:
        """BEGIN IMMEDIATE, the body, COMMIT; on any error: roll back, read the totals anew
        (the body may have moved them), forget the tail, raise BufferStorageError for an
        SQLite error and the error itself otherwise (left open, the transaction made every
        later append fail with "cannot start a transaction within a transaction")."""
        try:
            db.execute("BEGIN IMMEDIATE")
            yield
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            with self._lock:
                self._totals.reload(db, self._acked)
                self._tail.forget()
            if isinstance(exc, sqlite3.Error):
                raise BufferStorageError(f"buffer {what} failed: {exc}") from exc
            raise

    # -- uplink thread -------------------------------------------------------------

    def loss(self) -> LossReport:
        with self._lock:
            return self._totals.loss()

    def peek_batch(
        self, max_count: int, *, backfill_after_s: float = 60.0, at_ms: int | None = None,
        readings_only: bool = False,
    ) -> Batch | None:
        """Up to ``max_count`` rows not yet handed out: waiting alerts alone (an alert never
        shares a batch, nor its fate, with readings), else the oldest readings. With
        ``readings_only`` the alerts stay waiting (the uplink's alerts' places are full).

        Entries enqueued more than ``backfill_after_s`` before now are marked back-filled.
        None when nothing is waiting.
        """
        at = now_ms() if at_ms is None else at_ms
        cutoff = at - int(backfill_after_s * 1000)
        db = self._db()
        with self._lock:
            picked: dict[int, tuple[Entry, ...]] = {ALERT: (), READING: ()}
            for kind in (READING,) if readings_only else (ALERT, READING):
                if self._tail.complete(kind):
                    rows = self._tail.take(kind, max_count)
                else:
                    rows = db.execute(  # kind inline: the alerts' partial index needs it
                        "SELECT id, payload, enqueued_at FROM pending"
                        f" WHERE kind = {kind:d} AND id > ? ORDER BY id LIMIT ?",
                        (self._cursor[kind], max_count),
                    ).fetchall()
                    if len(rows) < max_count:  # reached the end: from now on the tail is whole
                        self._tail.caught_up(kind)
                if rows:  # alerts travel in batches of their own, ahead of readings
                    picked[kind] = new_entries(rows, cutoff)
                    self._cursor[kind] = rows[-1][0]
                    break
            else:
                return None
            return Batch(readings=picked[READING], alerts=picked[ALERT], loss=self.loss())

    def alerts_waiting(self) -> int:
        """Alerts not yet handed out (past the alerts' cursor), read under the lock a peek
        takes: the ones in flight are not waiting (``stats().alerts`` counts them too)."""
        with self._lock:
            if self._tail.complete(ALERT):
                return len(self._tail.rows(ALERT))
            row = self._db().execute(
                f"SELECT count(*) FROM pending WHERE kind = {ALERT:d} AND id > ?",
                (self._cursor[ALERT],)).fetchone()
            return int(row[0])

    def ack(self, batch: Batch) -> int:
        """Delete exactly the batch's rows (the hub stored them): at once when the buffer is
        idle, else in the next append's transaction. Returns how many rows it removes."""
        with self._lock:
            if time.monotonic() - self._last_append < ACK_DEFER_S:
                n, size = self._acked.note(batch)
                self._totals.removed(n, size)
                return n
        return self._remove(batch, None)

    def _delete_acked(self, db: sqlite3.Connection) -> Applied:
        """In the caller's transaction: delete the noted acks' rows. When fewer went than
        were noted (rows trimmed while in flight, already left out of the totals), the
        totals are read anew from what this transaction sees. Returns what it covered, for
        ``self._acked.deleted`` after the commit."""
        applied = self._acked.snapshot()
        if self._acked.runs:
            before = db.total_changes
            db.executemany("DELETE FROM pending WHERE id BETWEEN ? AND ?", self._acked.runs)
            if db.total_changes - before != self._acked.rows:
                self._totals.reload(db)
        return applied

    def _flush_acked(self) -> None:
        """Delete the noted acks' rows now, in a transaction of their own."""
        db = self._db()
        with self._write, self._lock:
            if not self._acked.runs:
                return
            with self._transaction(db, "ack"):
                applied = self._delete_acked(db)
            self._acked.deleted(applied)

    def reject(self, batch: Batch, reason: str, batch_id: str | None = None) -> int:
        """Move the batch's rows to ``rejected`` (the hub can never store them as sent), with
        the id the batch was sent under when given."""
        return self._remove(batch, reason, batch_id)

    def settle(self, batch: Batch, refused: Mapping[int, str],
               batch_id: str | None = None) -> int:
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
            removed += self.reject(batch.subset(entries), reason, batch_id)
        kept = [e for e in batch.entries if e.id not in refused]
        if kept:
            removed += self.ack(batch.subset(kept))
        return removed

    def holds_rejected(self, batch_id: str, reason: str) -> bool:
        """Whether rows of the batch sent as ``batch_id`` are in ``rejected`` with ``reason``
        (a read: the uplink asks it of every ack of a batch not in flight)."""
        return self._db().execute("SELECT 1 FROM rejected WHERE batch = ? AND reason = ?"
                                  " LIMIT 1", (batch_id, reason)).fetchone() is not None

    def unreject(self, batch_id: str, reason: str,
                 refused: Mapping[int, str] | None = None) -> tuple[int, int]:
        """The hub stored after all the batch sent as ``batch_id`` whose rows went to
        ``rejected`` with ``reason`` (an MQTT batch given up as never acked, acked late,
        before or after a restart): they leave the table, but for those in ``refused`` (row
        id -> the hub's reason), which stay with that reason, as ``settle`` would have put
        them. Returns (rows that left the table, rows that took the hub's reason)."""
        db = self._db()
        with self._write, self._lock:
            with self._transaction(db, "unreject"):
                before = db.total_changes
                db.executemany("UPDATE rejected SET reason = ?"
                               " WHERE batch = ? AND pending_id = ? AND reason = ?",
                               [(why, batch_id, i, reason) for i, why in (refused or {}).items()])
                kept = db.total_changes - before
                before = db.total_changes
                db.execute("DELETE FROM rejected WHERE batch = ? AND reason = ?",
                           (batch_id, reason))
                deleted = db.total_changes - before
                if deleted:
                    self._totals.bump(db, "rejected", -deleted)
            return deleted, kept

    def requeue_rejected(self, reason: str | None, *, force: bool = False) -> Requeued:
        """Move the rejected rows whose reason contains ``reason`` (all: None) back to
        pending under their pending ids (gateway/buffer_requeue.py). For a buffer no running
        gateway has open: a running one's uplink would not see the rows (below its cursor)
        until it restarts, nor its totals count them. The cursor stays (rewound, it would
        hand out again the rows in flight). When pending and the rows reach the bounds
        with readings among them (``Requeued.refused``: the next append would trim those)
        RequeueOverBounds, nothing moved, unless ``force``; alerts alone move (the trim
        takes the oldest readings first)."""
        db = self._db()
        with self._write, self._lock:
            with self._transaction(db, "requeue"):
                found = rejected_matching(db, reason)
                # the in-memory totals leave out acked rows not yet deleted, as pending will
                weigh(found, self._totals)
                if found.refused and not force:
                    raise RequeueOverBounds(self.settings, found)
                applied = self._delete_acked(db)
                if found.rows:
                    move_back(db, reason)
                    self._totals.bump(db, "rejected", -found.rows)
            self._acked.deleted(applied)
            self._totals.reload(db)
            self._tail.forget()
            return found

    def _remove(self, batch: Batch, reason: str | None, batch_id: str | None = None) -> int:
        entries = batch.entries
        ids = [e.id for e in entries]
        db = self._db()
        with self._write, self._lock:
            with self._transaction(db, f"ack of {batch.key}"):
                applied = self._delete_acked(db)  # first: a fresh count includes the batch
                if reason is not None:
                    db.executemany(
                        "INSERT INTO rejected (pending_id, kind, payload, enqueued_at,"
                        " rejected_at, reason, batch) SELECT id, kind, payload, enqueued_at,"
                        " ?, ?, ? FROM pending WHERE id = ?",
                        [(now_ms(), reason, batch_id, i) for i in ids],
                    )
                before = db.total_changes
                db.executemany("DELETE FROM pending WHERE id BETWEEN ? AND ?",
                               list(id_runs(ids)))
                deleted = db.total_changes - before
                if reason is not None and deleted:
                    self._totals.bump(db, "rejected", deleted)
            if deleted == len(ids):
                self._totals.removed(deleted, entries_bytes(entries))
            else:  # some rows were dropped while in flight
                self._totals.reload(db)
            self._acked.deleted(applied)
            return deleted

    def give_back(self, batch: Batch) -> None:
        """The latest peek's last rows, ``batch``, were not sent (the uplink had no place in
        flight for them): the next peeks hand them out again. Rewinds their kind's cursor to
        just before them (no row above them was handed out: the uplink gives back before it
        peeks again), and the tail is read from SQLite till its end again, as after any
        rewind (buffer_tail.py)."""
        kind = ALERT if batch.alerts else READING
        with self._lock:
            self._cursor[kind] = min(e.id for e in batch.entries) - 1
            self._tail.forget()

    def release_all(self) -> None:
        """Forget what is in flight (a fresh uplink): the next peeks start from the oldest."""
        self._flush_acked()  # else the rewound peeks would read acked rows again
        with self._lock:
            self._cursor = {READING: 0, ALERT: 0}
            self._tail.forget()

    # -- anyone --------------------------------------------------------------------

    def stats(self) -> BufferStats:
        self._flush_acked()  # the oldest row and the alerts are read from SQLite
        db = self._db()
        with self._lock:
            row = db.execute("SELECT enqueued_at FROM pending ORDER BY id LIMIT 1").fetchone()
            alerts = db.execute("SELECT COUNT(*) FROM pending WHERE kind = 1").fetchone()[0]
            c = self._totals.counters
            return BufferStats(
                depth=self._totals.rows, alerts=alerts, bytes=self._totals.bytes,
                oldest_enqueued_ms=row[0] if row else None,
                dropped_readings=c.get("dropped_readings", 0),
                dropped_alerts=c.get("dropped_alerts", 0),
                dropped_since_ms=c.get("dropped_since"), rejected=c.get("rejected", 0),
            )

    def disk_bytes(self) -> int:
        """The buffer's file and its write-ahead log as they are on disk (max_bytes bounds
        their sum)."""
        path = self.settings.path
        return sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))

    def close(self) -> None:
        self._flush_acked()
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
            self._local = threading.local()
