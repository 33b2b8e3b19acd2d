import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from siaga.analytics.config import ChannelThreshold, LevelThresholds
from siaga.analytics.detectors.threshold import ThresholdDetector
from siaga.analytics.hysteresis import LevelMachine, level_of, levels_of, lowered, run_levels
from siaga.analytics.windows import (
    RATE_BUCKETS,
    WindowRate,
    WindowSum,
    window_rates,
    window_sums,
)

UP = LevelThresholds(10.0, 20.0, 30.0)


def test_level_of_above_and_below():
    assert [level_of(x, UP) for x in (9.99, 10, 25, 30, 1e9)] == [1, 2, 3, 4, 4]
    batt = LevelThresholds(3.5, 3.3, -np.inf, below=True)
    assert [level_of(x, batt) for x in (3.7, 3.5, 3.4, 3.3, 0.0)] == [1, 2, 2, 3, 3]
    assert level_of(float("nan"), UP) == 1
    assert list(levels_of(np.array([9.99, 10, 25, 30]), UP)) == [1, 2, 3, 4]


def test_lowered_moves_thresholds_towards_normal():
    assert lowered(UP, 0.1).as_tuple() == pytest.approx((9.0, 18.0, 27.0))
    assert lowered(UP, absolute=2).as_tuple() == (8.0, 18.0, 28.0)
    b = lowered(LevelThresholds(3.5, 3.3, -np.inf, below=True), absolute=0.05)
    assert b.as_tuple()[:2] == pytest.approx((3.55, 3.35)) and b.awas == -np.inf


def test_hysteresis_holds_level_until_value_falls_below_lowered_threshold():
    m = LevelMachine()
    down = lowered(UP, absolute=2)
    seq = [5, 12, 9, 8.5, 7.9, 21, 18.5, 17.9]
    got = []
    for i, x in enumerate(seq):
        m.step(i, level_of(x, UP), level_of(x, down))
        got.append(m.level)
    # 9 and 8.5 stay Waspada (>= 8), 7.9 drops; 18.5 stays Siaga (>= 18), 17.9 drops to 2.
    assert got == [1, 2, 2, 2, 1, 3, 3, 2]


def test_min_duration_debounces_both_ways():
    m = LevelMachine(min_duration_s=60)
    changes = []
    for ts, x in [(0, 15), (30, 15), (59, 15), (60, 15), (70, 5), (100, 15), (130, 5),
                  (189, 5), (190, 5)]:
        if m.step(ts, level_of(x, UP), level_of(x, UP)):
            changes.append((ts, m.level))
    # Up after 60 s above; a 30 s dip is not enough to go down; down at 130 + 60.
    assert changes == [(60, 2), (190, 1)]


def test_clear_after_holds_a_level_before_it_falls():
    m = LevelMachine(min_duration_s=0, clear_after_s=300)
    changes = []
    for ts, x in [(0, 15), (60, 5), (120, 15), (180, 5), (400, 5), (480, 5)]:
        if m.step(ts, level_of(x, UP), level_of(x, UP)):
            changes.append((ts, m.level))
    # The dip at 60 s is forgiven; the fall counts from 180 s and lands at 480 s.
    assert changes == [(0, 2), (480, 1)]


def test_run_levels_equals_machine_on_random_series():
    rng = np.random.default_rng(5)
    for dur, clear in ((0.0, 0.0), (30.0, 30.0), (200.0, 0.0), (0.0, 600.0)):
        ts = np.cumsum(rng.uniform(1, 20, 3000))
        x = np.cumsum(rng.normal(0, 1.5, 3000))
        down_t = lowered(UP, 0.15)
        up, dn = levels_of(x, UP), levels_of(x, down_t)
        m = LevelMachine(dur, clear)
        stream = []
        for t, u, d in zip(ts, up, dn, strict=True):
            m.step(float(t), int(u), int(d))
            stream.append(m.level)
        assert list(run_levels(ts, up, dn, dur, clear)) == stream
    assert len(run_levels(np.zeros(0), np.zeros(0, np.int8), np.zeros(0, np.int8))) == 0


def test_window_sum_hand_computed_and_empty_window():
    w = WindowSum(3600)
    assert w.value(0) == 0.0  # empty window
    assert w.add(0, 5) == 5
    assert w.add(1800, 0) == 5
    assert w.add(3599, 2) == 7
    assert w.add(3600, 0) == 2  # the entry at t=0 is out: window is (t-3600, t]
    assert w.add(7300, 0) == 0.0
    ts = np.array([0, 1800, 3599, 3600, 7300.0])
    assert list(window_sums(ts, np.array([5, 0, 2, 0, 0.0]), 3600)) == [5, 5, 7, 2, 0]
    assert len(window_sums(np.zeros(0), np.zeros(0), 10)) == 0


def test_window_rate_needs_half_the_window():
    r = WindowRate(3600, 3600)
    assert r.add(0, 100) == 0.0
    assert r.add(600, 101) == 0.0  # 10 min of data: too short for an hourly rate
    assert r.add(1800, 103) == pytest.approx(6.0)  # 3 mm in 0.5 h
    ts = np.array([0, 600, 1800.0])
    assert list(window_rates(ts, np.array([100, 101, 103.0]), 3600, 3600)) == [0, 0, 6]


def test_window_rate_stream_and_batch_agree_on_dense_and_sparse_readings():
    rng = np.random.default_rng(11)
    for gap_hi in (0.05, 3.0, 40.0):  # a flood, a few per bucket, sparser than a bucket
        ts = np.cumsum(rng.uniform(0, gap_hi, 5000))
        x = np.cumsum(rng.normal(0, 0.3, 5000))
        r = WindowRate(600, 600)
        stream = [r.add(float(t), float(v)) for t, v in zip(ts, x, strict=True)]
        assert list(window_rates(ts, x, 600, 600)) == stream
        assert len(r._entries) <= RATE_BUCKETS + 1


def test_window_rate_memory_is_bounded_by_buckets_not_by_message_rate():
    r = WindowRate(600, 600)
    for i in range(120_000):  # 20 minutes at 100 readings/s, rising 1 per minute
        rate = r.add(i * 0.01, i * 0.01 / 60)
    assert len(r._entries) <= RATE_BUCKETS + 1
    # The rate starts at most one bucket (5 s) later than the true oldest reading.
    assert rate == pytest.approx(10.0)


def test_window_rate_sparser_than_a_bucket_keeps_every_reading():
    ts = np.arange(0, 3000, 7.0)  # every 7 s against 5 s buckets
    r = WindowRate(600, 600)
    for t in ts:
        r.add(float(t), float(t))
    assert [e[0] for e in r._entries] == [float(t) for t in ts if t > ts[-1] - 600]


@given(steps=st.lists(st.tuples(st.sampled_from([0.0, 10.0, 59.0, 61.0, 400.0]),
                                st.integers(1, 4), st.integers(0, 3)), max_size=80),
       min_s=st.sampled_from([0.0, 60.0]), clear_s=st.sampled_from([None, 0.0, 300.0]))
def test_a_skipped_step_is_one_that_would_change_nothing(steps, min_s, clear_s):
    """Detectors skip ``step`` while no move is pending and down >= level >= up (issue 17):
    a machine stepped only then keeps the levels, changes and pending moves of one stepped
    on every reading."""
    every, skipping = LevelMachine(min_s, clear_s), LevelMachine(min_s, clear_s)
    ts = 0.0
    for dt, up, extra in steps:
        ts += dt
        down = min(4, up + extra)
        changed = every.step(ts, up, down)
        wanted = skipping.pending or up > skipping.level or down < skipping.level
        assert changed == (wanted and skipping.step(ts, up, down))
        assert (every.level, every.pending) == (skipping.level, skipping.pending)


class PlainThreshold(ThresholdDetector):
    """The threshold's update before its calm-reading shortcut (issue 17)."""

    def update(self, ts: float, channel: str, value: float) -> bool:
        self._value = value
        if self._machine.step(ts, level_of(value, self._levels), level_of(value, self._down)):
            self.level = self._machine.level
            self.score = (self.level - 1) / 3.0
            return True
        return False


@given(values=st.lists(st.one_of(st.floats(40.0, 60.0), st.just(45.0), st.just(43.0),
                                 st.floats(allow_nan=True)), max_size=120),
       below=st.booleans(), dt=st.sampled_from([1.0, 30.0, 61.0]))
def test_threshold_shortcut_gives_the_plain_levels(values, below, dt):
    t = (ChannelThreshold(45.0, 57.0, hysteresis=2.0, min_duration_s=60.0) if not below else
         ChannelThreshold(45.0, 43.0, -math.inf, below=True, hysteresis=2.0,
                          min_duration_s=60.0))
    fast, plain = ThresholdDetector("temp", t), PlainThreshold("temp", t)
    for i, v in enumerate(values):
        assert fast.update(i * dt, "temp", v) == plain.update(i * dt, "temp", v)
        assert (fast.level, fast.score) == (plain.level, plain.score)
