"""The buffer's SQLite file: its settings, its schema, and how a connection is opened
(WAL, so the uplink reads while the core writes; ``synchronous=FULL``, so a commit
survives power loss).

``max_bytes`` bounds the disk the buffer takes, its write-ahead log included (issue 12 case
10: a 200 kB buffer took 4.66 MB, nearly all of it WAL, because SQLite checkpoints every
1,000 pages and never shrinks the log). The WAL gets ``wal_bytes`` of the budget: it is
checkpointed at half that size (a commit's frames may overshoot) and truncated back to it
after each checkpoint; a commit large enough to carry it past its share anyway is followed
by a truncating checkpoint (``bound_wal``, after each commit), so only while that one
commit is being written can the log be larger. The rows get the rest, less the empty file's
pages, divided by ``PAGE_OVERHEAD``. Measured: 200 kB -> at most 181 kB on disk between
commits (it was 4.39 MB), 2 MB -> 1.73 MB.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

from annotated_types import Ge, MinLen, doc

from siaga.gateway.errors import BufferStorageError

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: batch ids stay unique
    kind INTEGER NOT NULL,                 -- 0 reading, 1 alert
    payload TEXT NOT NULL,                 -- wire form without id / backfill
    enqueued_at INTEGER NOT NULL           -- ms since the epoch
);
-- Alerts only: readings are found by id (the rowid), and an index over every row cost each
-- insert and delete its upkeep (~1.4 of ~10 ms CPU per 1k readings appended, sent and
-- acked; issue 17). A query uses it only when it says "kind = 1" literally.
DROP INDEX IF EXISTS pending_by_kind;
CREATE INDEX IF NOT EXISTS pending_alerts ON pending (id) WHERE kind = 1;
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,                -- its own: never a pending row's id
    pending_id INTEGER,                    -- the row's id in pending; NULL: refused at append
    kind INTEGER NOT NULL,
    payload TEXT NOT NULL,                 -- NULL pending_id: the item's repr, not JSON
    enqueued_at INTEGER NOT NULL,
    rejected_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    batch TEXT                             -- the batch id it was sent in, if any (MQTT, HTTP)
);
CREATE INDEX IF NOT EXISTS rejected_by_pending_id ON rejected (pending_id);
-- A late ack of a batch given up finds its rows (after a restart too: mqtt_uplink.py).
CREATE INDEX IF NOT EXISTS rejected_by_batch ON rejected (batch) WHERE batch IS NOT NULL;
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


# PRAGMA user_version of a file with the schema above. 0: a file from before it was kept,
# whose rejected table was keyed by the pending row's id; 1: its rejected rows have no batch
# id (``prepare_schema`` migrates both).
SCHEMA_VERSION = 2

# Version 0's rejected rows: a row refused at append (its reason "not encodable: ...") got
# whatever id SQLite gave it, not a pending row's; every other row kept its pending id.
_REJECTED_V0_TO_V1 = """
CREATE TABLE rejected_v1 (
    id INTEGER PRIMARY KEY,
    pending_id INTEGER,
    kind INTEGER NOT NULL,
    payload TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL,
    rejected_at INTEGER NOT NULL,
    reason TEXT NOT NULL
);
INSERT INTO rejected_v1 (pending_id, kind, payload, enqueued_at, rejected_at, reason)
    SELECT CASE WHEN reason LIKE 'not encodable:%' THEN NULL ELSE id END,
           kind, payload, enqueued_at, rejected_at, reason
    FROM rejected ORDER BY id;
DROP TABLE rejected;
ALTER TABLE rejected_v1 RENAME TO rejected;
"""


def prepare_schema(db: sqlite3.Connection) -> None:
    """Bring an older file's tables to ``SCHEMA_VERSION``, its rows kept (each step one
    transaction: a crash leaves the step undone, done at the next start), then create what
    is missing. A file of a newer gateway (``user_version`` above ``SCHEMA_VERSION``) is
    refused, never lowered: this code would not keep what the newer schema adds."""
    refuse_newer_schema(db)
    columns = {r[1] for r in db.execute("PRAGMA table_info(rejected)")}
    if columns and "pending_id" not in columns:
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _REJECTED_V0_TO_V1.split(";"):
                if statement.strip():
                    db.execute(statement)
            # Version 0 counted the rows its INSERT OR IGNORE dropped (the bug this
            # schema mends): the count is what the table holds.
            db.execute("UPDATE counters SET value = (SELECT COUNT(*) FROM rejected)"
                       " WHERE name = 'rejected'")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        log.info("buffer: rejected table migrated to its own key and pending_id")
        columns = {r[1] for r in db.execute("PRAGMA table_info(rejected)")}
    if columns and "batch" not in columns:  # schema 1: NULL for the rows it holds
        db.execute("ALTER TABLE rejected ADD COLUMN batch TEXT")
    db.executescript(SCHEMA)
    if schema_version(db) != SCHEMA_VERSION:  # lower only: newer was refused above
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")  # else no write at all


def schema_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def refuse_newer_schema(db: sqlite3.Connection) -> None:
    """BufferStorageError for a file written by a newer gateway (rolling a gateway back
    past the schema it wrote is not supported: docs/deploy-gateway.md)."""
    version = schema_version(db)
    if version > SCHEMA_VERSION:
        raise BufferStorageError(
            f"buffer schema version {version} is from a newer gateway (this one knows "
            f"{SCHEMA_VERSION}): run that gateway, or move the file aside to start empty")


@dataclass(frozen=True, slots=True)
class BufferSettings:
    """The store-and-forward buffer's SQLite file and its bounds."""

    path: Annotated[str, MinLen(1), doc("The SQLite file; relative: in gateway.state_dir")] \
        = "buffer.sqlite3"
    max_bytes: Annotated[int, Ge(4096), doc("Disk the buffer file and its WAL may take; "
                                            "the oldest readings go above it")] \
        = 256 * 1024 * 1024
    max_rows: Annotated[int, Ge(0), doc("The oldest readings go above this many rows; "
                                        "0: no row bound")] = 2_000_000

    def resolved(self, state_dir: Path) -> BufferSettings:
        return replace(self, path=str(state_dir / self.path))

    @property
    def wal_bytes(self) -> int:
        """What the write-ahead log may reach: a quarter of ``max_bytes``, at most 8 MiB."""
        return max(MIN_WAL_BYTES, min(self.max_bytes // 4, MAX_WAL_BYTES))

    @property
    def data_bytes(self) -> int:
        """What the rows may count (payload + ROW_OVERHEAD_BYTES each) before the oldest
        readings go, so that file and WAL together stay within ``max_bytes``; never less
        than a quarter of it (a bound below what an empty file takes is kept loosely)."""
        room = (self.max_bytes - self.wal_bytes - FILE_FIXED_BYTES) / PAGE_OVERHEAD
        return max(self.max_bytes // 4, int(room))


# Measured (tests/unit/gateway/test_buffer_disk.py): the file takes ~48 KiB empty (schema,
# index and counter pages) plus ~1.0-1.05 bytes per byte the rows count; the WAL reaches its
# checkpoint size plus one commit's frames, so it checkpoints at half its share.
MIN_WAL_BYTES = 8 * 4096
MAX_WAL_BYTES = 8 * 1024 * 1024
FILE_FIXED_BYTES = 48 * 1024
PAGE_OVERHEAD = 1.05


def open_buffer_db(path: str, wal_bytes: int = MAX_WAL_BYTES) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), shareable by the
    thread that owns it, whose WAL stays within ``wal_bytes``; BufferStorageError when the
    file cannot be opened."""
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is synced at every commit, so a commit survives power loss.
        db.execute("PRAGMA synchronous=FULL")
        page = db.execute("PRAGMA page_size").fetchone()[0]
        pages = max(2, wal_bytes // 2 // page)
        db.execute(f"PRAGMA wal_autocheckpoint={pages}")
        # after a checkpoint resets the log, SQLite truncates the file back to this
        db.execute(f"PRAGMA journal_size_limit={pages * page}")
    except sqlite3.Error as exc:
        raise BufferStorageError(f"cannot open buffer {path}: {exc}") from exc
    return db


def open_buffer_read_only(path: str) -> sqlite3.Connection:
    """A read-only connection (``requeue-rejected --dry-run``, beside a running gateway
    too): it writes nothing to the database (SQLite may create its -wal and -shm side
    files), so a file that needs migrating, or of a newer schema, is refused with
    BufferStorageError rather than migrated."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                             timeout=30)
        version = schema_version(db)
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_READONLY:
            # SQLite reads a WAL file through its side files, creating them if missing:
            # a user who cannot write the directory gets "attempt to write a readonly
            # database", which names the wrong cause.
            where = Path(path).parent
            raise BufferStorageError(
                f"cannot read buffer {path} as this user: SQLite creates its side files "
                f"({Path(path).name}-wal, -shm) beside it even to read, and this user cannot "
                f"create or write its side files (-wal/-shm) in {where}: run it as the "
                "gateway's user (sudo -u siaga ...)") from exc
        raise BufferStorageError(f"cannot open buffer {path} read-only: {exc}") from exc
    if version != SCHEMA_VERSION:
        try:
            refuse_newer_schema(db)  # the same refusal as the gateway's start
        finally:
            db.close()
        raise BufferStorageError(
            f"buffer {path} is at schema version {version} and needs migrating, which a "
            f"dry run does not do: start the gateway once (it migrates at start), then "
            f"run the dry run again")
    return db


def bound_wal(db: sqlite3.Connection, path: str, wal_bytes: int) -> None:
    """A large commit can carry the log past its share before SQLite's automatic
    checkpoint runs; then checkpoint and truncate it now."""
    try:
        size = os.path.getsize(path + "-wal")
    except OSError:
        return
    if size > wal_bytes:
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:  # a reader in the way: the next commit tries again
            log.debug("buffer checkpoint deferred: %s", exc)


# Rows per INSERT statement: a statement of many VALUES rows, not ``executemany`` of one row
# each (which runs the statement, and AUTOINCREMENT's sqlite_sequence update, per row).
# Measured on this schema, 2,000-row commits: 1.27-1.29 -> 0.28-0.48 us of CPU a row for
# the insert (the commit's 0.5 us a row unchanged); a message of two readings saves ~2 us.
# Each size below is one SQL text (SQLite's statement cache keeps it), the largest far
# under SQLite's 999 variables of old builds; a remainder goes in the smaller sizes.
INSERT_ROWS = (256, 32, 4, 1)
_INSERT_SQL = {
    rows: "INSERT INTO pending (kind, payload, enqueued_at) VALUES "
    + ",".join(f"(?1,?{i + 3},?2)" for i in range(rows))
    for rows in INSERT_ROWS
}


def insert_pending(db: sqlite3.Connection, kind: int, payloads: list[str], at: int) -> None:
    """Insert one ``pending`` row per payload, in order (consecutive ids under the
    caller's transaction), as ``executemany`` of a one-row INSERT does
    (tests/unit/gateway/test_buffer_sqlite.py pins the two together)."""
    start, left = 0, len(payloads)
    for rows in INSERT_ROWS:
        sql = _INSERT_SQL[rows]
        while left >= rows:
            db.execute(sql, (kind, at, *payloads[start:start + rows]))
            start += rows
            left -= rows
