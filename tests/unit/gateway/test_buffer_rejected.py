"""The buffer's rejected table: its own key (a row refused at append has no pending id, so
it never takes one a pending row still holds), and a buffer file of the old schema, whose
rejected rows were keyed by the pending row's id, opened and migrated with its rows."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from siaga.gateway import requeue_command
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_rows import ROW_OVERHEAD_BYTES
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.errors import BufferStorageError
from tests.unit.gateway.test_buffer import alert, reading


def rejected_rows(buf: StoreAndForwardBuffer) -> list[tuple[int | None, str]]:
    return buf._db().execute(
        "SELECT pending_id, reason FROM rejected ORDER BY id").fetchall()


def test_a_row_refused_at_append_takes_no_pending_rows_id(tmp_path: Path) -> None:
    """Regression: a row JSON cannot carry went to ``rejected`` without an id, SQLite gave it
    the table's highest id + 1, an id a row still in ``pending`` could hold; that row, later
    rejected, met INSERT OR IGNORE and was gone (stats said 11, the table held 10)."""
    buf = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "buffer.sqlite3")))
    buf.append([reading(i) for i in range(1, 6)], [])  # ids 1-5
    first = buf.peek_batch(2)
    assert first is not None
    buf.reject(first, "value: bad")  # rejected holds ids 1, 2
    buf.append([reading(6, value=math.nan)], [])  # refused: the old schema numbered it 3
    rest = buf.peek_batch(10)
    assert rest is not None and [e.id for e in rest.readings] == [3, 4, 5]
    buf.reject(rest, "value: bad")
    assert buf.stats().rejected == 6
    assert buf._db().execute("SELECT COUNT(*) FROM rejected").fetchone()[0] == 6
    rows = rejected_rows(buf)
    assert [p for p, _ in rows] == [1, 2, None, 3, 4, 5]
    buf.close()


# The schema of the buffer files on gateways before the rejected table had its own key
# (user_version 0): as it was, so that the test opens what a gateway has on disk.
OLD_SCHEMA = """
CREATE TABLE pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind INTEGER NOT NULL, payload TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL);
CREATE INDEX pending_alerts ON pending (id) WHERE kind = 1;
CREATE TABLE rejected (
    id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, payload TEXT NOT NULL,
    enqueued_at INTEGER NOT NULL, rejected_at INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE counter_baselines (
    node TEXT NOT NULL, channel TEXT NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (node, channel)) WITHOUT ROWID;
"""


def old_buffer_file(path: Path) -> None:
    """Rows 1-2 rejected by the hub, a NaN reading refused at append (numbered 3 by SQLite),
    rows 4-5 pending (their JSON as a reading's), and the counters that go with them."""
    new = StoreAndForwardBuffer(BufferSettings(path=str(path.parent / "payloads.sqlite3")))
    new.append([reading(4), reading(5)], [])
    payloads = [p for (p,) in new._db().execute("SELECT payload FROM pending ORDER BY id")]
    new.close()
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.executemany("INSERT INTO rejected VALUES (?, 0, ?, 1000, 2000, ?)", [
        (1, '{"seq":1}', "value: bad"), (2, '{"seq":2}', "never acked by the hub"),
        (3, "Reading(seq=6, value=nan)", "not encodable: Out of range float values")])
    db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('pending', 5)")
    db.executemany("INSERT INTO pending VALUES (?, 0, ?, 1000)", [(4, payloads[0]),
                                                                  (5, payloads[1])])
    db.execute("INSERT INTO counters VALUES ('rejected', 3)")
    db.commit()
    db.close()


def test_an_old_schema_file_is_migrated_with_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "buffer.sqlite3"
    old_buffer_file(path)
    buf = StoreAndForwardBuffer(BufferSettings(path=str(path)))
    assert buf._db().execute("PRAGMA user_version").fetchone()[0] == 2
    assert rejected_rows(buf) == [(1, "value: bad"), (2, "never acked by the hub"),
                                  (None, "not encodable: Out of range float values")]
    stats = buf.stats()
    assert stats.rejected == 3 and stats.depth == 2
    pending = buf.peek_batch(10)
    assert pending is not None and [e.id for e in pending.readings] == [4, 5]
    buf.reject(pending, "value: bad")  # row 3's old number no longer in the way
    assert buf.stats().rejected == 5
    assert [p for p, _ in rejected_rows(buf)] == [1, 2, None, 4, 5]
    # no batch id: the migrated rows had none, and this reject gave none
    batches = buf._db().execute("SELECT batch FROM rejected ORDER BY id").fetchall()
    assert batches == [(None,)] * 5
    buf.close()
    again = StoreAndForwardBuffer(BufferSettings(path=str(path)))  # migrated once only
    assert [p for p, _ in rejected_rows(again)] == [1, 2, None, 4, 5]
    assert again.stats().rejected == 5
    again.close()


def test_requeue_moves_matching_rows_back_in_order_under_their_ids(tmp_path: Path) -> None:
    buf = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "buffer.sqlite3")))
    buf.append([reading(i) for i in range(1, 7)], [])  # ids 1-6
    batch = buf.peek_batch(10)
    assert batch is not None
    ids = [e.id for e in batch.readings]
    buf.settle(batch, {ids[1]: "reading 1: value: bad"})  # the rest stored
    buf.append([reading(7), reading(8, value=math.nan)], [])  # id 7; the NaN refused, no id
    buf.append([reading(9)], [])  # id 8
    later = buf.peek_batch(10)
    assert later is not None and [e.id for e in later.readings] == [7, 8]
    buf.reject(later, "never acked by the hub")
    assert buf.stats().rejected == 4 and buf.stats().depth == 0
    dry = requeue_command.look(buf.settings, None)
    assert dry.by_reason == {"reading 1: value: bad": [2], "never acked by the hub": [7, 8]}
    assert dry.left_unencodable == 1 and buf.stats().rejected == 4
    moved = buf.requeue_rejected("never acked")
    assert moved.by_reason == {"never acked by the hub": [7, 8]}
    assert moved.left_unencodable == 0  # the refused row's reason does not match
    stats = buf.stats()
    assert stats.rejected == 2 and stats.depth == 2
    assert buf.peek_batch(10) is None  # back below the cursor: seen after a restart
    buf.release_all()  # as the gateway's next start does
    again = buf.peek_batch(10)
    assert again is not None and [e.id for e in again.readings] == [7, 8]
    assert [e.payload for e in again.readings] == [e.payload for e in later.readings]
    assert [p for p, _ in rejected_rows(buf)] == [2, None]
    buf.append([reading(10)], [])
    last = buf.peek_batch(10)
    assert last is not None and [e.id for e in last.readings] == [9]  # no id reused
    buf.close()


def test_a_schema_1_file_gets_the_batch_column_with_its_rows(tmp_path: Path) -> None:
    """Schema 1 (own key and pending_id, no batch id): the column is added, NULL for its rows."""
    path = tmp_path / "buffer.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA.replace(
        "id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, payload TEXT NOT NULL,\n"
        "    enqueued_at INTEGER NOT NULL, rejected_at",
        "id INTEGER PRIMARY KEY, pending_id INTEGER, kind INTEGER NOT NULL, payload TEXT NOT NULL,"
        "\n    enqueued_at INTEGER NOT NULL, rejected_at") + "PRAGMA user_version = 1;")
    db.execute("INSERT INTO rejected VALUES (1, 7, 0, '{}', 1000, 2000, 'never acked by the hub')")
    db.commit()
    db.close()
    buf = StoreAndForwardBuffer(BufferSettings(path=str(path)))
    assert buf._db().execute("SELECT pending_id, reason, batch FROM rejected").fetchall() == [
        (7, "never acked by the hub", None)]
    assert buf._db().execute("PRAGMA user_version").fetchone()[0] == 2
    buf.close()


def test_opening_a_current_file_and_a_dry_run_write_nothing(tmp_path: Path) -> None:
    """``requeue-rejected --dry-run`` may run beside a running gateway: opening the buffer
    and the dry run commit nothing (before: PRAGMA user_version was set at every open, a
    write even at the same value)."""
    path = str(tmp_path / "buffer.sqlite3")
    StoreAndForwardBuffer(BufferSettings(path=path)).close()
    watch = sqlite3.connect(path)
    version = watch.execute("PRAGMA data_version").fetchone()[0]
    StoreAndForwardBuffer(BufferSettings(path=path)).close()
    requeue_command.look(BufferSettings(path=path), None)
    assert watch.execute("PRAGMA data_version").fetchone()[0] == version
    watch.close()


def test_a_file_of_a_newer_schema_is_refused_and_keeps_its_version(tmp_path: Path) -> None:
    """A file at user_version 3 (a newer gateway's) was opened and set back to 2, its new
    schema then kept by code that knows nothing of it: now refused, left at 3."""
    path = tmp_path / "buffer.sqlite3"
    StoreAndForwardBuffer(BufferSettings(path=str(path))).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 3")
    db.close()
    with pytest.raises(BufferStorageError, match="newer gateway"):
        StoreAndForwardBuffer(BufferSettings(path=str(path)))
    # the dry run's read-only open says the same (it said less: no way out)
    with pytest.raises(BufferStorageError, match="newer gateway.*move the file aside"):
        requeue_command.look(BufferSettings(path=str(path)), None)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    db.close()


def test_migrating_a_version_0_file_counts_the_rows_its_table_holds(tmp_path: Path) -> None:
    """Version 0 counted rows its INSERT OR IGNORE dropped: a counter of 2 over one row
    reads 1 after the migration."""
    path = tmp_path / "buffer.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.execute("INSERT INTO rejected VALUES (1, 0, '{}', 1000, 2000, 'value: bad')")
    db.execute("INSERT INTO counters VALUES ('rejected', 2)")
    db.commit()
    db.close()
    buf = StoreAndForwardBuffer(BufferSettings(path=str(path)))
    assert buf.stats().rejected == 1
    assert buf._db().execute(
        "SELECT value FROM counters WHERE name = 'rejected'").fetchone()[0] == 1
    buf.close()


def test_a_dry_run_reads_only_and_refuses_a_file_that_needs_migrating(tmp_path: Path) -> None:
    """``requeue-rejected --dry-run`` beside a running older gateway: opening the buffer
    migrated a version 0 file under it. Now the dry run opens it read-only and refuses."""
    path = tmp_path / "buffer.sqlite3"
    old_buffer_file(path)
    with pytest.raises(BufferStorageError, match="needs migrating"):
        requeue_command.requeue(BufferSettings(path=str(path)), tmp_path, None, dry_run=True)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    assert "pending_id" not in {r[1] for r in db.execute("PRAGMA table_info(rejected)")}
    db.close()
    StoreAndForwardBuffer(BufferSettings(path=str(path))).close()  # the gateway migrates
    assert requeue_command.look(BufferSettings(path=str(path)), "never acked").by_reason == {
        "never acked by the hub": [2]}


def full_buffer(tmp_path: Path) -> BufferSettings:
    """A buffer at its bound, max_rows 3: pending ids 3-5, rejected ids 1-2."""
    settings = BufferSettings(path=str(tmp_path / "buffer.sqlite3"), max_rows=3)
    buf = StoreAndForwardBuffer(settings)
    buf.append([reading(i) for i in range(1, 4)], [])  # ids 1-3
    first = buf.peek_batch(2)
    assert first is not None
    buf.reject(first, "value: bad")  # ids 1-2
    buf.append([reading(4), reading(5)], [])  # pending 3-5: at the bound, not over
    buf.close()
    return settings


def test_a_requeue_past_the_buffers_bounds_is_refused_unless_forced(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Requeued rows take the lowest ids, so in a full buffer the next append trims exactly
    them, for good (in ``rejected`` they were safe): the dry run warns, the move refuses
    (exit 1, ``rejected`` unchanged) unless forced, and then warns."""
    settings = full_buffer(tmp_path)
    assert requeue_command.requeue(settings, tmp_path, None, dry_run=True) == 0
    out = capsys.readouterr()
    assert out.out.startswith("would move 2 rejected rows")
    assert "warning: pending and the 2 rows to move reach the buffer's bounds" in out.err
    assert requeue_command.requeue(settings, tmp_path, None, dry_run=False) == 1
    out = capsys.readouterr()
    assert "moved nothing" in out.err and "--force" in out.err and out.out == ""
    buf = StoreAndForwardBuffer(settings)
    assert [p for p, _ in rejected_rows(buf)] == [1, 2] and buf.stats().depth == 3
    buf.close()
    assert requeue_command.requeue(settings, tmp_path, None, dry_run=False, force=True) == 0
    out = capsys.readouterr()
    assert out.out.startswith("moved 2 rejected rows")
    assert "warning: pending and the 2 rows to move reach" in out.err
    buf = StoreAndForwardBuffer(settings)
    buf.append([reading(6)], [])  # trims the oldest: the two requeued and id 3
    assert buf.stats().dropped_readings == 3
    buf.close()


def test_a_requeue_that_moves_nothing_neither_warns_nor_refuses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Pending alone over the bounds (3 rows, the config's max_rows lowered to 2): moving
    nothing adds nothing to trim, so no warning (at the bound, as before, it could not
    fail)."""
    settings = full_buffer(tmp_path)
    lowered = replace(settings, max_rows=2)
    for dry_run in (True, False):
        assert requeue_command.requeue(lowered, tmp_path, "nothing matches", dry_run) == 0
        assert "warning" not in capsys.readouterr().err


def test_a_requeue_that_lands_on_the_bound_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exactly at the bound after the move is already too full: the trim after the next
    append drops the oldest row, a requeued one (max_rows 5, 3 pending + 2 moved: the
    check asked only whether the move went past the bound, so it neither warned nor
    refused, and the next append dropped one)."""
    settings = replace(full_buffer(tmp_path), max_rows=5)
    assert requeue_command.requeue(settings, tmp_path, None, dry_run=True) == 0
    assert "warning: pending and the 2 rows to move reach" in capsys.readouterr().err
    assert requeue_command.requeue(settings, tmp_path, None, dry_run=False) == 1
    assert "moved nothing" in capsys.readouterr().err
    assert requeue_command.requeue(settings, tmp_path, None, dry_run=False, force=True) == 0
    buf = StoreAndForwardBuffer(settings)
    buf.append([reading(6)], [])  # what the check foresaw: the oldest requeued row goes
    assert buf.stats().dropped_readings == 1
    buf.close()


def test_a_requeue_of_alerts_only_into_a_full_buffer_moves_them_and_warns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The trim drops readings first and alerts only when no reading is left, so requeued
    alerts are not what the next append drops: moving only alerts into a full buffer was
    refused, its message saying the requeued rows go (max_rows 3, 3 pending readings, one
    rejected alert). Now it moves and warns that the oldest pending readings go."""
    settings = BufferSettings(path=str(tmp_path / "buffer.sqlite3"), max_rows=3)
    buf = StoreAndForwardBuffer(settings)
    buf.append([], [alert(1)])  # id 1
    batch = buf.peek_batch(10)
    assert batch is not None
    buf.reject(batch, "node: unknown")
    buf.append([reading(i) for i in range(1, 4)], [])  # ids 2-4: at the bound
    buf.close()
    assert requeue_command.requeue(settings, tmp_path, None, dry_run=False) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "the oldest pending readings go" in err
    buf = StoreAndForwardBuffer(settings)
    buf.append([reading(4)], [])
    stats = buf.stats()
    assert (stats.dropped_readings, stats.dropped_alerts) == (2, 0)
    assert buf._db().execute("SELECT id FROM pending WHERE kind = 1").fetchall() == [(1,)]
    buf.close()


def test_a_requeue_one_byte_under_the_data_bound_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Pending and the moved row one byte under ``data_bytes``: the check asked only
    whether they reached it, so the move went through and the next append (a row takes
    ROW_OVERHEAD_BYTES and its payload) trimmed the requeued reading."""
    path = str(tmp_path / "buffer.sqlite3")
    buf = StoreAndForwardBuffer(BufferSettings(path=path, max_rows=0))
    buf.append([reading(1)], [])
    batch = buf.peek_batch(1)
    assert batch is not None
    buf.reject(batch, "value: bad")  # id 1
    buf.append([reading(i) for i in range(2, 9)], [])  # ids 2-8
    db = buf._db()
    pending = db.execute("SELECT COUNT(*), SUM(LENGTH(payload)) FROM pending").fetchone()
    moved = db.execute("SELECT LENGTH(payload) FROM rejected").fetchone()[0]
    buf.close()
    size = pending[1] + moved + (pending[0] + 1) * ROW_OVERHEAD_BYTES
    assert size + 1 >= 1024  # data_bytes is max_bytes // 4 here, max_bytes >= 4096
    settings = BufferSettings(path=path, max_rows=0, max_bytes=4 * (size + 1))
    assert settings.data_bytes == size + 1
    assert requeue_command.requeue(settings, tmp_path, None, dry_run=False) == 1
    assert "moved nothing" in capsys.readouterr().err
    assert requeue_command.requeue(settings, tmp_path, None, dry_run=False, force=True) == 0
    buf = StoreAndForwardBuffer(settings)
    buf.append([reading(9)], [])  # what the check foresaw: the requeued reading goes
    assert buf.stats().dropped_readings >= 1
    assert buf._db().execute("SELECT MIN(id) FROM pending").fetchone()[0] > 1
    buf.close()
