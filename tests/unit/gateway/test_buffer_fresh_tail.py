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
    assert sum(b.ack(x) for x in again if x) == 4
    b.append([reading(4)], [])  # the acks ride on this commit
    assert [json.loads(p)["seq"] for _, p, _ in rows_on_disk(path)] == [4]


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


def test_ack_deletes_only_the_batch_rows_in_id_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(buffer_module, "ACK_DEFER_S", 0.0)  # an idle buffer: acks at once
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


def test_an_ack_while_appends_run_is_deleted_by_the_next_commit(tmp_path: Path) -> None:
    """The uplink's ack costs no transaction of its own while the core commits: its rows
    go in the next append's transaction; the counters leave them out at once."""
    path = tmp_path / "b.sqlite3"
    b = open_buffer(path)
    b.append([reading(s) for s in range(1, 4)], [])
    batch = b.peek_batch(2)
    assert batch is not None and b.ack(batch) == 2
    assert len(rows_on_disk(path)) == 3  # noted, not yet deleted
    assert b._totals.rows == 1
    assert b.peek_batch(10) is not None  # seq 3; the acked rows are never handed out again
    b.append([reading(4)], [])
    assert [json.loads(p)["seq"] for _, p, _ in rows_on_disk(path)] == [3, 4]
    assert b.stats().depth == 2


@pytest.mark.parametrize("flush", ["stats", "release_all", "close"])
def test_noted_acks_are_deleted_before_sqlite_is_read_or_closed(tmp_path: Path, flush: str) -> None:
    """stats reads the oldest row and the alerts from SQLite, a rewound uplink reads rows
    again from SQLite, and a clean stop must not leave acked rows to be sent twice."""
    path = tmp_path / "b.sqlite3"
    b = open_buffer(path)
    b.append([reading(1), reading(2)], [alert(1)])
    alerts = b.peek_batch(10)
    assert alerts is not None and alerts.alerts and b.ack(alerts) == 1
    getattr(b, flush)()
    assert [json.loads(p)["seq"] for _, p, _ in rows_on_disk(path)] == [1, 2]
    if flush == "close":
        b = open_buffer(path)
    assert b.stats().alerts == 0 and b.stats().depth == 2
    again = b.peek_batch(10)
    assert again is not None and not again.alerts and len(again.readings) == 2


def test_a_noted_ack_lost_in_a_crash_sends_its_rows_again(tmp_path: Path) -> None:
    """At least once: a process killed before the next commit forgets the noted ack, and
    the rows go again (the hub stores a resent reading once, docs/uplink.md)."""
    path = tmp_path / "b.sqlite3"
    b = open_buffer(path)
    b.append([reading(1), reading(2)], [])
    batch = b.peek_batch(10)
    assert batch is not None and b.ack(batch) == 2
    crashed_after = rows_on_disk(path)  # no close: what a SIGKILL leaves
    assert len(crashed_after) == 2
    again = open_buffer(path).peek_batch(10)
    assert again is not None and [e.id for e in again.readings] == [e.id for e in batch.readings]


def test_rows_trimmed_in_flight_then_acked_leave_the_counters_exact(tmp_path: Path) -> None:
    b = open_buffer(tmp_path / "b.sqlite3", max_rows=3)
    b.append([reading(1), reading(2)], [])
    batch = b.peek_batch(10)
    assert batch is not None
    b.append([reading(s) for s in range(3, 6)], [])  # over the bound: 1 and 2 dropped in flight
    assert b.ack(batch) == 2  # noted; its rows are gone already
    b.append([reading(6)], [])  # bound again: 3 dropped; the noted ack finds nothing to delete
    assert b.stats().depth == 3 == b._totals.rows
    got = b.peek_batch(10)
    assert got is not None and [json.loads(e.payload)["seq"] for e in got.readings] == [4, 5, 6]


def test_the_tail_keeps_only_rows_above_a_cursor_a_peek_moved_meanwhile() -> None:
    """An append commits without the state lock: a peek reading SQLite between the commit
    and the tail's update takes the new rows itself; the tail must not hand them out again."""
    from siaga.gateway.buffer_tail import CommittedTail

    tail = CommittedTail(100)
    tail.caught_up(READING)
    tail.keep(READING, 10, ["a", "b", "c"], 5, cursor=11)  # rows 10 and 11 already peeked
    assert tail.take(READING, 10) == [(12, "c", 5)]
    tail.keep(READING, 13, ["d"], 6, cursor=20)
    assert tail.take(READING, 10) == []
    tail.keep(READING, 21, ["e", "f"], 7, cursor=20)
    assert tail.take(READING, 10) == [(21, "e", 7), (22, "f", 7)]


def test_appends_and_peeks_acks_in_two_threads_hand_out_every_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The core appends while the uplink peeks and acks, as in a flood: the appends commit
    outside the state lock and the acks ride on them. Every row is handed out exactly once,
    in order, and nothing is left after the last ack. A small tail bound makes the uplink
    fall back to SQLite reads (the cursor race) now and then."""
    import threading

    monkeypatch.setattr(buffer_module, "FRESH_MAX_ROWS", 40)
    path = tmp_path / "b.sqlite3"
    b = open_buffer(path)
    total = 900
    done = threading.Event()

    def core() -> None:
        for start in range(0, total, 15):
            b.append([reading(s) for s in range(start, start + 15)], [])
        done.set()

    got: list[int] = []
    thread = threading.Thread(target=core)
    thread.start()
    while not (done.is_set() and len(got) >= total):
        batch = b.peek_batch(37)
        if batch is None:
            done.wait(0.001)
            continue
        got += [json.loads(e.payload)["seq"] for e in batch.readings]
        assert b.ack(batch) == len(batch.readings)
    thread.join()
    assert got == list(range(total))
    assert b.stats().depth == 0
    b.close()
    assert rows_on_disk(path) == []


def test_a_commit_that_fails_keeps_the_noted_acks_and_the_totals(tmp_path: Path) -> None:
    """An SQLite error inside an append (here a trigger refusing one insert) rolls the whole
    transaction back, the noted acks' deletes with it: they stay noted and go with the next
    commit, and the totals still leave them out."""
    from siaga.gateway.errors import BufferStorageError

    path = tmp_path / "b.sqlite3"
    b = open_buffer(path)
    b.append([reading(1), reading(2)], [])
    batch = b.peek_batch(10)
    assert batch is not None and b.ack(batch) == 2
    with sqlite3.connect(path) as other:
        other.execute("CREATE TRIGGER refuse BEFORE INSERT ON pending"
                      " WHEN NEW.payload LIKE '%\"seq\":99,%'"
                      " BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(BufferStorageError, match="commit failed"):
        b.append([reading(99)], [])
    assert len(rows_on_disk(path)) == 2 and b._totals.rows == 0 and b._acked.rows == 2
    with sqlite3.connect(path) as other:
        other.execute("DROP TRIGGER refuse")
    b.append([reading(3)], [])
    assert [json.loads(p)["seq"] for _, p, _ in rows_on_disk(path)] == [3]
    assert b.stats().depth == 1 == b._totals.rows and b._acked.rows == 0
