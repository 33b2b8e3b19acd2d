"""Antecedent rainfall in the landslide model: a wet fortnight lowers the rain needed."""

import pytest

from siaga.analytics.config import LandslideConfig, SoilCalibration
from siaga.analytics.config_load import load_config
from siaga.analytics.detectors.landslide import LandslideDetector
from siaga.analytics.errors import ConfigError
from siaga.analytics.rainfall_thresholds import AntecedentThreshold, IDCurve

DAY = 86400.0
# Godt et al. (2006) Seattle form in mm; the curve itself set out of reach so only the
# cumulative threshold can speak.
CT = AntecedentThreshold(88.9, 0.67)
OUT_OF_REACH = IDCurve(500.0, 0.39, 0.167, 240.0, antecedent=CT)


def slope(curve: IDCurve = OUT_OF_REACH) -> LandslideDetector:
    return LandslideDetector(LandslideConfig(), curve, SoilCalibration(), rain_level=2)


def run(det: LandslideDetector, daily_mm: list[float]) -> list[int]:
    levels = []
    for day, mm in enumerate(daily_mm):
        det.update(day * DAY, "rain", mm)
        levels.append(det.level)
    return levels


def test_the_same_storm_warns_after_a_wet_week_and_not_after_a_dry_one():
    dry_fortnight = [0.0] * 15
    wet_week = [0.0] * 8 + [15.0] * 7  # 105 mm in the week before the storm
    storm = [20.0, 20.0, 20.0]  # 60 mm in 3 days: under 88.9 mm on its own
    assert run(slope(), dry_fortnight + storm)[-1] == 1
    levels = run(wet := slope(), wet_week + storm)
    assert levels[-1] == 2
    m = wet.metrics()
    # The wet week's last 2 days fall in the 3-day window with the storm's first day.
    assert (m["rain_short_mm"], m["rain_long_mm"]) == (60.0, 105.0)
    assert m["antecedent_ratio"] == pytest.approx((60 + 0.67 * 105) / 88.9)
    assert m["id_ratio"] < 1.0
    e = wet.explain(previous=1)
    assert e.text_en.startswith("3-day rainfall 60 mm after 105 mm in the 15 days before "
                                "exceeds the cumulative threshold")
    assert e.values["rain_long_mm"] == 105.0


@pytest.mark.parametrize("long_mm", [0.0, 30.0, 90.0])
def test_the_rain_needed_falls_by_the_weight_times_the_long_window(long_mm):
    needed = 88.9 - 0.67 * long_mm
    before = [0.0] * 3 + [long_mm / 5] * 5 + [0.0] * 10  # long window, then 3 dry days...
    below = run(slope(), before + [needed - 0.5])
    above = run(slope(), before + [needed + 0.5])
    assert below[-1] == 1 and above[-1] == 2


def test_it_speaks_only_while_a_rain_event_runs():
    det = slope()
    run(det, [40.0] * 6)  # far above the threshold
    assert det.level == 2
    det.update(6 * DAY + 7 * 3600, "vwc", 35.0)  # 7 h later, no rain since: event over
    m = det.metrics()
    # The sums still stand over the threshold (days 4-5, days 0-3), but no event runs.
    assert (m["rain_short_mm"], m["rain_long_mm"]) == (80.0, 160.0)
    assert m["antecedent_ratio"] == 0.0


def test_without_a_cumulative_threshold_nothing_changes():
    det = slope(IDCurve(500.0, 0.39, 0.167, 240.0))
    assert run(det, [40.0] * 6)[-1] == 1
    assert det.metrics()["antecedent_ratio"] == 0.0
    assert "rain_short_mm" not in det.explain(previous=1).values


def test_config_keys_and_bounds():
    cfg = load_config({"landslide": {"curves": {"wet": {
        "kind": "ED", "a": 20.0, "b": 0.4,
        "antecedent": {"short_mm": 88.9, "long_weight": 0.67, "source": "Godt et al. 2006"}}}},
        "sites": {"s": {"landslide_curve": "wet"}}, "nodes": {"g": {"site": "s"}}})
    ante = cfg.curve_for("g").antecedent
    assert ante == AntecedentThreshold(88.9, 0.67, 3.0, 15.0, "Godt et al. 2006")
    assert cfg.curve_for("other").antecedent is None
    for bad, key in (({"short_mm": 0}, "short_mm"), ({"short_mm": 9, "long_weight": 11},
                     "long_weight"), ({"short_mm": 9, "long_days": 61}, "long_days"),
                     ({"long_weight": 1}, "short_mm")):
        with pytest.raises(ConfigError, match=f"analytics.landslide.curves.x.antecedent.{key}"):
            load_config({"landslide": {"curves": {"x": {"a": 1.0, "b": 0.4,
                                                        "antecedent": bad}}}})
