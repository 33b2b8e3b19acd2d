"""The gateway reads the hub's registry file for node sites, soil, rain gauges and crowd zones."""

from __future__ import annotations

from pathlib import Path

import pytest

from siaga.gateway.config import GatewaySettings, settings_from_table
from siaga.gateway.errors import ConfigError

DEMO_REGISTRY = Path(__file__).resolve().parents[3] / "deploy" / "demo" / "registry.toml"

REGISTRY = """
[sites.slope]
name = "Lereng"
lat = -7.85
lon = 112.54

[sites.square]
name = "Alun-alun"
lat = -7.87
lon = 112.52

[nodes.slope-01]
site = "slope"
channels = ["vwc", "batt"]
calibration = { soil_field_capacity = 31.0, soil_saturation = 44.0 }

[nodes.rain-01]
site = "slope"
channels = ["rain"]
calibration = { mm_per_tip = 0.5 }

[nodes.gate-01]
site = "square"
channels = ["pin", "pout"]
calibration = { zone_capacity = 6000, zone_area_m2 = 14000.0 }

[nodes.gate-02]
site = "square"
channels = ["pin", "pout"]
calibration = { zone_capacity = 6000, zone_area_m2 = 14000.0 }
"""


def settings_with(tmp_path: Path, extra: dict[str, object] | None = None) -> GatewaySettings:
    (tmp_path / "registry.toml").write_text(REGISTRY)
    raw: dict[str, object] = {"gateway": {"id": "gw-1", "registry": "registry.toml"},
                              "serial": {"ports": ["/dev/null"]}, **(extra or {})}
    return settings_from_table(raw, tmp_path / "gateway.toml")


def test_registry_gives_sites_soil_rain_gauge_zones_and_tip_size(tmp_path: Path) -> None:
    s = settings_with(tmp_path)
    a = s.analytics
    assert a.site_of("slope-01") == "slope"
    assert a.soil_for("slope-01").field_capacity == 31.0
    assert a.soil_for("slope-01").saturation == 44.0
    assert a.sites["slope"].rain_node == "rain-01"
    zone = a.crowd.zones["square"]
    assert zone.nodes == ("gate-01", "gate-02")
    assert (zone.capacity, zone.area_m2, zone.site) == (6000, 14000.0, "square")
    assert s.convert.node_mm_per_tip == {"rain-01": 0.5}


def test_own_file_wins_over_the_registry(tmp_path: Path) -> None:
    s = settings_with(tmp_path, {
        "nodes": {"rain-01": {"mm_per_tip": 0.2}},
        "analytics": {"crowd": {"zones": {"square": {"nodes": ["gate-01"], "capacity": 100,
                                                     "area_m2": 50.0}}}},
    })
    assert s.convert.node_mm_per_tip["rain-01"] == 0.2
    assert s.analytics.crowd.zones["square"].capacity == 100
    assert s.analytics.crowd.zones["square"].nodes == ("gate-01",)


def test_missing_registry_names_the_key(tmp_path: Path) -> None:
    raw = {"gateway": {"registry": "nope.toml"}, "serial": {"ports": ["/dev/null"]}}
    with pytest.raises(ConfigError) as err:
        settings_from_table(raw, tmp_path / "gateway.toml")
    assert err.value.key == "gateway.registry"
    assert "nope.toml" in err.value.message


def test_broken_registry_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "registry.toml").write_text("[nodes.x]\nchannels = ['rain']\n")
    raw = {"gateway": {"registry": "registry.toml"}, "serial": {"ports": ["/dev/null"]}}
    with pytest.raises(ConfigError, match="nodes.x.site"):
        settings_from_table(raw, tmp_path / "gateway.toml")


def test_the_demo_registry_configures_every_demo_node(tmp_path: Path) -> None:
    raw = {"gateway": {"registry": str(DEMO_REGISTRY)}, "serial": {"ports": ["/dev/null"]}}
    a = settings_from_table(raw, tmp_path / "gateway.toml").analytics
    assert a.site_of("pasar-smoke-01") == a.site_of("pasar-smoke-02") == "pasar-batu"
    assert "alun-alun-batu" in a.crowd.zones
    assert a.sites["bumiaji-slope"].rain_node in {"slope-07", "rain-bumiaji-01"}  # first gauge
