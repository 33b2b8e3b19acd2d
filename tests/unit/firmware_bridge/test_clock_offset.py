"""The clock-offset estimator: a late backlog is not a wrong clock, and a wrong clock is found."""

from __future__ import annotations

import random

import pytest

from siaga.firmware_bridge.clock_offset import BUCKETS, CONFIRM_S, MIN_SAMPLES, ClockOffsets
from siaga.firmware_bridge.convert import SampleConverter

T0 = 1_780_000_000.0


def test_a_backlog_flushed_in_seconds_keeps_a_good_clocks_estimate() -> None:
    clocks = ClockOffsets()
    for i in range(20):  # an hour of live messages, 0.3 s on the way
        clocks.observe("n", T0 + 180 * i, T0 + 180 * i + 0.3)
    assert clocks.offset("n") == pytest.approx(0.3)
    back = T0 + 180 * 19 + 4 * 3600  # 4 hours offline, then 240 stored readings in 24 s
    for i in range(240):
        offset = clocks.observe("n", back - 4 * 3600 + 60 * i, back + 0.1 * i)
        assert offset == pytest.approx(0.3)


def test_a_node_never_heard_live_is_trusted_until_a_delay_persists() -> None:
    clocks = ClockOffsets()
    for i in range(100):
        assert clocks.observe("n", T0 - 3600 + 30 * i, T0 + 0.2 * i) == 0.0


def test_a_clock_ahead_of_ours_is_proven_by_one_message() -> None:
    clocks = ClockOffsets()
    clocks.observe("n", T0 + 0.1, T0 + 0.5)
    assert clocks.observe("n", T0 + 900, T0 + 1) == pytest.approx(-899)


def test_a_clock_that_fell_behind_is_found_within_the_confirm_span() -> None:
    clocks = ClockOffsets()
    for i in range(10):
        clocks.observe("n", T0 + 60 * i, T0 + 60 * i + 0.2)
    rx = T0 + 600
    found_at = None
    for i in range(30):  # the node's clock jumped back 2 hours
        t = rx + 60 * i
        if abs(clocks.observe("n", t - 7200, t + 0.2) - 7200.2) < 1e-6 and found_at is None:
            found_at = t - rx
    assert found_at is not None and found_at <= CONFIRM_S


def test_a_node_reporting_every_15_minutes_is_corrected_after_a_few_messages() -> None:
    clocks = ClockOffsets()
    offsets = [clocks.observe("n", T0 + 900 * i - 3600, T0 + 900 * i) for i in range(6)]
    assert offsets[0] == 0.0 and offsets[-1] == pytest.approx(3600)


def test_converter_marks_a_backlog_late_and_a_wrong_clock_skewed_and_corrected() -> None:
    conv = SampleConverter(max_skew_s=300)
    conv.convert("good", 1, {"vwc": 1}, T0, T0 + 0.2, "mqtt")
    (r,) = conv.convert("good", 2, {"vwc": 1}, T0 + 60, T0 + 4000, "mqtt")
    assert (r.ts, r.late, r.clock_skewed) == (T0 + 60, True, False)
    for i in range(12):  # a node whose clock runs an hour behind, heard for 11 minutes
        (r,) = conv.convert("slow", i, {"vwc": 1}, T0 + 60 * i - 3600, T0 + 60 * i, "mqtt")
    assert r.clock_skewed and not r.late
    assert r.ts == pytest.approx(T0 + 660) and r.node_ts == T0 + 660 - 3600
    assert conv.counts().late == 1 + 5  # the good node's backlog and the slow node's first
    assert conv.clocks.snapshot()["slow"] == pytest.approx(3600)


def _per_message_rule(msgs: list[tuple[float, float]]) -> list[float]:
    """The rule as documented, over every message (brute force): the reference."""
    offset, window, out = 0.0, [], []
    for node_ts, rx in msgs:
        window.append((rx, rx - node_ts))
        while len(window) > MIN_SAMPLES and window[0][0] < rx - CONFIRM_S:
            window.pop(0)
        low = min(d for _, d in window)
        if low < offset or rx - window[0][0] >= CONFIRM_S / 2:
            offset = low
        out.append(offset)
    return out


def test_a_node_sparser_than_a_bucket_gets_exactly_the_per_message_rule() -> None:
    rng = random.Random(3)
    rx, skew, msgs = T0, 0.0, []
    for _ in range(2000):
        rx += rng.uniform(CONFIRM_S / BUCKETS, 120)  # at most one message a bucket
        if rng.random() < 0.01:
            skew = rng.uniform(-600, 7200)  # the clock jumps
        msgs.append((rx - skew - rng.expovariate(1.0), rx))
    clocks = ClockOffsets()
    assert [clocks.observe("n", t, r) for t, r in msgs] == _per_message_rule(msgs)


def test_a_flood_keeps_a_bounded_window_and_the_minimum_delay() -> None:
    clocks = ClockOffsets()
    rng = random.Random(4)
    for i in range(36_000):  # an hour at 10 messages/s, 0.2-3 s on the way
        rx = T0 + i * 0.1
        offset = clocks.observe("n", rx - 0.2 - rng.uniform(0, 2.8), rx)
    assert len(clocks._nodes["n"].buckets) <= BUCKETS + 2
    assert offset == pytest.approx(0.2, abs=0.01)
    rx = T0 + 3600  # then the clock falls an hour behind: found within the confirm span
    for _ in range(int(CONFIRM_S) * 10):
        rx += 0.1
        if abs(clocks.observe("n", rx - 3600.2, rx) - 3600.2) < 1e-6:
            break
    assert rx - (T0 + 3600) <= CONFIRM_S + CONFIRM_S / BUCKETS
