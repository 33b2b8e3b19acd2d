"""LiveBus: agency filtering, slow subscribers dropped without blocking, replay, close."""

from __future__ import annotations

import pytest

from siaga.api.live import CLOSED, FINAL, OVERFLOW, RELOAD, LiveBus, make_event
from siaga.api.metrics import MetricsRegistry

pytestmark = pytest.mark.anyio


def _event(n: int, kind: str = "incident.opened") -> dict[str, object]:
    return {"type": kind, "incident": {"id": n}}


async def test_subscribers_see_only_events_of_their_agencies() -> None:
    bus = LiveBus()
    bpbd = bus.subscribe(frozenset({"BPBD"}))
    pmk = bus.subscribe(frozenset({"PMK"}))
    everyone = bus.subscribe(None)
    bus.publish(_event(1), ["BPBD", "SATPOLPP"])
    bus.publish(_event(2), ["PMK"])
    bus.publish(_event(3), ["PMK", "BPBD"])
    got_bpbd = [(await bpbd.next(1)) for _ in range(2)]
    assert [e.data["incident"]["id"] for e in got_bpbd] == [1, 3]  # type: ignore[index]
    got_pmk = [(await pmk.next(1)) for _ in range(2)]
    assert [e.data["incident"]["id"] for e in got_pmk] == [2, 3]  # type: ignore[index]
    got_all = [(await everyone.next(1)) for _ in range(3)]
    assert [e.id for e in got_all] == [1, 2, 3]  # type: ignore[union-attr]
    assert await bpbd.next(0.01) is None


async def test_slow_subscriber_is_dropped_and_others_keep_receiving() -> None:
    metrics = MetricsRegistry()
    bus = LiveBus(queue_size=4, metrics=metrics)
    slow = bus.subscribe(None)
    fast = bus.subscribe(None)
    for n in range(10):
        bus.publish(_event(n), ["BPBD"])
        got = await fast.next(1)
        assert got is not None and got.data["incident"] == {"id": n}
    assert slow.dropped
    assert bus.subscriber_count == 1
    end = await slow.next(1)
    assert end is not None and end.type == OVERFLOW
    assert metrics.counter("siaga_live_dropped_subscribers_total",
                           "Live subscribers dropped because they fell behind").value() == 1


async def test_reconnect_with_last_event_id_replays_missed_visible_events() -> None:
    bus = LiveBus(replay=100)
    for n in range(1, 6):
        bus.publish(_event(n), ["PMK"] if n % 2 else ["BPBD"])
    sub = bus.subscribe(frozenset({"PMK"}), last_event_id=2)
    replayed = [await sub.next(1) for _ in range(2)]
    assert [e.id for e in replayed] == [3, 5]  # type: ignore[union-attr]
    assert await sub.next(0.01) is None


async def test_publish_counts_by_type_and_close_ends_subscriptions() -> None:
    metrics = MetricsRegistry()
    bus = LiveBus(metrics=metrics)
    sub = bus.subscribe(frozenset({"BPBD"}))
    bus.publish(_event(1, "incident.escalated"), ["BPBD"])
    assert 'siaga_live_events_total{type="incident.escalated"} 1' in metrics.render()
    assert "siaga_live_subscribers 1\n" in metrics.render()
    bus.close()
    end = await sub.next(1)
    assert end is not None and end.type == CLOSED
    assert bus.subscriber_count == 0


async def test_next_batch_takes_everything_queued_and_ends_with_the_final_event() -> None:
    bus = LiveBus(queue_size=3)
    sub = bus.subscribe(frozenset({"BPBD"}))
    assert await sub.next_batch(0.01) == []
    for n in range(3):
        bus.publish(_event(n), ["BPBD"])
    batch = await sub.next_batch(1)
    assert [e.data["incident"]["id"] for e in batch] == [0, 1, 2]  # type: ignore[index]
    assert batch[0].json == '{"type":"incident.opened","incident":{"id":0}}'
    for n in range(5):
        bus.publish(_event(n), ["BPBD"])
    assert [e.type for e in await sub.next_batch(1)] == [OVERFLOW]


async def test_a_resume_from_an_id_older_than_the_ring_is_told_to_reload() -> None:
    bus = LiveBus(replay=3)
    for n in range(1, 6):
        bus.publish(_event(n), ["BPBD"])  # ids 1..5, the ring keeps 3..5
    held = bus.subscribe(None, last_event_id=2)  # 3, 4, 5 all held: a replay
    assert [(await held.next(1)).id for _ in range(3)] == [3, 4, 5]  # type: ignore[union-attr]
    gone = bus.subscribe(None, last_event_id=1)  # 2 is gone: reload, then live events
    first = await gone.next(1)
    assert first is not None and first.type == RELOAD and first.id == 0
    assert first.type not in FINAL
    assert await gone.next(0.01) is None
    bus.publish(_event(6), ["BPBD"])
    assert (await gone.next(1)).id == 6  # type: ignore[union-attr]


async def test_resume_fills_the_ring_from_stored_events_and_ids_go_on_from_there() -> None:
    bus = LiveBus(replay=10)
    stored = [make_event(i, _event(i), frozenset({"BPBD"})) for i in (17, 18, 20)]
    bus.resume(stored)
    sub = bus.subscribe(frozenset({"BPBD"}), last_event_id=17)
    assert [(await sub.next(1)).id for _ in range(2)] == [18, 20]  # type: ignore[union-attr]
    assert bus.publish(_event(21), ["BPBD"]).id == 21
    older = bus.subscribe(None, last_event_id=15)  # 16 is not held: reload
    assert (await older.next(1)).type == RELOAD  # type: ignore[union-attr]


async def test_events_up_to_the_last_event_id_are_not_sent_again() -> None:
    # A client resumes on a process that has not yet delivered what it saw on another.
    bus = LiveBus()
    bus.deliver(make_event(4, _event(4), frozenset({"BPBD"})))
    sub = bus.subscribe(None, last_event_id=6)
    for i in (5, 6, 7):
        bus.deliver(make_event(i, _event(i), frozenset({"BPBD"})))
    assert (await sub.next(1)).id == 7  # type: ignore[union-attr]
    assert await sub.next(0.01) is None
