"""The sliding window behind the citizen-report rate limits (pure, time passed in)."""

from __future__ import annotations

from siaga.api.incidents.report_limits import SlidingWindow


def test_limit_per_key_within_the_window_then_free_again() -> None:
    w = SlidingWindow(limit=3, window_s=60)
    for t in (0.0, 10.0, 20.0):
        assert w.wait_s("1.2.3.4", t) == 0
        w.record("1.2.3.4", t)
    assert w.wait_s("1.2.3.4", 30.0) == 30.0  # the oldest leaves the window at 60
    assert w.wait_s("5.6.7.8", 30.0) == 0  # other keys are not affected
    assert w.wait_s("1.2.3.4", 60.0) == 0  # the event at 0 has left the window
    w.record("1.2.3.4", 60.0)
    assert w.wait_s("1.2.3.4", 61.0) == 9.0  # 10, 20, 60 in the window


def test_refusals_do_not_count_and_memory_is_bounded() -> None:
    w = SlidingWindow(limit=1, window_s=100, max_keys=2)
    w.record("a", 0.0)
    for t in range(1, 50):
        assert w.wait_s("a", float(t)) > 0  # asking is not recording
    assert w.wait_s("a", 100.0) == 0
    w.record("b", 1.0)
    w.record("c", 2.0)  # "a" is forgotten: the least recently used
    assert w.wait_s("a", 3.0) == 0 and w.wait_s("b", 3.0) > 0 and w.wait_s("c", 3.0) > 0
