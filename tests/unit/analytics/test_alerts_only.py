"""``EdgeAnalytics(alerts_only=True)``, the gateway's engine: detectors that raise no
alerts (the anomaly score while ``anomaly.emit_alerts`` is off) are not run, and every
alert is the same, to the bit, as the engine that runs them all (issue 17)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from siaga.analytics.alert import Alert
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
