import pytest

from siaga.analytics.config import CrowdConfig, FireConfig, ZoneConfig
from siaga.analytics.detectors.crowd import CrowdDetector
from siaga.analytics.detectors.fire import FireDetector
from siaga.analytics.engine import EdgeAnalytics
from tests.unit.analytics.readings import T0, reading


def test_smoke_alone_stops_at_siaga_and_temperature_confirms_awas():
    d = FireDetector(FireConfig())
    d.update(0, "smoke", 500.0)  # above the 400 ppm Awas rung, unconfirmed
    assert d.level == 3
    d.update(10, "temp", 60.0)  # past the 57 degC fixed rating
    assert d.level == 4
    assert "dikonfirmasi suhu 60 C" in d.explain(previous=3).text_id


def test_temperature_rise_confirms():
    d = FireDetector(FireConfig())
    for k in range(7):
        d.update(k * 100.0, "temp", 30.0 + k)  # 6 degC in 600 s
    assert d.metrics()["temp_rise_c"] == pytest.approx(6.0)
    d.update(601, "smoke", 160.0)
    assert d.level == 4


def test_fast_rise_below_the_ladder_is_waspada():
    d = FireDetector(FireConfig())
    for k in range(4):
        d.update(k * 60.0, "smoke", 5.0 + 20.5 * k)  # 20.5 ppm/min, still under 70 ppm
    assert d.level == 2
    assert "naik cepat" in d.explain(previous=1).text_id


def test_neighbouring_smoke_node_confirms_through_the_engine():
    eng = EdgeAnalytics({"nodes": {"smoke-01": {"site": "pasar"}, "smoke-02": {"site": "pasar"}}})
    assert [a.level for a in eng.process(reading("smoke-01", "smoke", 100.0, T0))] == [2]
    alerts = eng.process(reading("smoke-02", "smoke", 200.0, T0 + 5))
    assert [(a.node, a.hazard, int(a.level), a.site) for a in alerts] == \
        [("smoke-02", "fire", 4, "pasar")]
    assert "tetangga" in alerts[0].explanation_id
    lone = EdgeAnalytics()
    assert [int(a.level) for a in lone.process(reading("smoke-02", "smoke", 200.0, T0))] == [3]


ZONE = ZoneConfig(("gate-01",), capacity=100.0, area_m2=50.0)


def test_occupancy_ratio_levels_with_hysteresis():
    d = CrowdDetector(CrowdConfig(clear_after_s=0.0), "alun", ZONE)
    d.update(0, "pin", 60.0)
    assert d.level == 1
    d.update(30, "pin", 25.0)  # 85 people: 0.85 of capacity
    assert d.level == 2
    d.update(60, "pin", 10.0)  # 95: Siaga
    assert d.level == 3
    d.update(90, "pout", 10.0)  # 85: above 0.9 * 0.95 = 0.855? no -> Waspada
    assert d.level == 2
    d.update(120, "pout", 5.0)  # 80 >= 0.76: still Waspada by hysteresis
    assert d.level == 2
    d.update(150, "pout", 10.0)  # 70: Normal
    assert d.level == 1


def test_density_and_inflow():
    zone = ZoneConfig(("g",), capacity=10_000.0, area_m2=100.0, max_inflow_per_min=100.0)
    d = CrowdDetector(CrowdConfig(), "z", zone)
    d.update(0, "pin", 450.0)  # 4.5 p/m2: past 4 (Siaga), below 5 (Awas); inflow 450/min
    assert d.metrics()["density_p_m2"] == 4.5
    assert d.level == 3
    assert d.metrics()["inflow_per_min"] == 450.0
    d2 = CrowdDetector(CrowdConfig(), "z", zone)
    d2.update(0, "pin", 120.0)  # 1.2 p/m2 but 120 per minute through the gate
    assert d2.level == 2


def test_occupancy_never_negative_and_counter_reset_counted():
    eng = EdgeAnalytics({"crowd": {"zones": {"alun": {"nodes": ["gate-01"], "capacity": 100,
                                                      "area_m2": 50}}}})
    eng.process(reading("gate-01", "pout", 30.0, T0))  # exits before any entry
    eng.process(reading("gate-01", "pin", 85.0, T0 + 30, counter_reset=True))
    levels = {s.detector: s for s in eng.levels()}
    assert levels["crowd:alun"].level == 2  # 85, not 55
    assert eng.counters.counter_resets == 1
