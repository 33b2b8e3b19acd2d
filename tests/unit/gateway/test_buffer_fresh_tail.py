"""The buffer's in-memory tail (rows handed out without a read-back) and its range
deletes, checked against what SQLite holds: real SQLite files in tmp_path."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from siaga.gateway import buffer as buffer_module
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_rows import READING, id_runs
from siaga.gateway.buffer_sqlite import BufferSettings

from .test_buffer import alert, reading


def rows_on_disk(path: Path) -> list[tuple[int, str, int]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, payload, enqueued_at FROM pending ORDER BY id").fetchall()


def open_buffer(path: Path, **kw: int) -> StoreAndForwardBuffer:
    return StoreAndForwardBuffer(BufferSettings(path=str(path), **kw))


def test_tail_hands_out_exactly_the_committed_rows(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    b = open_buffer(path)
    b.peek_batch(10)  # an empty peek reaches the end: from now on the tail is whole
    b.append([reading(1), reading(2)], [alert(1)])
    b.append([reading(3)], [])
    disk = {i: (p, e) for i, p, e in rows_on_disk(path)}
    alerts, readings = b.peek_batch(10), b.peek_batch(10)  # alerts travel alone, first
    assert alerts is not None and readings is not None
    alerts_first = sorted(disk, key=lambda i: ("hazard" not in json.loads(disk[i][0]), i))
    assert [(e.id, e.payload, e.enqueued_at_ms)
            for e in alerts.entries + readings.entries] == [(i, *disk[i]) for i in alerts_first]
    assert b.peek_batch(10) is None  # in flight: never handed out twice
    b.release_all()  # a fresh uplink: the same rows again, now read from SQLite
    again = [b.peek_batch(10), b.peek_batch(10)]
    assert [x.key if x else None for x in again] == [alerts.key, readings.key]
    assert sum(b.ack(x) for x in again if x) == 4 and rows_on_disk(path) == []


def test_rows_of_an_earlier_process_are_read_from_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    first = open_buffer(path)
    first.append([reading(s) for s in range(1, 6)], [])
    first.close()
    b = open_buffer(path)
    b.append([reading(6)], [])  # while the tail is not known whole, it is not used
    got: list[int] = []
    while (batch := b.peek_batch(2)) is not None:
        got += [json.loads(e.payload)["seq"] for e in batch.readings]
        b.ack(batch)
    assert got == [1, 2, 3, 4, 5, 6]
    b.append([reading(7)], [])  # caught up: served from memory, same order
    batch = b.peek_batch(2)
    assert batch is not None and [json.loads(e.payload)["seq"] for e in batch.readings] == [7]


def test_an_uplink_far_behind_falls_back_to_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(buffer_module, "FRESH_MAX_ROWS", 3)
    b = open_buffer(tmp_path / "b.sqlite3")
    b.peek_batch(1)
    for s in range(1, 6):
        b.append([reading(s)], [])
    assert not b._tail.rows(READING)  # dropped, not grown past its bound
    got: list[int] = []
    while (batch := b.peek_batch(2)) is not None:
        got += [json.loads(e.payload)["seq"] for e in batch.readings]
    b.append([reading(6)], [])
    batch = b.peek_batch(5)
    assert got == [1, 2, 3, 4, 5]
    assert batch is not None and [json.loads(e.payload)["seq"] for e in batch.readings] == [6]


def test_rows_dropped_by_the_bound_leave_the_tail(tmp_path: Path) -> None:
    b = open_buffer(tmp_path / "b.sqlite3", max_rows=3)
    b.peek_batch(1)
    b.append([reading(s) for s in range(1, 6)], [])
    batch = b.peek_batch(10)
    assert batch is not None and [json.loads(e.payload)["seq"] for e in batch.readings] == [3, 4, 5]
    assert b.ack(batch) == 3 and b.stats().depth == 0


def test_ack_deletes_only_the_batch_rows_in_id_runs(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    b = open_buffer(path)
    b.append([reading(1), reading(2)], [alert(1)])  # alert id 1, readings 2 and 3
    b.append([reading(3)], [alert(2)])  # alert id 4, reading 5
    first = b.peek_batch(2)  # the two alerts: ids 1 and 4, not a run
    assert first is not None and sorted(e.id for e in first.entries) == [1, 4]
    assert b.ack(first) == 2
    assert [i for i, _, _ in rows_on_disk(path)] == [2, 3, 5]


def test_id_runs() -> None:
    assert list(id_runs(iter([7, 1, 3, 2, 9, 10]))) == [(1, 3), (7, 7), (9, 10)]
    assert list(id_runs(iter([]))) == []


def test_a_buffer_with_the_old_index_on_every_row_opens_with_the_alerts_index(
        tmp_path: Path) -> None:
    """A buffer written before issue 17's third round (an index on every row's kind): its
    rows are kept, that index is dropped and the alerts-only one built."""
    path = tmp_path / "b.sqlite3"
    first = open_buffer(path)
    first.append([reading(1), reading(2)], [alert(1)])
    first.close()
    with sqlite3.connect(path) as db:
        db.execute("DROP INDEX pending_alerts")
        db.execute("CREATE INDEX pending_by_kind ON pending (kind)")
    b = open_buffer(path)
    with sqlite3.connect(path) as db:
        indexes = {name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'pending'")}
    assert indexes == {"pending_alerts"}
    assert b.stats().depth == 3 and b.stats().alerts == 1
    alerts, readings = b.peek_batch(10), b.peek_batch(10)
    assert alerts is not None and len(alerts.alerts) == 1 and not alerts.readings
    assert readings is not None and [json.loads(e.payload)["seq"] for e in readings.readings] \
        == [1, 2]
