"""What the store-and-forward buffer holds and what it lost: its running totals (rows,
bytes, the counters table), trimming the oldest rows to the bounds, and the loss report.

The totals are kept in memory so that a commit need not count the table; they leave out
the rows of acks noted but not yet deleted (gateway/buffer_acks.py). Not locked: the buffer
calls it under its state lock, inside the write transaction that the changes belong to.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

from siaga.firmware_bridge.uplink import LossReport
from siaga.gateway.buffer_acks import NotedAcks
from siaga.gateway.buffer_rows import ALERT, READING, ROW_OVERHEAD_BYTES
from siaga.gateway.buffer_sqlite import BufferSettings

log = logging.getLogger(__name__)


class BufferTotals:
    def __init__(self, settings: BufferSettings, db: sqlite3.Connection) -> None:
        self.settings = settings
        self.counters: dict[str, int] = {}
        self.rows = 0
        self.bytes = 0  # payloads plus ROW_OVERHEAD_BYTES a row
        self.reload(db)

    def added(self, payloads: Sequence[str]) -> None:
        """A row of each of ``payloads`` committed."""
        self.rows += len(payloads)
        self.bytes += sum(map(len, payloads)) + len(payloads) * ROW_OVERHEAD_BYTES

    def removed(self, n: int, size: int) -> None:
        """``n`` rows gone that counted ``size`` bytes (``entries_bytes``, payloads and the
        row overhead)."""
        self.rows -= n
        self.bytes -= size

    def reload(self, db: sqlite3.Connection, noted: NotedAcks | None = None) -> None:
        """Totals from SQLite, leaving out the rows of ``noted`` (acks noted, not yet
        deleted) when given; without it the caller's transaction has deleted them already
        (or there are none)."""
        self.counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
        rows, size = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM pending"
        ).fetchone()
        self.rows, self.bytes = rows, size + rows * ROW_OVERHEAD_BYTES
        if noted is not None:
            self.rows -= noted.rows
            self.bytes -= noted.bytes

    def loss(self) -> LossReport:
        return LossReport(self.counters.get("dropped_readings", 0),
                          self.counters.get("dropped_since"))

    def over(self) -> bool:
        """Whether the totals are past the bounds (what trim drops rows for)."""
        s = self.settings
        return self.bytes > s.data_bytes or (s.max_rows > 0 and self.rows > s.max_rows)

    def full_with(self, rows: int, payload_bytes: int, largest_payload: int) -> bool:
        """Whether ``rows`` more rows of ``payload_bytes`` leave no room for one append, so
        the trim after the next append drops the oldest rows (``over`` asks only whether
        the totals are past the bounds now). The next append's size is not known: it is
        taken as one row of ``largest_payload`` (the largest of the rows added; a larger
        append may still trim)."""
        s = self.settings
        size = self.bytes + payload_bytes + rows * ROW_OVERHEAD_BYTES
        return (size + ROW_OVERHEAD_BYTES + largest_payload > s.data_bytes
                or (s.max_rows > 0 and self.rows + rows >= s.max_rows))

    def trim(self, db: sqlite3.Connection, at: int) -> dict[int, int]:
        """Drop the oldest readings, then (only if no reading is left) the oldest alerts.

        Returns the last dropped id per kind.
        """
        trimmed: dict[int, int] = {}
        for kind, counter in ((READING, "dropped_readings"), (ALERT, "dropped_alerts")):
            if not self.over():
                return trimmed
            last_id, dropped = None, 0
            for row_id, size in db.execute(
                f"SELECT id, LENGTH(payload) FROM pending WHERE kind = {kind:d} ORDER BY id"
            ):
                last_id, dropped = row_id, dropped + 1
                self.rows -= 1
                self.bytes -= size + ROW_OVERHEAD_BYTES
                if not self.over():
                    break
            if last_id is None:
                continue
            trimmed[kind] = last_id
            db.execute("DELETE FROM pending WHERE kind = ? AND id <= ?", (kind, last_id))
            self.bump(db, counter, dropped)
            if "dropped_since" not in self.counters:
                self.bump(db, "dropped_since", at)
            log.warning("buffer full: dropped the %d oldest %s", dropped, counter[8:])
        return trimmed

    def bump(self, db: sqlite3.Connection, name: str, by: int) -> None:
        db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value", (name, by),
        )
        self.counters[name] = self.counters.get(name, 0) + by
