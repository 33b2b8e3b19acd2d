"""Readings reach the detectors in node time; week-old ones reach none."""

from __future__ import annotations

from siaga.firmware_bridge.reading import Reading
from siaga.gateway.detection_order import MAX_LATE_S, detection_order

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
