import pytest

from siaga.analytics.config import LandslideConfig, RainConfig, SoilCalibration
from siaga.analytics.config_load import load_config
from siaga.analytics.detectors.landslide import LandslideDetector, id_ratio
from siaga.analytics.detectors.rain import BMKG_DAILY, BMKG_HOURLY, RainDetector, bmkg_category
from siaga.analytics.rainfall_thresholds import ID_CURVES

H = 3600.0


def rain_cfg(**th: float) -> RainConfig:
    return load_config({"rain": {"thresholds": th}}).rain


def test_three_hour_rain_78mm_is_siaga_with_the_issue_explanation():
    d = RainDetector(rain_cfg(siaga_1h_mm=50))
    assert d.update(0, "rain", 30.0)  # 1 h and 3 h both 30 mm: Waspada
    assert d.level == 2
    assert d.update(2 * H, "rain", 48.0)  # 1 h 48 (< 50), 3 h 78 (>= 60): Siaga
    assert d.level == 3
    e = d.explain(previous=2)
    assert e.text_id == "Curah hujan 3 jam 78 mm melewati ambang Siaga 60 mm"
    assert e.text_en == "3-hour rainfall 78 mm exceeds the Siaga threshold of 60 mm"
    assert e.values["rain_3h_mm"] == 78 and e.thresholds["rain_3h_mm_siaga"] == 60


def test_accumulations_slide_and_level_goes_back_down():
    d = RainDetector(RainConfig())
    d.update(0, "rain", 12.0)  # 1 h 12 mm: BMKG heavy -> Waspada
    assert d.level == 2
    assert not d.update(1800, "rain", 0.0)
    assert d.metrics()["rain_1h_mm"] == 12
    assert d.update(H, "rain", 0.0)  # the 12 mm left the hourly window (t - 1 h, t]
    assert d.level == 1
    m = d.metrics()
    assert (m["rain_1h_mm"], m["rain_3h_mm"], m["rain_24h_mm"]) == (0.0, 12.0, 12.0)
    assert "turun ke Normal" in d.explain(previous=2).text_id


def test_wet_antecedent_period_raises_the_level_one_step():
    d = RainDetector(RainConfig())
    for day in range(4):  # 4 x 40 mm, one burst a day, 160 mm antecedent
        d.update(day * 86400.0, "rain", 40.0)
    d.update(4 * 86400.0 + 2 * H, "rain", 0.0)
    d.update(4 * 86400.0 + 3 * H, "rain", 0.0)
    assert d.level == 1
    d.update(4 * 86400.0 + 4 * H, "rain", 12.0)  # alone this is Waspada
    assert d.level == 3
    assert "hujan 5 hari sebelumnya" in d.explain(previous=1).text_id


def test_bmkg_categories():
    assert bmkg_category(0.5, BMKG_HOURLY) == "tidak hujan"
    assert bmkg_category(5.0, BMKG_HOURLY) == "sedang"
    assert bmkg_category(20.0, BMKG_HOURLY) == "lebat"
    assert bmkg_category(20.1, BMKG_HOURLY) == "sangat lebat"
    assert bmkg_category(0.5, BMKG_DAILY) == "ringan"
    assert bmkg_category(100.0, BMKG_DAILY) == "sangat lebat"
    assert bmkg_category(150.0, BMKG_DAILY) == "sangat lebat"
    assert bmkg_category(150.5, BMKG_DAILY) == "ekstrem"


def test_id_ratio_hand_computed_for_caine_and_guzzetti():
    caine = ID_CURVES["caine1980"]
    # D = 10 h: threshold 14.82 * 10**-0.39 = 6.0374 mm/h; 70 mm in 10 h is 7 mm/h.
    assert id_ratio(70.0, 10.0, caine) == pytest.approx(7.0 / 6.0374, rel=1e-4)
    g = ID_CURVES["guzzetti2008"]
    assert id_ratio(2.2, 1.0, g) == pytest.approx(1.0)
    # Durations are clipped to the curve's valid range.
    assert id_ratio(10.0, 0.0, caine) == id_ratio(10.0, caine.d_min_h, caine)
    assert id_ratio(10.0, 5000.0, caine) == id_ratio(10.0, caine.d_max_h, caine)


def slide(**kw: object) -> LandslideDetector:
    return LandslideDetector(LandslideConfig(**kw), ID_CURVES["caine1980"],
                             SoilCalibration(30.0, 45.0))


def test_rain_above_id_curve_is_waspada_and_wet_soil_makes_it_siaga():
    d = slide()
    d.update(0, "vwc", 33.0)  # relative saturation 0.2: not wet
    for h in range(10):
        d.update(h * H, "rain", 7.0)
    # Event 70 mm over 9 h: 7.78 mm/h against 14.82 * 9**-0.39 = 6.293 mm/h.
    assert d.metrics()["id_ratio"] == pytest.approx(70 / 9 / (14.82 * 9 ** -0.39))
    assert d.level == 2
    d.update(9.5 * H, "vwc", 40.0)  # (40 - 30) / 15 = 0.67 >= 0.5
    assert d.level == 3
    assert "tanah jenuh 67%" in d.explain(previous=2).text_id


def test_dry_gap_ends_the_rain_event():
    d = slide(clear_after_s=0.0)
    d.update(0, "vwc", 20.0)
    d.update(0, "rain", 20.0)
    assert d.level == 2
    d.update(6 * H + 1, "vwc", 20.0)  # more than 6 h without rain
    assert d.metrics()["id_ratio"] == 0.0 and d.level == 1


def test_a_plain_rain_gauge_raises_no_landslide_level():
    d = slide()
    d.update(0, "rain", 40.0)
    assert d.metrics()["id_ratio"] > 1 and d.level == 1
    d.update(60, "tilt", 0.0)  # now the node is known to watch the ground
    assert d.level == 2


def test_movement_rates_and_awas_with_rain():
    d = slide()
    for k in range(7):  # 3 mm/h on the extensometer for an hour
        d.update(k * 600.0, "ext", 100.0 + 0.5 * k)
    assert d.metrics()["ext_rate_mm_h"] == pytest.approx(3.0)
    assert d.level == 3  # 2 <= 3 < 4 mm/h
    d.update(3601.0, "rain", 15.0)  # rain above the I-D curve with Siaga movement
    assert d.level == 4
    t = slide()
    for k in range(7):
        t.update(k * 600.0, "tilt", 0.02 * k)  # 0.12 deg/h
    assert t.level == 2


def test_slope_node_without_gauge_uses_the_site_rain_gauge():
    from siaga.analytics.engine import EdgeAnalytics
    from tests.unit.analytics.readings import T0, reading

    eng = EdgeAnalytics({"nodes": {"slope-05": {"site": "bumiaji"},
                                   "rain-01": {"site": "bumiaji"}}})
    eng.process(reading("slope-05", "vwc", 40.0, T0))  # wet soil, no gauge on this node
    alerts = eng.process(reading("rain-01", "rain", 30.0, T0 + 60))
    assert [(a.node, a.detector, int(a.level)) for a in alerts] == [
        ("rain-01", "rain", 3), ("slope-05", "landslide", 3)]
