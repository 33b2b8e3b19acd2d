"""Every alert names the channels and nodes behind it (issue 11, section 4)."""

from __future__ import annotations

from siaga.analytics.engine import EdgeAnalytics
from siaga.firmware_bridge.reading import Reading

T0 = 1_780_000_000.0


def reading(node: str, channel: str, value: float, ts: float) -> Reading:
    return Reading(node, channel, value, "", ts, ts, 0, "test")


def feed(engine: EdgeAnalytics, rows: list[Reading]) -> list:
    alerts = []
    for r in sorted(rows, key=lambda r: r.ts):
        alerts += engine.process(r)
    return alerts


def storm(node: str, hours: float = 4.0, mm_per_10min: float = 8.0) -> list[Reading]:
    n = int(hours * 6)
    return [reading(node, "rain", mm_per_10min, T0 + 600 * i) for i in range(1, n + 1)]


def test_a_landslide_alert_lists_rain_and_the_ground_channels_it_had() -> None:
    engine = EdgeAnalytics({"detectors": ["landslide", "rain"]})
    ground = [reading("slope-1", "vwc", 45.0, T0 + 600 * i + 1) for i in range(25)]
    ground += [reading("slope-1", "tilt", 0.0, T0 + 600 * i + 2) for i in range(25)]
    alerts = [a for a in feed(engine, storm("slope-1") + ground) if a.hazard == "landslide"]
    assert alerts and alerts[0].level >= 2
    assert alerts[0].channels == ("rain", "tilt", "vwc")
    assert alerts[0].nodes == ("slope-1",)
    rain = [a for a in feed(EdgeAnalytics({"detectors": ["rain"]}), storm("g")) if a.level >= 2]
    assert rain and rain[0].channels == ("rain",) and rain[0].nodes == ("g",)


def test_a_slope_fed_by_its_site_gauge_names_the_gauge() -> None:
    cfg = {"detectors": ["landslide"], "sites": {"bumiaji": {"rain_node": "gauge"}},
           "nodes": {"gauge": {"site": "bumiaji"}, "slope-2": {"site": "bumiaji"}}}
    engine = EdgeAnalytics(cfg)
    ground = [reading("slope-2", "vwc", 45.0, T0 + 600 * i + 1) for i in range(25)]
    alerts = [a for a in feed(engine, storm("gauge") + ground)
              if a.hazard == "landslide" and a.node == "slope-2"]
    assert alerts
    assert alerts[0].channels == ("rain", "vwc")
    assert alerts[0].nodes == ("slope-2", "gauge")
