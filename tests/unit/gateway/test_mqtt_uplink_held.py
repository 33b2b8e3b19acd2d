"""What the MQTT uplink (gateway/uplink/mqtt_uplink.py) holds in flight and tells the operator
of it: batches the hub's alerts' lane never answers, on the rig of
tests/unit/gateway/mqtt_uplink_rig.py (a fake link and a fake clock: its docstring says why).
"""

from __future__ import annotations

import logging
import math
import random
import re

import pytest

from siaga.gateway.uplink.mqtt_uplink import HELD_LONG_S
from tests.unit.gateway.mqtt_uplink_rig import Rig


def alerts_never_acked(rig: Rig, *, hours: float, alert_every: float,
                       lane_back_at_h: float = math.inf) -> list[int]:
    """5 readings every 10 s and an alert every ``alert_every``; the hub acks each copy of a
    readings-only batch at once and never a batch with alerts (its alerts' lane broken for
    good, or till ``lane_back_at_h``: then it acks those too). The readings waiting in the
    buffer at each hour's end."""
    rig.policy.rng = random.Random(1)
    next_add, next_alert, depths = 10.0, alert_every, []
    while rig.clock.now - 1000.0 < 3600 * hours:
        rig.clock.now = min(rig.clock.now + rig.deadline(), 1000.0 + next_add)
        t = rig.clock.now - 1000.0
        if t >= next_add:
            rig.add(readings=5)
            next_add += 10
        if t >= next_alert:
            rig.add(alerts=1)
            next_alert += alert_every
        passed = rig.run_pass()
        # The memory bound holds: entries held within max_inflight_entries, but for the one
        # batch of alerts that may go beyond it (up to the sizer's count) while none is held.
        held = sum(len(f.batch) for f in rig.policy.flights.values())
        assert held <= rig.uplink.settings.max_inflight_entries + rig.uplink._sizer.count
        for b in passed:
            f = rig.policy.flights.get(b)  # None: given up in the pass that resent it
            if f is not None and (not f.batch.alerts or t >= 3600 * lane_back_at_h):
                rig.ack(b)
        if t >= 3600 * (len(depths) + 1):
            stats = rig.buffer.stats()
            depths.append(stats.depth - stats.alerts)
    return depths


def test_alerts_the_hub_never_acks_do_not_stop_the_readings(rig: Rig) -> None:
    """The hub's alerts' lane broken for good, its readings acked in time, an alert a minute:
    only alert acks give an alerts' batch up, so they filled the hard cap and the readings
    waited in the buffer behind them (before a994c39: depth 1,805 at 1 h, 3,665 at 2 h).
    a994c39 gave them all up to the rejected table once the cap was theirs 10 min (77
    waiting at each hour, 88 batches rejected in 2 h: alerts no hub ack ever brought back).
    Now they hold at most their share of the cap's places (``alerts_places``), the readings
    keep the rest and flow; the alerts past the share wait in the buffer, none is rejected,
    and once the lane is back all are delivered."""
    waiting = alerts_never_acked(rig, hours=2, alert_every=60.0)
    assert max(waiting) <= 120, waiting  # 0 at each hour in the rig
    stats = rig.buffer.stats()
    assert stats.rejected == 0 and rig.uplink.counters().batches_rejected == 0
    held_alerts = [f for f in rig.policy.flights.values() if f.batch.alerts]
    assert len(held_alerts) == rig.policy.alerts_places == rig.uplink.settings.max_inflight
    # All 120 alerts are the buffer's rows (those in flight too, till acked); the readings flow.
    assert stats.alerts == 120, stats
    assert len(rig.policy.flights) <= rig.policy.hard_cap
    alerts_never_acked(rig, hours=2.5, alert_every=60.0, lane_back_at_h=2)  # its lane is back
    stats = rig.buffer.stats()
    assert stats.alerts == 0 and stats.rejected == 0, stats
    assert stats.depth <= 5, stats  # and no readings lag behind them (100 did, for good)
    assert not any(f.batch.alerts for f in rig.policy.flights.values())
    assert rig.uplink.counters().batches_rejected == 0


def test_a_batch_held_long_shows_in_the_counters_and_is_logged_hourly(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    """One alert the hub never acks (no later alert gives it up): the counters show it in
    flight, written off, and its age; it is logged at error level once it has waited
    HELD_LONG_S, then once an hour (its resends log at info)."""
    caplog.set_level(logging.INFO)
    rig.add(alerts=1)
    [held] = rig.run_pass()
    assert rig.uplink.counters().inflight == 1
    alerts_never_acked(rig, hours=2.5, alert_every=1e9)
    counters = rig.uplink.counters()
    assert held in rig.policy.flights
    assert counters.inflight >= 1 and counters.written_off == 1
    assert counters.oldest_unacked_s == pytest.approx(rig.clock.now - 1000.0, abs=1)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and held in r.getMessage()]
    times = [int(re.search(r"hub (\d+) s after", r.getMessage())[1]) for r in errors]  # type: ignore[index]
    assert len(errors) == 3, times  # at ~10 min, ~70 min, ~130 min
    assert HELD_LONG_S <= times[0] <= HELD_LONG_S + 60, times
