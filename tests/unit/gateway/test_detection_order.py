"""Readings reach the detectors in node time; week-old ones reach none."""

from __future__ import annotations

from siaga.firmware_bridge.reading import Reading
from siaga.gateway.detection_order import MAX_LATE_S, ReorderWindow, detection_order

T0 = 1_780_000_000.0


def r(node: str, ts: float, rx: float, late: bool) -> Reading:
    return Reading(node, "vwc", 1.0, "%", ts, rx, 0, "mqtt", late=late)


def test_live_batches_are_passed_through_untouched() -> None:
    batch = [r("a", T0 + 1, T0 + 1, False), r("b", T0, T0 + 1, False)]
    ordered, beyond = detection_order(batch)
    assert ordered is batch and beyond == []


def test_a_backlog_mixed_with_live_readings_is_put_in_node_time() -> None:
    live = r("a", T0 + 3600, T0 + 3600, False)
    old = [r("a", T0 + 60 * i, T0 + 3600, True) for i in (3, 1, 2)]
    other = r("b", T0 + 3599, T0 + 3600, False)
    ordered, beyond = detection_order([live, *old, other])
    assert [x.ts - T0 for x in ordered] == [60, 120, 180, 3599, 3600]
    assert beyond == []


def test_readings_older_than_the_horizon_reach_no_detector_but_are_returned() -> None:
    rx = T0 + MAX_LATE_S + 10
    ancient = r("a", T0, rx, True)
    ordered, beyond = detection_order([ancient, r("a", rx - 60, rx, True)])
    assert [x.ts for x in ordered] == [rx - 60] and beyond == [ancient]


def rx(node: str, ts: float, received: float) -> Reading:
    return Reading(node, "smoke", 1.0, "ppm", ts, received, 0, "mqtt",
                   late=received - ts > 300)


def test_a_reconnecting_node_s_live_reading_waits_for_its_backlog() -> None:
    window = ReorderWindow(silence_s=120, settle_s=5, max_s=60)
    for t in (T0, T0 + 60):  # heard every minute: its cadence
        assert window.admit([rx("a", t, t)], now=0.0) == [rx("a", t, t)]
    back = T0 + 3600  # an hour offline: the newest reading first, then the stored ones
    live = rx("a", back, back)
    assert window.admit([live], now=1.0) == []
    assert window.admit([rx("a", T0 + 600 * i, back + 1) for i in (1, 2)], now=2.0) == []
    assert window.admit([rx("a", T0 + 1800, back + 2)], now=5.0) == []
    assert window.due(now=9.9) == []  # 5 s since the last older reading
    released = window.due(now=10.0)
    assert [r.ts - T0 for r in released] == [600, 1200, 1800, 3600]
    after = rx("a", back + 60, back + 60)
    assert window.admit([after], now=11.0) == [after]  # live again: straight through


def test_live_nodes_pass_and_a_hold_is_bounded() -> None:
    window = ReorderWindow(silence_s=120, settle_s=5, max_s=60)
    for i in range(5):  # a node reporting every 10 minutes is never held
        r = rx("d", T0 + 600 * i, T0 + 600 * i)
        assert window.admit([r], now=float(i)) == [r]
    first = rx("b", T0 - 60, T0 - 60)
    assert window.admit([first], now=0.0) == [first]  # heard once: no cadence yet
    for i in range(5):  # a node reporting every minute is never held
        r = rx("b", T0 + 60 * i, T0 + 60 * i)
        assert window.admit([r], now=float(i)) == [r]
    back = T0 + 7200
    assert window.admit([rx("b", back, back)], now=10.0) == []
    for k in range(1, 20):  # a backlog trickling in, one reading every 3 s
        assert window.admit([rx("b", T0 + 300 + k, back + k)], now=10.0 + 3 * k) == []
    last = rx("b", T0 + 320, back + 20)
    out = window.admit([last], now=70.0)  # 60 s after the hold began: released
    assert len(out) == 21 and out[-1] == last and out[-2].ts == back
    window.admit([rx("c", T0, T0), rx("c", T0 + 10, T0 + 10)], now=0.0)
    held = rx("c", T0 + 600, T0 + 600)
    assert window.admit([held], now=1.0) == []
    assert window.due(now=1.0, everything=True) == [held]  # shutdown releases all
