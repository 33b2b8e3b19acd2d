"""The scenario catalogue: determinism, labels, and that each hazard shows in the data."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from siaga.firmware_bridge.channels import CHANNELS
from siaga.simulators.errors import SimSettingsError, UnknownScenarioError
from siaga.simulators.scenario import ScenarioRun
from siaga.simulators.scenario_catalog import SCENARIO_NAMES, build, generate
from siaga.simulators.town import SQUARE_CAPACITY

HOUR = 3600.0
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def runs() -> dict[str, ScenarioRun]:
    short = {"quiet": 6 * HOUR}
    # low_battery is 36 h long; its one faulty node is enough for these tests.
    few = {"low_battery": 1}
    return {name: generate(name, seed=4, duration_s=short.get(name), nodes=few.get(name))
            for name in SCENARIO_NAMES}


def test_same_seed_same_run_other_seed_other_run() -> None:
    a = generate("storm", seed=11, duration_s=8 * HOUR)
    b = generate("storm", seed=11, duration_s=8 * HOUR)
    c = generate("storm", seed=12, duration_s=8 * HOUR)
    assert a.messages == b.messages
    assert a.labels == b.labels
    assert a.messages != c.messages


def test_every_hazard_scenario_has_labels_with_sane_times(runs: dict[str, ScenarioRun]) -> None:
    for name, run in runs.items():
        if name == "quiet":
            assert run.labels == []
            continue
        assert run.labels, name
        for label in run.labels:
            assert label.node in run.nodes, (name, label)
            assert run.start_ts <= label.start_ts <= label.end_ts, (name, label)
            assert label.critical_ts is not None, (name, label)
            assert label.start_ts <= label.critical_ts <= run.end_ts, (name, label)


def test_all_values_are_numbers_and_gauges_in_range_outside_out_of_range_faults(
    runs: dict[str, ScenarioRun],
) -> None:
    for name, run in runs.items():
        if name in ("out_of_range", "spike"):
            continue
        for s in run.samples:
            spec = CHANNELS[s.channel]
            assert math.isfinite(s.value)
            assert spec.lo <= s.value <= spec.hi, (name, s)


def test_storm_rain_soil_and_extensometer(runs: dict[str, ScenarioRun]) -> None:
    run = runs["storm"]
    onset = next(lb.start_ts for lb in run.labels if lb.hazard == "landslide")
    times, rain = run.series("slope-07", "rain")
    total_mm = (rain[-1] - rain[0]) * 0.2
    assert 100 <= total_mm <= 120  # 110 mm storm, gauge catch within 3 %
    _, vwc = run.series("slope-07", "vwc")
    before = [v for t, v in zip(times, vwc, strict=True) if t < onset]
    assert max(vwc) > max(before) + 8
    assert max(vwc) >= 43.0
    _, ext = run.series("slope-07", "ext")
    assert ext[-1] - ext[0] > 20  # the slope moved centimetres
    rate_before = (ext[len(before) - 1] - ext[0])
    assert rate_before < 0.5
    landslide = [lb for lb in run.labels if lb.hazard == "landslide"]
    assert {lb.node for lb in landslide} == {"slope-05", "slope-06", "slope-07"}
    assert all(lb.critical_ts and lb.critical_ts > lb.start_ts + 1800 for lb in landslide)


def test_fire_labels_and_smoke(runs: dict[str, ScenarioRun]) -> None:
    run = runs["fire"]
    near = next(lb for lb in run.labels if lb.node == "pasar-smoke-01")
    times, smoke = run.series("pasar-smoke-01", "smoke")
    assert max(v for t, v in zip(times, smoke, strict=True) if t < near.start_ts) < 100
    assert max(smoke) > 1000
    _, far = run.series("pasar-smoke-02", "smoke")
    assert 200 < max(far) < max(smoke)
    _, temp = run.series("pasar-smoke-01", "temp")
    assert max(temp) > 60


def test_crowd_occupancy_exceeds_capacity_after_the_event_starts(
    runs: dict[str, ScenarioRun],
) -> None:
    run = runs["crowd"]
    label = run.labels[0]
    occ = {}
    for gate in ("alun-gate-01", "alun-gate-02"):
        times, pin = run.series(gate, "pin")
        _, pout = run.series(gate, "pout")
        for t, i, o in zip(times, pin, pout, strict=True):
            occ.setdefault(round(t / 60), 0)
            occ[round(t / 60)] += i - o
    assert max(occ.values()) > SQUARE_CAPACITY
    assert label.critical_ts is not None and label.critical_ts > label.start_ts


def test_counters_are_monotonic_except_at_a_reboot(runs: dict[str, ScenarioRun]) -> None:
    for name, run in runs.items():
        reboots = {(lb.node, lb.start_ts) for lb in run.labels if lb.cause == "reboot"}
        for node, info in run.nodes.items():
            for channel in ("rain", "pin", "pout"):
                if channel not in info.channels:
                    continue
                times, values = run.series(node, channel)
                drops = [t for t, a, b in zip(times[1:], values, values[1:], strict=False)
                         if b < a]
                expected = [r for n, r in reboots if n == node]
                assert len(drops) <= len(expected), (name, node, channel)
                for t in drops:
                    assert any(0 < t - r < 120 for r in expected), (name, node, channel, t)


def test_readings_turn_counters_into_increments(runs: dict[str, ScenarioRun]) -> None:
    run = runs["storm"]
    readings = run.readings()
    rain_mm = sum(r.value for r in readings if r.node == "slope-07" and r.channel == "rain")
    _, rain = run.series("slope-07", "rain")
    assert rain_mm == pytest.approx((rain[-1] - rain[0]) * 0.2)
    assert {r.unit for r in readings if r.channel == "rain"} == {"mm"}
    # The village gauge tips at 0.5 mm (its registry calibration), the slope's at 0.2.
    gauge_mm = sum(r.value for r in readings if r.node == "rain-bumiaji-01" and r.channel == "rain")
    assert gauge_mm == pytest.approx(rain_mm, rel=0.06)
    resets = [r for r in runs["reboot"].readings() if r.counter_reset]
    assert {r.node for r in resets} >= {"alun-gate-01"}
    assert all(r.value >= 0 for r in runs["reboot"].readings() if r.channel in ("pin", "rain"))


def test_sensor_fault_scenarios_show_their_fault(runs: dict[str, ScenarioRun]) -> None:
    stuck = runs["stuck"]
    label = next(lb for lb in stuck.labels if lb.node == "slope-06")
    times, vwc = stuck.series("slope-06", "vwc")
    during = {v for t, v in zip(times, vwc, strict=True) if label.start_ts <= t < label.end_ts}
    assert len(during) == 1
    oor = runs["out_of_range"]
    _, temp = oor.series("pasar-smoke-01", "temp")
    assert -127.0 in temp
    drop = runs["dropout"]
    label = next(lb for lb in drop.labels if lb.node == "alun-gate-02")
    times, _ = drop.series("alun-gate-02", "pin")
    assert not [t for t in times if label.start_ts <= t < label.end_ts]
    low = runs["low_battery"]
    label = low.labels[0]
    times, batt = low.series("slope-06", "batt")
    assert min(batt) < 3.5
    assert label.critical_ts is not None
    assert all(v >= 3.49 for t, v in zip(times, batt, strict=True) if t < label.critical_ts)


def test_nodes_picks_the_scenario_nodes_first_and_adds_extra_ones() -> None:
    small = build("fire", seed=1, nodes=2)
    assert set(small.nodes) == {"pasar-smoke-01", "pasar-smoke-02"}
    assert {lb.node for lb in small.labels} == {"pasar-smoke-01", "pasar-smoke-02"}
    big = build("quiet", seed=1, nodes=14)
    assert len(big.nodes) == 14
    assert {"slope-20", "pasar-smoke-03", "slope-21", "pasar-smoke-04"} <= set(big.nodes)
    one = build("storm", seed=1, nodes=1)
    assert list(one.nodes) == ["slope-05"]
    picked = build("storm", seed=1, only=("slope-07", "alun-gate-01"))
    assert set(picked.nodes) == {"slope-07", "alun-gate-01"}
    assert {lb.node for lb in picked.labels} == {"slope-07"}


def test_nodes_match_the_demo_registry() -> None:
    """deploy/demo/registry.toml names the same nodes, sites and channels (hub side)."""
    registry = tomllib.loads((REPO / "deploy/demo/registry.toml").read_text())
    info = build("quiet").node_info()
    assert set(info) == set(registry["nodes"])
    for node, entry in registry["nodes"].items():
        assert info[node].site == entry["site"], node
        assert info[node].channels == tuple(entry["channels"]), node
        for key, value in entry.get("calibration", {}).items():
            assert info[node].calibration[key] == value, (node, key)


def test_only_names_unknown_nodes() -> None:
    with pytest.raises(SimSettingsError, match="slope-99"):
        build("storm", only=("slope-99",))


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(UnknownScenarioError, match="storm"):
        build("tsunami")


def test_labels_of_a_live_scenario_fill_in_as_it_runs() -> None:
    scenario = build("fire", seed=2)
    assert all(lb.critical_ts is not None for lb in scenario.labels)
    storm = build("storm", seed=2, duration_s=12 * HOUR)
    assert all(lb.critical_ts is None for lb in storm.labels)
    for _ in storm.messages():
        pass
    assert all(lb.critical_ts is not None for lb in storm.labels)
