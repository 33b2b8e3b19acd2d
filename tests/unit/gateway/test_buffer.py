"""StoreAndForwardBuffer on a real SQLite file in a temporary directory."""

from __future__ import annotations

import json
import math
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from siaga.analytics.alert import Alert
from siaga.firmware_bridge.reading import Reading
from siaga.firmware_bridge.uplink_codec import encode_batch
from siaga.firmware_bridge.vocabulary import Level
from siaga.gateway.buffer import StoreAndForwardBuffer
from siaga.gateway.buffer_sqlite import BufferSettings
from siaga.gateway.config_table import read_table
from siaga.gateway.errors import ConfigError


def reading(seq: int, node: str = "slope-07", value: float = 31.5) -> Reading:
    return Reading(node=node, channel="vwc", value=value, unit="%", ts=1_795_000_000 + seq,
                   received_at=1_795_000_000.05 + seq, seq=seq, source="serial:/dev/pts/3")


def alert(n: int, level: Level = Level.SIAGA) -> Alert:
    return Alert(node="slope-07", hazard="landslide", level=level,
                 previous_level=Level.WASPADA, detector="landslide", ts=1_795_000_000 + n,
                 explanation_id="Hujan 3 jam 78 mm", explanation_en="3 h rain 78 mm",
                 site="bumiaji-slope", channel="rain", values={"rain_3h_mm": 78.0})


def seqs(batch) -> list[int]:
    return [json.loads(e.payload)["seq"] for e in batch.readings]


@pytest.fixture
def buf(tmp_path: Path):
    b = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "buffer.sqlite3")))
    yield b
    b.close()


def test_append_commits_before_returning(tmp_path: Path, buf: StoreAndForwardBuffer) -> None:
    buf.append([reading(1), reading(2)], [])
    # A second connection (another process after a crash) sees the rows at once.
    other = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "buffer.sqlite3")))
    batch = other.peek_batch(10)
    assert batch is not None and seqs(batch) == [1, 2]
    other.close()


def test_peek_then_ack_deletes_exactly_the_batch(buf: StoreAndForwardBuffer) -> None:
    buf.append([reading(i) for i in range(5)], [])
    first = buf.peek_batch(3)
    assert first is not None and seqs(first) == [0, 1, 2]
    assert buf.ack(first) == 3
    buf.release_all()
    rest = buf.peek_batch(10)
    assert rest is not None and seqs(rest) == [3, 4]
    assert buf.stats().depth == 2


def test_alerts_jump_the_queue(buf: StoreAndForwardBuffer) -> None:
    buf.append([reading(i) for i in range(100)], [])
    buf.append([reading(100)], [alert(1)])
    batch = buf.peek_batch(10)
    assert batch is not None
    assert len(batch.alerts) == 1 and json.loads(batch.alerts[0].payload)["level"] == 3
    # an alert travels alone: no reading beside it can get it refused or delay it
    assert batch.readings == ()
    rest = buf.peek_batch(10)
    assert rest is not None and rest.alerts == () and seqs(rest) == list(range(10))


def test_settle_moves_refused_rows_with_their_reason_and_deletes_the_rest(
        buf: StoreAndForwardBuffer) -> None:
    buf.append([reading(i) for i in range(5)], [])
    batch = buf.peek_batch(10)
    assert batch is not None
    ids = [e.id for e in batch.readings]
    assert buf.settle(batch, {ids[1]: "ts: bad", ids[3]: "value: bad"}) == 5
    stats = buf.stats()
    assert stats.depth == 0 and stats.rejected == 2
    rows = buf._db().execute("SELECT pending_id, reason FROM rejected ORDER BY id").fetchall()
    assert rows == [(ids[1], "ts: bad"), (ids[3], "value: bad")]


def test_unreject_takes_back_only_the_rows_rejected_with_its_reason(
        buf: StoreAndForwardBuffer) -> None:
    """An MQTT batch given up as never acked, acked late (gateway/uplink/mqtt_uplink.py): its
    rows leave the rejected table, found by its batch id; rows there for another reason or
    of another batch stay, and the count follows."""
    buf.append([reading(i) for i in range(6)], [])
    batch = buf.peek_batch(10)
    assert batch is not None
    ids = [e.id for e in batch.readings]
    buf.settle(batch, {ids[2]: "value: bad"}, "gw:a")
    buf.append([reading(i) for i in range(6, 12)], [])
    given_up, other = buf.peek_batch(3), buf.peek_batch(3)
    assert given_up is not None and other is not None
    buf.reject(given_up, "never acked by the hub", "gw:b")
    buf.reject(other, "never acked by the hub", "gw:c")
    assert buf.stats().rejected == 7
    assert buf.holds_rejected("gw:b", "never acked by the hub")
    assert not buf.holds_rejected("gw:a", "never acked by the hub")
    assert buf.unreject("gw:a", "never acked by the hub") == (0, 0)
    assert buf.unreject("gw:b", "never acked by the hub") == (3, 0)
    assert buf.stats().rejected == 4 and not buf.holds_rejected("gw:b", "never acked by the hub")
    assert buf._db().execute("SELECT pending_id, batch FROM rejected ORDER BY id").fetchall() == [
        (ids[2], "gw:a")] + [(e.id, "gw:c") for e in other.readings]


def test_rows_in_flight_are_never_read_again(buf: StoreAndForwardBuffer) -> None:
    """Pins the ThingsBoard double send: a second peek before the ack must not re-read."""
    buf.append([reading(i) for i in range(6)], [])
    a = buf.peek_batch(4)
    b = buf.peek_batch(4)
    assert a is not None and b is not None
    assert not {e.id for e in a.entries} & {e.id for e in b.entries}
    assert seqs(a) + seqs(b) == list(range(6))
    assert buf.peek_batch(4) is None
    buf.append([reading(6)], [])
    c = buf.peek_batch(4)
    assert c is not None and seqs(c) == [6]


def test_batch_key_is_stable_for_the_same_rows(buf: StoreAndForwardBuffer) -> None:
    buf.append([reading(i) for i in range(3)], [])
    a = buf.peek_batch(10)
    buf.release_all()
    b = buf.peek_batch(10)
    assert a is not None and b is not None and a.key == b.key
    assert a.key.startswith(f"{1:012d}-{3:012d}-")


def test_batch_key_tells_different_rows_apart(buf: StoreAndForwardBuffer) -> None:
    buf.append([reading(i) for i in range(4)], [])
    whole = buf.peek_batch(10)
    assert whole is not None
    first, second = whole.split()
    assert len({whole.key, first.key, second.key}) == 3
    assert first.entries + second.entries == whole.entries


def test_full_buffer_drops_oldest_readings_keeps_alerts_and_counts(tmp_path: Path) -> None:
    path = str(tmp_path / "b.sqlite3")
    buf = StoreAndForwardBuffer(BufferSettings(path=path, max_rows=10))
    buf.append([], [alert(1)])
    for i in range(30):
        buf.append([reading(i)], [])
    stats = buf.stats()
    assert stats.depth == 10 and stats.alerts == 1
    assert stats.dropped_readings == 21 and stats.dropped_since_ms is not None
    alerts = buf.peek_batch(100)
    assert alerts is not None and len(alerts.alerts) == 1
    batch = buf.peek_batch(100)
    assert batch is not None and seqs(batch) == list(range(21, 30))
    assert batch.loss.dropped_readings == 21
    body = json.loads(encode_batch("gw-1", "gw-1:" + batch.key, batch.readings, batch.alerts,
                                   batch.loss, 0))
    assert body["loss"]["dropped_readings"] == 21
    buf.close()


def test_byte_bound_drops_readings(tmp_path: Path) -> None:
    buf = StoreAndForwardBuffer(
        BufferSettings(path=str(tmp_path / "b.sqlite3"), max_bytes=20_000, max_rows=0))
    buf.append([reading(i) for i in range(1000)], [alert(1)])
    stats = buf.stats()
    assert stats.bytes <= 20_000
    assert stats.alerts == 1
    assert stats.dropped_readings == 1000 - (stats.depth - 1)
    assert stats.dropped_readings > 0


def test_alerts_dropped_only_when_no_reading_is_left(tmp_path: Path) -> None:
    buf = StoreAndForwardBuffer(BufferSettings(path=str(tmp_path / "b.sqlite3"), max_rows=3))
    buf.append([reading(1)], [alert(i) for i in range(5)])
    stats = buf.stats()
    assert stats.depth == 3 and stats.alerts == 3
    assert stats.dropped_readings == 1 and stats.dropped_alerts == 2


def test_restart_keeps_rows_and_counters(tmp_path: Path) -> None:
    path = str(tmp_path / "b.sqlite3")
    buf = StoreAndForwardBuffer(BufferSettings(path=path, max_rows=5))
    buf.append([reading(i) for i in range(8)], [])
    in_flight = buf.peek_batch(2)  # never acked: a crash
    assert in_flight is not None
    buf.close()
    again = StoreAndForwardBuffer(BufferSettings(path=path, max_rows=5))
    stats = again.stats()
    assert stats.depth == 5 and stats.dropped_readings == 3
    batch = again.peek_batch(10)
    assert batch is not None and seqs(batch) == [3, 4, 5, 6, 7]
    assert batch.loss.dropped_readings == 3
    again.append([reading(8)], [])
    assert again.peek_batch(10) is not None
    assert max(e.id for e in batch.entries) < 9
    again.close()


def test_ids_are_never_reused_after_the_queue_empties(buf: StoreAndForwardBuffer) -> None:
    buf.append([reading(1)], [])
    a = buf.peek_batch(10)
    assert a is not None
    buf.ack(a)
    buf.append([reading(2)], [])
    b = buf.peek_batch(10)
    assert b is not None and b.entries[0].id > a.entries[0].id


def test_unencodable_reading_is_rejected_and_the_rest_kept(buf: StoreAndForwardBuffer) -> None:
    buf.append([reading(1), reading(2, value=math.nan), reading(3)], [])
    batch = buf.peek_batch(10)
    assert batch is not None and seqs(batch) == [1, 3]
    assert buf.stats().rejected == 1


def test_a_lone_surrogate_is_rejected_and_the_rest_kept(buf: StoreAndForwardBuffer) -> None:
    """Regression: the JSON encoder writes a lone surrogate as it is and SQLite's bind then
    failed the whole commit (and left its transaction open)."""
    buf.append([reading(1), replace(reading(2), channel="vwc\ud800"), reading(3)],
               [replace(alert(1), explanation_en="hujan \udfff")])
    batch = buf.peek_batch(10)
    assert batch is not None and seqs(batch) == [1, 3] and not batch.alerts
    assert buf.stats().rejected == 2


def test_a_refused_counter_reading_sets_no_baseline(buf: StoreAndForwardBuffer) -> None:
    """Regression: the baselines were taken from every reading, so a counter reading with a
    lone surrogate in its node failed the whole commit when its baseline was bound."""
    rain = replace(reading(2), node="n\ud800", channel="rain", value=0.2, unit="mm", raw=3)
    buf.append([reading(1), rain, replace(rain, node="slope-07", seq=3)], [])
    batch = buf.peek_batch(10)
    assert batch is not None and seqs(batch) == [1, 3]
    assert buf.stats().rejected == 1
    assert buf.counter_baselines() == {("slope-07", "rain"): 3}


def test_an_error_in_a_transaction_rolls_it_back(buf: StoreAndForwardBuffer) -> None:
    """Regression: only SQLite errors rolled back; any other left the transaction open, so
    every later append failed with "cannot start a transaction within a transaction"."""
    db = buf._db()
    with pytest.raises(RuntimeError), buf._transaction(db, "commit"):
        db.execute("INSERT INTO counter_baselines (node, channel, count) VALUES ('n', 'c', 1)")
        raise RuntimeError("not SQLite's")
    assert not db.in_transaction
    buf.append([reading(1)], [])
    assert buf.stats().depth == 1 and buf.counter_baselines() == {}


def test_reject_moves_rows_out_of_the_queue(buf: StoreAndForwardBuffer) -> None:
    buf.append([reading(1), reading(2)], [])
    batch = buf.peek_batch(10)
    assert batch is not None
    assert buf.reject(batch, "hub said 422: value out of range") == 2
    buf.release_all()
    assert buf.peek_batch(10) is None
    assert buf.stats().rejected == 2 and buf.stats().depth == 0


def test_backfill_marks_entries_older_than_the_threshold(buf: StoreAndForwardBuffer) -> None:
    buf.append([reading(1)], [])
    stored_at = buf.stats().oldest_enqueued_ms
    assert stored_at is not None
    live = buf.peek_batch(10, backfill_after_s=60, at_ms=stored_at + 1_000)
    buf.release_all()
    late = buf.peek_batch(10, backfill_after_s=60, at_ms=stored_at + 61_000)
    assert live is not None and late is not None
    assert not live.readings[0].backfill and late.readings[0].backfill
    body = json.loads(encode_batch("gw", "gw:" + late.key, late.readings, late.alerts,
                                   late.loss, 0))
    assert body["backfill"] is True and body["readings"][0]["ts"] == 1_795_000_001_000


def test_append_and_ack_from_two_threads(buf: StoreAndForwardBuffer) -> None:
    done = threading.Event()

    def core() -> None:
        for i in range(200):
            buf.append([reading(i)], [])
        done.set()

    t = threading.Thread(target=core)
    t.start()
    got: list[int] = []
    while not (done.is_set() and buf.stats().depth == 0):
        batch = buf.peek_batch(7)
        if batch is not None:
            got += seqs(batch)
            buf.ack(batch)
    t.join()
    assert got == list(range(200))


def test_listener_hears_each_commit(buf: StoreAndForwardBuffer) -> None:
    heard: list[tuple[int, int, float | None]] = []
    buf.on_append(lambda r, a, first_seen: heard.append((r, a, first_seen)))
    buf.append([reading(1), reading(2)], [alert(1)])
    buf.append([reading(3)], [], first_seen=12.5)
    assert heard == [(2, 1, None), (1, 0, 12.5)]


def test_settings_from_toml_name_the_key() -> None:
    s = read_table(BufferSettings, {"path": "/tmp/x.db", "max_rows": 10}, "buffer")
    assert s.path == "/tmp/x.db" and s.max_rows == 10 and s.max_bytes == 256 * 1024 * 1024
    with pytest.raises(ConfigError) as err:
        read_table(BufferSettings, {"max_bytes": "big"}, "buffer")
    assert err.value.key == "buffer.max_bytes"
    with pytest.raises(ConfigError) as err:
        read_table(BufferSettings, {"max_byte": 1}, "buffer")
    assert err.value.key == "buffer.max_byte"
    resolved = BufferSettings().resolved(Path("/var/lib/siaga-gateway"))
    assert resolved.path == "/var/lib/siaga-gateway/buffer.sqlite3"
    assert BufferSettings(path="/data/b.db").resolved(Path("/x")).path == "/data/b.db"
