"""``EdgeAnalytics(alerts_only=True)``, the gateway's engine: detectors that raise no
alerts (the anomaly score while ``anomaly.emit_alerts`` is off) are not run, and every
alert is the same, to the bit, as the engine that runs them all (issue 17)."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings, target
from hypothesis import strategies as st

from siaga.analytics.alert import Alert
from siaga.analytics.config import HealthConfig
from siaga.analytics.engine import EdgeAnalytics
from siaga.firmware_bridge.reading import Reading
from tests.unit.analytics.readings import T0, reading

# Two nodes of one site (fire neighbours, the site's rain gauge feeding a slope node)
# and a crowd zone: every route kind the engine builds.
TABLE: dict[str, Any] = {
    "sites": {"s": {"rain_node": "g"}},
    "nodes": {"a": {"site": "s"}, "g": {"site": "s"}},
    "crowd": {"zones": {"z": {"nodes": ["a"], "capacity": 50, "area_m2": 100}}},
}
CHANNELS = ("vwc", "temp", "smoke", "rain", "ext", "tilt", "batt", "pin", "pout", "hum")
BASE = {"vwc": 30.0, "temp": 25.0, "smoke": 10.0, "rain": 0.0, "ext": 100.0, "tilt": 1.5,
        "batt": 4.0, "pin": 2.0, "pout": 2.0, "hum": 80.0}

steps = st.lists(st.tuples(
    st.sampled_from(("a", "g")), st.sampled_from(CHANNELS),
    # Mostly small moves, some spikes (anomaly level changes), some faults.
    st.one_of(st.floats(-1.0, 1.0), st.floats(-500.0, 20_000.0),
              st.sampled_from((0.0, 35.0, 60.0, 900.0))),
    st.floats(0.0, 900.0)), min_size=1, max_size=400)


def feed(eng: EdgeAnalytics, rows: list[Reading]) -> list[Alert]:
    out: list[Alert] = []
    for i, r in enumerate(rows):
        out += eng.process(r)
        if i % 50 == 49:
            out += eng.tick(r.ts + 60.0)
    return out


def stream(draw: list[tuple[str, str, float, float]]) -> list[Reading]:
    rows, t = [], T0
    for node, ch, move, gap in draw:
        t += gap
        value = move if ch in ("rain", "pin", "pout") else BASE[ch] + move
        rows.append(reading(node, ch, abs(value) if ch in ("rain", "pin", "pout") else value,
                            t))
    return rows


@settings(max_examples=150, deadline=None)
@given(steps, st.booleans())
def test_the_same_alerts_as_every_detector_run(draw: list[tuple[str, str, float, float]],
                                               emit: bool) -> None:
    table = {**TABLE, "anomaly": {"emit_alerts": emit, "warmup": 5, "window": 9}}
    rows = stream(draw)
    assert feed(EdgeAnalytics(table, alerts_only=True), rows) == \
        feed(EdgeAnalytics(table), rows)


def test_a_spike_the_anomaly_score_flags_raises_no_alert_either_way() -> None:
    """The hypothesis streams may not reach an anomaly flag; this one does: the full
    engine's anomaly detector goes to Waspada and back, the lean one never builds it, and
    neither raises an alert."""
    rows = [reading("a", "temp", 25.0 + 0.1 * (i % 3) + (8.0 if i == 200 else 0.0),
                    T0 + 60 * i) for i in range(300)]
    full, lean = EdgeAnalytics(), EdgeAnalytics(alerts_only=True)
    anomaly_levels = set()
    for r in rows:
        assert full.process(r) == lean.process(r)
        anomaly_levels |= {int(s.level) for s in full.levels() if s.detector == "anomaly:temp"}
    assert anomaly_levels == {1, 2}
    assert not any(s.detector.startswith("anomaly") for s in lean.levels())


def test_anomaly_alerts_on_run_as_before() -> None:
    table = {"anomaly": {"emit_alerts": True}}
    rows = [reading("a", "temp", 25.0 + 0.1 * (i % 3) + (8.0 if i == 200 else 0.0),
                    T0 + 60 * i) for i in range(300)]
    alerts = feed(EdgeAnalytics(table, alerts_only=True), rows)
    assert any(a.detector == "anomaly:temp" for a in alerts)
    assert alerts == feed(EdgeAnalytics(table), rows)


# The streams above rarely reach an anomaly flag (~20 readings a lane over 10 channels, and
# big jumps mark a channel faulty): over 150 examples none did, so a detector reading the
# anomaly score's state went unnoticed. These have few lanes (one node of a site, temp and
# vwc), 150+ readings each, small noise, and spikes and level shifts below the health
# check's max_step, so the score flags and the temperature threshold moves meanwhile.
MAX_STEP = HealthConfig().max_step
LANE_TABLE: dict[str, Any] = {"sites": {"s": {}}, "nodes": {"a": {"site": "s"}}}

events = st.lists(st.tuples(
    st.integers(30, 199), st.sampled_from(("temp", "vwc")), st.booleans(),  # shift or spike
    st.floats(-0.95, 0.95)), max_size=12)  # of max_step


# A stream's recipe, small enough for hypothesis to print: readings a lane, start temp and
# vwc, noise (sd), the noise's seed, and the spikes and shifts.
Lanes = tuple[int, float, float, float, int, list[tuple[int, str, bool, float]]]
lanes = st.tuples(
    st.integers(150, 200),
    st.floats(30.0, 44.0),  # near the 45 degC threshold: a shift crosses it
    st.floats(20.0, 40.0), st.sampled_from((0.0, 0.02, 0.1, 0.3)),
    st.integers(0, 2**32 - 1), events)


def lane_rows(recipe: Lanes) -> list[Reading]:
    """One node's temp and vwc, a reading of each a minute, calm but for the events."""
    n, temp, vwc, noise, seed, drawn = recipe
    rng = random.Random(seed)
    spikes: dict[tuple[int, str], float] = {}
    shifts: dict[tuple[int, str], float] = {}
    for i, ch, shift, size in drawn:
        (shifts if shift else spikes)[i, ch] = size * MAX_STEP[ch]
    rows = []
    for i in range(n):
        temp += shifts.get((i, "temp"), 0.0)
        vwc += shifts.get((i, "vwc"), 0.0)
        for ch, base in (("temp", temp), ("vwc", vwc)):
            rows.append(reading("a", ch, base + rng.gauss(0.0, noise) + spikes.get((i, ch), 0.0),
                                T0 + 60.0 * i))
    return rows


def anomaly_changes(eng: EdgeAnalytics, rows: list[Reading]) -> tuple[list[Alert], int]:
    """``eng``'s alerts, and how often its anomaly scores changed level meanwhile."""
    out: list[Alert] = []
    changes, last = 0, {}
    for r in rows:
        out += eng.process(r)
        for s in eng.levels():
            if s.detector.startswith("anomaly:"):
                changes += s.level != last.get(s.detector, 1)
                last[s.detector] = s.level
    return out, changes


def test_streams_the_anomaly_score_flags_give_the_same_alerts() -> None:
    """Anomaly alerts off: the full engine runs the score (it flags), the lean one does not;
    the alerts are the same. Fails if anything reads the score's state (shown: a flagged
    score keeping its channel's next readings from the other detectors)."""
    flagged = []

    @settings(max_examples=150, deadline=None)
    @given(lanes)
    def same_alerts(recipe: Lanes) -> None:
        rows = lane_rows(recipe)
        full, changes = anomaly_changes(EdgeAnalytics(LANE_TABLE), rows)
        target(changes, label="anomaly level changes")
        flagged.append(changes > 0)
        assert anomaly_changes(EdgeAnalytics(LANE_TABLE, alerts_only=True), rows)[0] == full

    same_alerts()  # ~100 of 150 flag here
    assert sum(flagged) >= len(flagged) // 4, f"{sum(flagged)} of {len(flagged)} flagged"


def test_a_fire_confirmed_by_a_ramp_after_a_spike_alerts_alike() -> None:
    """Node a of a site with a fire neighbour b: a's smoke at Siaga, then a temperature
    spike the score flags (4 degC, too little to confirm a fire) and a ramp that confirms
    it (Awas, minute 166) while the score is still flagged; the temperature threshold
    follows (minutes 179 and 191). A flagged score keeping a's temp from the fire detector
    moved that Awas to minute 199."""
    table = {"sites": {"s": {}}, "nodes": {"a": {"site": "s"}, "b": {"site": "s"}}}
    rows = []
    for i in range(200):
        t = T0 + 60.0 * i
        ramp = 1.0 * max(0, i - 161)  # 1 degC a minute from the minute after the spike
        rows += [reading("a", "smoke", 200.0 + 0.5 * (i % 3), t),
                 reading("a", "temp", 28.0 + 0.1 * (i % 3) + (4.0 if i == 160 else 0.0) + ramp,
                         t),
                 reading("b", "smoke", 20.0 + 0.5 * (i % 2), t)]
    full, changes = anomaly_changes(EdgeAnalytics(table), rows)
    lean, _ = anomaly_changes(EdgeAnalytics(table, alerts_only=True), rows)
    assert changes > 0
    assert [a.ts for a in lean if (a.detector, a.level) == ("fire", 4)] == [T0 + 60.0 * 166]
    assert lean == full
