"""What the MQTT uplink (gateway/uplink/mqtt_uplink.py) holds in flight and tells the operator
of it: batches the hub's alerts' lane never answers, on the rig of
tests/unit/gateway/mqtt_uplink_rig.py (a fake link and a fake clock: its docstring says why).
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from siaga.gateway.uplink.mqtt_inflight import InFlightBatch
from siaga.gateway.uplink.mqtt_uplink import HELD_LONG_S
from tests.unit.gateway.mqtt_uplink_rig import TIMEOUT, Clock, Rig


def passes(rig: Rig, *, hours: float, alert_every: float,
           acks: Callable[[InFlightBatch, float], bool]) -> Iterator[tuple[float, bool]]:
    """The uplink's passes for ``hours``: 5 readings every 10 s and an alert every
    ``alert_every``; the hub acks each copy of a batch published in a pass at once if
    ``acks(batch, t)``, else never. Yields each pass's time and whether an alert came."""
    rig.policy.rng = random.Random(1)
    next_add, next_alert = 10.0, alert_every
    while rig.clock.now - 1000.0 < 3600 * hours:
        rig.clock.now = min(rig.clock.now + rig.deadline(), 1000.0 + next_add,
                            1000.0 + next_alert)
        t = rig.clock.now - 1000.0
        if t >= next_add:
            rig.add(readings=5)
            next_add += 10
        alert_came = t >= next_alert
        if alert_came:
            rig.add(alerts=1)
            next_alert += alert_every
        passed = rig.run_pass()
        # The memory bound holds: entries held within max_inflight_entries, but for the one
        # batch of alerts that may go beyond it (the oldest of them) while none is held.
        flights = list(rig.policy.flights.values())
        lane = [f for f in flights if f.alerts_lane]
        held = sum(len(f.batch) for f in flights) - (len(lane[0].batch) if lane else 0)
        assert held <= rig.uplink.settings.max_inflight_entries, t
        assert len(rig.policy.flights) <= rig.policy.hard_cap
        for b in passed:
            f = rig.policy.flights.get(b)  # None: given up in the pass that resent it
            if f is not None and acks(f, t):
                rig.ack(b)
        yield t, alert_came


def alerts_never_acked(rig: Rig, *, hours: float, alert_every: float,
                       lane_back_at_h: float = math.inf) -> list[int]:
    """The hub acks each readings-only batch and never a batch with alerts (its alerts'
    lane broken for good, or till ``lane_back_at_h``: then it acks those too). The readings
    waiting in the buffer at each hour's end."""
    depths: list[int] = []
    for t, _ in passes(rig, hours=hours, alert_every=alert_every,
                       acks=lambda f, t: not f.batch.alerts or t >= 3600 * lane_back_at_h):
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
    assert max(waiting) <= 5, waiting  # 0 at each hour in the rig (a994c39: 77)
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


def test_a_batch_held_long_is_logged_while_the_link_is_down(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    """The link down (the uplink's own thread run, as it waits for the reconnect): a batch
    held past HELD_LONG_S is logged all the same (before: only while connected, so not in
    the outage that held it)."""
    rig.add(alerts=1)
    [held] = rig.run_pass()
    rig.uplink._connected = False
    rig.at(HELD_LONG_S + 1)
    rig.uplink._rearmed = True  # the thread's first wait returns at once
    thread = threading.Thread(target=rig.uplink._run)
    thread.start()
    try:
        for _ in range(100):
            if any(held in r.getMessage() for r in caplog.records
                   if r.levelno == logging.ERROR):
                break
            time.sleep(0.05)
    finally:
        with rig.uplink._cond:
            rig.uplink._stopping = True
            rig.uplink._cond.notify_all()
        thread.join(5)
    assert any(held in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def readings_never_acked(rig: Rig, *, hours: float,
                         alert_every: float) -> list[tuple[float, float]]:
    """The mirror of ``alerts_never_acked``: the hub's readings' store down for good, its
    alerts' lane acking each batch with alerts, never a readings-only batch. Each alert's
    time and how long it waited (in the buffer or in flight) to be delivered."""
    waits: list[tuple[float, float]] = []
    for t, alert_came in passes(rig, hours=hours, alert_every=alert_every,
                                acks=lambda f, t: bool(f.batch.alerts)):
        if alert_came:
            waits.append((t, math.inf))
        if rig.buffer.stats().alerts == 0:  # none waiting: each alert's wait ends by now
            waits = [(at, min(wait, t - at)) for at, wait in waits]
    return waits


def test_readings_the_hub_never_acks_do_not_stop_the_alerts(rig: Rig) -> None:
    """The mirror case: the hub's readings' store down for good, its alerts' lane acking in
    time, an alert a minute. The alerts' acks give no readings-only batch up (the other
    lane's), so those filled the hard cap by ~8 min and every alert after waited behind
    them for good (before: the alert of 8 min still waiting at 2 h, 6,720 s). Now the
    readings hold all places but one (``readings_places``): none rejected, the memory bound
    held, each alert delivered at once once the readings' places are full; before that,
    while the readings' misses halve the window as a failing link's do, within ~1.5
    timeouts (the window's rule: an alert takes one place beyond it, not more)."""
    waits = readings_never_acked(rig, hours=2, alert_every=60.0)
    assert len(waits) == 120 and max(w for _, w in waits) <= 2 * TIMEOUT, waits
    assert all(w == 0 for at, w in waits if at >= 600), waits
    held = [f for f in rig.policy.flights.values() if not f.batch.alerts]
    assert len(held) == rig.policy.readings_places == rig.policy.hard_cap - 1
    stats = rig.buffer.stats()
    assert stats.alerts == 0 and stats.rejected == 0, stats
    assert rig.uplink.counters().batches_rejected == 0


def test_what_is_held_keeps_to_max_inflight_entries(tmp_path: Path, clock: Clock) -> None:
    """Either lane broken for good, an alert a minute, under max_inflight_entries 20
    (``passes`` asserts the bound each pass; at the rig's default of 10,000 it could not
    fail): the other lane still flows."""
    rig = Rig(tmp_path / "m.sqlite3", clock, max_entries=20)
    waiting = alerts_never_acked(rig, hours=1, alert_every=60.0)
    assert max(waiting) <= 5 and rig.buffer.stats().rejected == 0, waiting
    rig.buffer.close()
    clock.now = 1000.0
    rig = Rig(tmp_path / "n.sqlite3", clock, max_entries=20)
    waits = readings_never_acked(rig, hours=1, alert_every=60.0)
    assert max(w for _, w in waits) <= 2 * TIMEOUT and rig.buffer.stats().rejected == 0
    rig.buffer.close()
