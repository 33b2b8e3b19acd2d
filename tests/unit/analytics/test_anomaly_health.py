import math

from siaga.analytics.config import HealthConfig
from siaga.analytics.detectors.health import ChannelHealthDetector
from siaga.analytics.engine import EdgeAnalytics
from tests.unit.analytics.readings import T0, reading


def test_health_range_stuck_jump():
    h = ChannelHealthDetector("temp", HealthConfig(stuck_readings={"temp": 4}))
    assert h.update(0, "temp", 120.0) and h.faulty and h.reason == "range"
    assert "di luar rentang" in h.explain(1).text_id
    assert h.update(1, "temp", 25.0) and not h.faulty
    for t in (2, 3, 4):
        h.update(t, "temp", 25.0)
    assert h.faulty and h.reason == "stuck"  # four identical readings
    h.update(5, "temp", 25.5)
    assert not h.faulty
    h.update(6, "temp", 40.0)  # 14.5 degC in one reading: more than max_step 10
    assert h.faulty and h.reason == "jump"
    h.update(7, "temp", 40.1)
    assert h.faulty  # held for jump_hold_s
    h.update(607, "temp", 40.2)
    assert not h.faulty


def test_counter_increment_range_and_unknown_channel():
    h = ChannelHealthDetector("rain", HealthConfig())
    h.update(0, "rain", -0.2)
    assert h.faulty
    u = ChannelHealthDetector("mystery", HealthConfig())
    u.update(0, "mystery", 1e12)
    assert not u.faulty


def test_faulty_channel_does_not_drive_hazard_alerts():
    eng = EdgeAnalytics()
    alerts = eng.process(reading("smoke-01", "smoke", 20_000.0, T0))  # range is 0..10000 ppm
    assert [(a.hazard, a.detector, int(a.level)) for a in alerts] == \
        [("sensor_fault", "health:smoke", 3)]
    assert eng.counters.excluded_faulty == 1
    assert all(s.level == 1 for s in eng.levels() if s.hazard == "fire")
    # A jumping temperature does not confirm a fire either.
    eng.process(reading("smoke-01", "temp", 30.0, T0 + 10))
    eng.process(reading("smoke-01", "smoke", 200.0, T0 + 20))
    alerts = eng.process(reading("smoke-01", "temp", 70.0, T0 + 30))
    assert [a.detector for a in alerts] == ["health:temp"]
    assert {s.detector: int(s.level) for s in eng.levels()}["fire"] == 3


def test_silence_gaps_and_recovery():
    eng = EdgeAnalytics({"nodes": {"n1": {"interval_s": 60}}})
    eng.process(reading("n1", "vwc", 30.0, T0))
    assert eng.tick(T0 + 180) == []  # exactly 3 intervals: not yet
    [a] = eng.tick(T0 + 181)
    assert (a.detector, int(a.level), a.hazard) == ("health:link", 3, "sensor_fault")
    assert eng.tick(T0 + 500) == []  # no repeat while the level holds
    [back] = eng.process(reading("n1", "vwc", 30.0, T0 + 600))
    assert int(back.level) == 1
    [g] = eng.on_sequence_gap("n1", 4, T0 + 660)
    assert int(g.level) == 2 and "4 bacaan hilang" in g.explanation_id
    assert eng.on_sequence_gap("n1", 0, T0 + 661) == []
    eng.process(reading("n1", "vwc", 30.0, T0 + 700))
    [clear] = eng.process(reading("n1", "vwc", 30.0, T0 + 660 + 3600))
    assert int(clear.level) == 1


def test_hello_interval_used_unless_configured():
    eng = EdgeAnalytics()
    eng.set_node_interval("n2", 10)
    eng.process(reading("n2", "vwc", 30.0, T0))
    assert [int(a.level) for a in eng.tick(T0 + 31)] == [3]


def test_low_battery_with_node_override():
    eng = EdgeAnalytics({"nodes": {"lead": {"battery_v": {"waspada": 11.8, "siaga": 11.5,
                                                         "below": True}}}})
    assert [(a.detector, int(a.level)) for a in eng.process(reading("li", "batt", 3.4, T0))] \
        == [("battery", 2)]
    assert [int(a.level) for a in eng.process(reading("lead", "batt", 11.4, T0))] == [3]
    assert eng.process(reading("li", "batt", 3.52, T0 + 60)) == []  # hysteresis 0.05 V
    assert [int(a.level) for a in eng.process(reading("li", "batt", 3.6, T0 + 120))] == [1]


def test_nan_and_clock_going_backwards_are_ignored_and_counted():
    eng = EdgeAnalytics()
    assert eng.process(reading("n", "temp", math.nan, T0)) == []
    eng.process(reading("n", "temp", 50.0, T0 + 100))
    eng.process(reading("n", "temp", 50.0, T0 + 200))  # 100 s above 45: Waspada (60 s debounce)
    assert eng.process(reading("n", "temp", 20.0, T0 + 150)) == []  # older than the last
    assert eng.counters.invalid == 1 and eng.counters.out_of_order == 1
    assert {s.detector: int(s.level) for s in eng.levels()}["threshold:temp"] == 2


def test_reboot_is_waspada_until_gap_clear():
    eng = EdgeAnalytics()
    eng.process(reading("g", "pin", 3.0, T0))
    [a] = eng.process(reading("g", "pin", 5.0, T0 + 30, counter_reset=True))
    assert (a.detector, int(a.level)) == ("health:link", 2) and "restarted" in a.explanation_en
    assert eng.on_node_reboot("g", T0 + 40) == []  # already Waspada
    [b] = eng.process(reading("g", "pin", 0.0, T0 + 40 + 3600))
    assert int(b.level) == 1 and eng.counters.counter_resets == 1


def test_gap_count_starts_anew_after_an_episode_clears():
    eng = EdgeAnalytics()
    eng.process(reading("n", "vwc", 30.0, T0))
    eng.on_sequence_gap("n", 3, T0 + 60)
    eng.process(reading("n", "vwc", 30.0, T0 + 60 + 3600))  # cleared
    [a] = eng.on_sequence_gap("n", 2, T0 + 3700)
    assert a.values["missing"] == 2.0


def test_levels_lists_each_detector_once_per_node():
    eng = EdgeAnalytics({"nodes": {"s": {"site": "x"}}})
    for i, ch in enumerate(["rain", "vwc", "ext", "tilt", "rain"]):
        eng.process(reading("s", ch, 1.0, T0 + i))
    names = [s.detector for s in eng.levels()]
    assert len(names) == len(set(names))
    assert {"landslide", "rain", "health:link", "health:vwc", "anomaly:vwc"} <= set(names)
