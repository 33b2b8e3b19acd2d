import math

import pytest

from siaga.analytics.config import AnalyticsConfig
from siaga.analytics.config_load import load_config
from siaga.analytics.errors import ConfigError
from siaga.analytics.rainfall_thresholds import ID_CURVES


def test_empty_table_gives_documented_defaults():
    cfg = load_config({})
    assert cfg == AnalyticsConfig()
    assert cfg.rain.h3.siaga == 60.0
    assert cfg.rain.h24.as_tuple() == (50.0, 100.0, 150.0)
    assert cfg.landslide.id_curve() == ID_CURVES["caine1980"]
    assert math.isinf(cfg.rain.h1.awas)


def test_overrides_sites_nodes_and_zones():
    cfg = load_config({
        "rain": {"thresholds": {"siaga_3h_mm": 70}, "antecedent_days": 3},
        "sites": {"bumiaji": {"landslide_curve": "guzzetti2008",
                              "soil": {"field_capacity": 31, "saturation": 45}}},
        "nodes": {"slope-01": {"site": "bumiaji", "interval_s": 60,
                               "thresholds": {"vwc": {"waspada": 40, "hysteresis": 1}}},
                  "s2": {"battery_v": {"waspada": 11.8, "siaga": 11.5, "below": True}}},
        "crowd": {"zones": {"alun": {"nodes": ["gate-01"], "capacity": 100, "area_m2": 50,
                                     "site": "bumiaji"}}},
    })
    assert cfg.rain.h3.siaga == 70 and cfg.rain.antecedent_s == 3 * 86400
    assert cfg.curve_for("slope-01") == ID_CURVES["guzzetti2008"]
    assert cfg.soil_for("slope-01").field_capacity == 31
    assert cfg.soil_for("other").field_capacity == 30  # the default calibration
    th = cfg.channel_threshold("slope-01", "vwc")
    assert th is not None and th.levels.waspada == 40 and th.hysteresis == 1
    assert cfg.channel_threshold("other", "vwc") is None
    assert cfg.node("s2").battery is not None and cfg.node("s2").battery.below
    assert cfg.crowd.zones["alun"].capacity == 100


@pytest.mark.parametrize(("table", "key", "problem"), [
    ({"rain": {"thresholds": {"siaga_3h_mm": "60"}}},
     "analytics.rain.thresholds.siaga_3h_mm", "valid number"),
    ({"rain": {"thresholds": {"siaga_3h_mm": True}}},
     "analytics.rain.thresholds.siaga_3h_mm", "valid number"),
    ({"rian": {}}, "analytics.rian", "unknown key"),
    ({"rain": {"treshold": {}}}, "analytics.rain.treshold", "unknown key"),
    ({"landslide": {"curve": "nope"}}, "analytics.landslide.curve", "unknown curve"),
    ({"detectors": ["rain", "magic"]}, "analytics.detectors[1]", "'threshold', 'rain'"),
    ({"nodes": {"n1": {"soil": {"field_capacity": 40, "saturation": 30}}}},
     "analytics.nodes.n1.soil.saturation", "greater than field_capacity"),
    ({"crowd": {"zones": {"z": {"nodes": ["g"], "capacity": 10}}}},
     "analytics.crowd.zones.z.area_m2", "required"),
    ({"crowd": {"zones": {"z": {"nodes": [], "capacity": 10, "area_m2": 5}}}},
     "analytics.crowd.zones.z.nodes", "at least 1 item"),
    ({"fire": {"smoke_ppm": {"waspada": 200, "siaga": 100}}},
     "analytics.fire.smoke_ppm", "increasing"),
    ({"anomaly": {"threshold": 1.5}}, "analytics.anomaly.threshold", "less than 1"),
    ({"health": {"ranges": {"temp": [10, 0]}}}, "analytics.health.ranges.temp", "low < high"),
    ({"nodes": {"n1": {"interval_s": -1}}}, "analytics.nodes.n1.interval_s", "greater than 0"),
    ({"nodes": []}, "analytics.nodes", "should be an object"),
])
def test_bad_values_name_the_exact_key(table, key, problem):
    with pytest.raises(ConfigError) as e:
        load_config(table)
    assert e.value.key == key
    assert problem in str(e.value)
    assert str(e.value).startswith(key + ":")
