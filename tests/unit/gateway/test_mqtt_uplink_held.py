"""What the MQTT uplink (gateway/uplink/mqtt_uplink.py) holds in flight and tells the operator
of it: batches the hub's alerts' lane never answers, on the rig of
tests/unit/gateway/mqtt_uplink_rig.py (a fake link and a fake clock: its docstring says why).
"""

from __future__ import annotations

import logging
import random
import re

import pytest

from siaga.gateway.uplink.mqtt_uplink import HELD_LONG_S
from tests.unit.gateway.mqtt_uplink_rig import Rig


def alerts_never_acked(rig: Rig, *, hours: float, alert_every: float) -> list[int]:
    """5 readings every 10 s and an alert every ``alert_every``; the hub acks each copy of a
    readings-only batch at once and never a batch with alerts (its alerts' lane broken for
    good). The buffer's depth at each hour's end."""
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
        for b in rig.run_pass():
            f = rig.policy.flights.get(b)  # None: given up in the pass that resent it
            if f is not None and not f.batch.alerts:
                rig.ack(b)
        if t >= 3600 * (len(depths) + 1):
            depths.append(rig.buffer.stats().depth)
    return depths


def test_alerts_the_hub_never_acks_do_not_stop_the_readings(rig: Rig) -> None:
    """The hub's alerts' lane broken for good, its readings acked in time, an alert a minute:
    only alert acks give an alerts' batch up, so they filled the hard cap and the readings
    waited in the buffer behind them (before: depth 1,805 at 1 h, 3,665 at 2 h). Now, the
    cap all alerts' batches missed twice and the oldest sent CROWDED_OUT_AFTER_S ago, they
    go to the rejected table (a late ack or requeue-rejected brings them back) and the
    readings go again: 77 waiting at each hour (those of the two minutes the cap is full)."""
    depths = alerts_never_acked(rig, hours=2, alert_every=60.0)
    assert max(depths) <= 120, depths
    assert rig.uplink.counters().batches_rejected > 0
    assert len(rig.policy.flights) <= 2 * rig.uplink.settings.max_inflight


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
