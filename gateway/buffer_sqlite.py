"""The buffer's SQLite file: its settings, its schema, and how a connection is opened
(WAL, so the uplink reads while the core writes; ``synchronous=FULL``, so a commit
survives power loss)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

from annotated_types import Ge, MinLen, doc

from siaga.gateway.errors import BufferStorageError

SCHEMA = """
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


def open_buffer_db(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), shareable by the
    thread that owns it; BufferStorageError when the file cannot be opened."""
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is synced at every commit, so a commit survives power loss.
        db.execute("PRAGMA synchronous=FULL")
    except sqlite3.Error as exc:
        raise BufferStorageError(f"cannot open buffer {path}: {exc}") from exc
    return db
