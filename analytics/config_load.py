"""Build an AnalyticsConfig from the gateway's ``[analytics]`` table (a plain dict).

Every error names the full key path, e.g.
``analytics.rain.thresholds.siaga_3h_mm: must be a number``. Unknown keys are errors
too, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from siaga.analytics.config import (
    DETECTOR_NAMES,
    ID_CURVES,
    AnalyticsConfig,
    AnomalyConfig,
    ChannelThreshold,
    CrowdConfig,
    FireConfig,
    HealthConfig,
    IDCurve,
    LandslideConfig,
    LevelThresholds,
    NodeConfig,
    RainConfig,
    SiteConfig,
    SoilCalibration,
    ThresholdConfig,
    ZoneConfig,
)
from siaga.analytics.errors import ConfigError

ROOT = "analytics"


class _Table:
    """One TOML table being read: remembers its path and which keys were used."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(path, "must be a table")
        self.data = data
        self.path = path
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}"

    def has(self, name: str) -> bool:
        return name in self.data

    def number(self, name: str, default: float, *, positive: bool = False,
               minimum: float | None = None) -> float:
        self.used.add(name)
        if name not in self.data:
            return default
        v = self.data[name]
        if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
            raise ConfigError(self.key(name), "must be a number")
        if positive and not v > 0:
            raise ConfigError(self.key(name), "must be greater than 0")
        if minimum is not None and v < minimum:
            raise ConfigError(self.key(name), f"must be at least {minimum:g}")
        return float(v)

    def integer(self, name: str, default: int, minimum: int = 1) -> int:
        self.used.add(name)
        if name not in self.data:
            return default
        v = self.data[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ConfigError(self.key(name), f"must be an integer >= {minimum}")
        return v

    def boolean(self, name: str, default: bool) -> bool:
        self.used.add(name)
        v = self.data.get(name, default)
        if not isinstance(v, bool):
            raise ConfigError(self.key(name), "must be true or false")
        return v

    def string(self, name: str, default: str | None) -> str | None:
        self.used.add(name)
        v = self.data.get(name, default)
        if v is not None and (not isinstance(v, str) or not v):
            raise ConfigError(self.key(name), "must be a non-empty string")
        return v

    def strings(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        self.used.add(name)
        if name not in self.data:
            return default
        v = self.data[name]
        if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
            raise ConfigError(self.key(name), "must be a list of strings")
        return tuple(v)

    def table(self, name: str) -> _Table | None:
        self.used.add(name)
        if name not in self.data:
            return None
        return _Table(self.data[name], self.key(name))

    def subtables(self, name: str) -> list[tuple[str, _Table]]:
        t = self.table(name)
        if t is None:
            return []
        out = [(k, _Table(v, t.key(k))) for k, v in t.data.items()]
        t.used.update(t.data)
        return out

    def done(self) -> None:
        for k in self.data:
            if k not in self.used:
                raise ConfigError(self.key(k), "unknown key")


def _levels(t: _Table | None, default: LevelThresholds, unit: str = "") -> LevelThresholds:
    if t is None:
        return default
    names = [f"{lvl}{unit}" for lvl in ("waspada", "siaga", "awas")]
    vals = [t.number(n, d) for n, d in zip(names, default.as_tuple(), strict=True)]
    below = t.boolean("below", default.below)
    t.done()
    ordered = sorted(vals, reverse=below)
    if vals != ordered:
        raise ConfigError(t.path, "thresholds must be "
                          + ("decreasing (below)" if below else "increasing")
                          + " from waspada to awas")
    return LevelThresholds(vals[0], vals[1], vals[2], below=below)


def _channel_threshold(t: _Table, default: ChannelThreshold | None) -> ChannelThreshold:
    base = default or ChannelThreshold(LevelThresholds())
    vals = [t.number(n, d) for n, d in zip(("waspada", "siaga", "awas"),
                                            base.levels.as_tuple(), strict=True)]
    below = t.boolean("below", base.levels.below)
    hyst = t.number("hysteresis", base.hysteresis, minimum=0.0)
    dur = t.number("min_duration_s", base.min_duration_s, minimum=0.0)
    t.done()
    if vals != sorted(vals, reverse=below):
        raise ConfigError(t.path, "thresholds must be ordered from waspada to awas")
    return ChannelThreshold(LevelThresholds(vals[0], vals[1], vals[2], below=below), hyst, dur)


def _soil(t: _Table | None, default: SoilCalibration | None) -> SoilCalibration | None:
    if t is None:
        return default
    base = default or SoilCalibration()
    fc = t.number("field_capacity", base.field_capacity, minimum=0.0)
    sat = t.number("saturation", base.saturation, minimum=0.0)
    t.done()
    if sat <= fc:
        raise ConfigError(t.key("saturation"), "must be greater than field_capacity")
    return SoilCalibration(fc, sat)


def _threshold(t: _Table | None) -> ThresholdConfig:
    d = ThresholdConfig()
    if t is None:
        return d
    channels = dict(d.channels)
    for ch, sub in t.subtables("channels"):
        channels[ch] = _channel_threshold(sub, channels.get(ch))
    t.done()
    return ThresholdConfig(channels)


def _rain(t: _Table | None) -> RainConfig:
    d = RainConfig()
    if t is None:
        return d
    windows = {"1h": d.h1, "3h": d.h3, "24h": d.h24}
    th = t.table("thresholds")
    if th is not None:
        for w, lv in list(windows.items()):
            vals = [th.number(f"{n}_{w}_mm", v) for n, v in
                    zip(("waspada", "siaga", "awas"), lv.as_tuple(), strict=True)]
            if vals != sorted(vals):
                raise ConfigError(th.key(f"siaga_{w}_mm"), "waspada <= siaga <= awas required")
            windows[w] = LevelThresholds(vals[0], vals[1], vals[2])
        th.done()
    cfg = RainConfig(
        h1=windows["1h"], h3=windows["3h"], h24=windows["24h"],
        antecedent_s=t.number("antecedent_days", d.antecedent_s / 86400, positive=True) * 86400,
        antecedent_wet_mm=t.number("antecedent_wet_mm", d.antecedent_wet_mm, positive=True),
        hysteresis_fraction=t.number("hysteresis_fraction", d.hysteresis_fraction, minimum=0.0),
        min_duration_s=t.number("min_duration_s", d.min_duration_s, minimum=0.0),
        clear_after_s=t.number("clear_after_s", d.clear_after_s, minimum=0.0),
    )
    t.done()
    return cfg


def _landslide(t: _Table | None) -> LandslideConfig:
    d = LandslideConfig()
    if t is None:
        return d
    curves: dict[str, IDCurve] = {}
    for name, c in t.subtables("curves"):
        curves[name] = IDCurve(c.number("a", 0, positive=True), c.number("b", 0, minimum=0.0),
                               c.number("d_min_h", 0.1, positive=True),
                               c.number("d_max_h", 1000.0, positive=True))
        c.done()
    curve = t.string("curve", d.curve) or d.curve
    if curve not in curves and curve not in ID_CURVES:
        raise ConfigError(t.key("curve"), f"unknown curve {curve!r}; known: "
                          + ", ".join(sorted({*ID_CURVES, *curves})))
    cfg = LandslideConfig(
        curve=curve, custom_curves=curves,
        dry_gap_s=t.number("dry_gap_s", d.dry_gap_s, positive=True),
        soil_wet=t.number("soil_wet", d.soil_wet),
        soil_hysteresis=t.number("soil_hysteresis", d.soil_hysteresis, minimum=0.0),
        ext_rate_mm_h=_levels(t.table("ext_rate_mm_h"), d.ext_rate_mm_h),
        tilt_rate_deg_h=_levels(t.table("tilt_rate_deg_h"), d.tilt_rate_deg_h),
        rate_window_s=t.number("rate_window_s", d.rate_window_s, positive=True),
        hysteresis_fraction=t.number("hysteresis_fraction", d.hysteresis_fraction, minimum=0.0),
        min_duration_s=t.number("min_duration_s", d.min_duration_s, minimum=0.0),
        clear_after_s=t.number("clear_after_s", d.clear_after_s, minimum=0.0),
        soil=_soil(t.table("soil"), d.soil) or d.soil,
    )
    t.done()
    return cfg


def _fire(t: _Table | None) -> FireConfig:
    d = FireConfig()
    if t is None:
        return d
    cfg = FireConfig(
        smoke=_levels(t.table("smoke_ppm"), d.smoke),
        rate_window_s=t.number("rate_window_s", d.rate_window_s, positive=True),
        rate_waspada_ppm_min=t.number("rate_waspada_ppm_min", d.rate_waspada_ppm_min,
                                      positive=True),
        temp_window_s=t.number("temp_window_s", d.temp_window_s, positive=True),
        temp_rise_c=t.number("temp_rise_c", d.temp_rise_c, positive=True),
        temp_fixed_c=t.number("temp_fixed_c", d.temp_fixed_c),
        hysteresis_fraction=t.number("hysteresis_fraction", d.hysteresis_fraction, minimum=0.0),
        min_duration_s=t.number("min_duration_s", d.min_duration_s, minimum=0.0),
        clear_after_s=t.number("clear_after_s", d.clear_after_s, minimum=0.0),
    )
    t.done()
    return cfg


def _crowd(t: _Table | None) -> CrowdConfig:
    d = CrowdConfig()
    if t is None:
        return d
    zones: dict[str, ZoneConfig] = {}
    for name, z in t.subtables("zones"):
        nodes = z.strings("nodes", ())
        if not nodes:
            raise ConfigError(z.key("nodes"), "must list at least one counter node")
        zones[name] = ZoneConfig(nodes, z.number("capacity", 0, positive=True),
                                 z.number("area_m2", 0, positive=True), z.string("site", None),
                                 z.number("max_inflow_per_min", math.inf, positive=True))
        for k in ("capacity", "area_m2"):
            if k not in z.data:
                raise ConfigError(z.key(k), "is required")
        z.done()
    cfg = CrowdConfig(
        occupancy_ratio=_levels(t.table("occupancy_ratio"), d.occupancy_ratio),
        density_p_m2=_levels(t.table("density_p_m2"), d.density_p_m2),
        inflow_window_s=t.number("inflow_window_s", d.inflow_window_s, positive=True),
        hysteresis_fraction=t.number("hysteresis_fraction", d.hysteresis_fraction, minimum=0.0),
        min_duration_s=t.number("min_duration_s", d.min_duration_s, minimum=0.0),
        clear_after_s=t.number("clear_after_s", d.clear_after_s, minimum=0.0),
        zones=zones,
    )
    t.done()
    return cfg


def _anomaly(t: _Table | None) -> AnomalyConfig:
    d = AnomalyConfig()
    if t is None:
        return d
    kw: dict[str, Any] = {"channels": t.strings("channels", d.channels),
                          "emit_alerts": t.boolean("emit_alerts", d.emit_alerts),
                          "min_sigma_by_channel": _number_map(
                              t.table("min_sigma_by_channel"), d.min_sigma_by_channel)}
    for f in fields(AnomalyConfig):
        if f.name in kw:
            continue
        default = getattr(d, f.name)
        if isinstance(default, int):
            kw[f.name] = t.integer(f.name, default, minimum=3 if f.name == "robust_window" else 1)
        else:
            kw[f.name] = t.number(f.name, default, positive=True)
    if not 0 < kw["ewma_lambda"] <= 1:
        raise ConfigError(t.key("ewma_lambda"), "must be in (0, 1]")
    if not 0 < kw["baseline_alpha"] < 1:
        raise ConfigError(t.key("baseline_alpha"), "must be in (0, 1)")
    t.done()
    return AnomalyConfig(**kw)


def _number_map(t: _Table | None, default: dict[str, Any], integer: bool = False) -> dict:
    if t is None:
        return default
    out = dict(default)
    for k in t.data:
        out[k] = t.integer(k, 0) if integer else t.number(k, 0, positive=True)
    t.done()
    return out


def _health(t: _Table | None) -> HealthConfig:
    d = HealthConfig()
    if t is None:
        return d
    ranges: dict[str, tuple[float, float]] = {}
    rt = t.table("ranges")
    if rt is not None:
        for ch, v in rt.data.items():
            ok = (isinstance(v, list) and len(v) == 2
                  and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v))
            if not ok or v[0] >= v[1]:
                raise ConfigError(rt.key(ch), "must be [low, high] with low < high")
            ranges[ch] = (float(v[0]), float(v[1]))
        rt.used.update(rt.data)
    cfg = HealthConfig(
        ranges=ranges,
        stuck_readings=_number_map(t.table("stuck_readings"), d.stuck_readings, integer=True),
        max_step=_number_map(t.table("max_step"), d.max_step),
        jump_hold_s=t.number("jump_hold_s", d.jump_hold_s, minimum=0.0),
        silence_factor=t.number("silence_factor", d.silence_factor, positive=True),
        default_interval_s=t.number("default_interval_s", d.default_interval_s, positive=True),
        gap_clear_s=t.number("gap_clear_s", d.gap_clear_s, positive=True),
        battery=_levels(t.table("battery_v"), d.battery),
        battery_hysteresis=t.number("battery_hysteresis", d.battery_hysteresis, minimum=0.0),
    )
    t.done()
    return cfg


def load_config(data: Mapping[str, Any] | None) -> AnalyticsConfig:
    """The ``[analytics]`` table -> AnalyticsConfig; raises ConfigError naming the key."""
    root = _Table(data or {}, ROOT)
    detectors = root.strings("detectors", DETECTOR_NAMES)
    for i, name in enumerate(detectors):
        if name not in DETECTOR_NAMES:
            raise ConfigError(f"{ROOT}.detectors[{i}]", f"unknown detector {name!r}; known: "
                              + ", ".join(DETECTOR_NAMES))
    cfg = AnalyticsConfig(
        detectors=detectors,
        threshold=_threshold(root.table("threshold")),
        rain=_rain(root.table("rain")),
        landslide=_landslide(root.table("landslide")),
        fire=_fire(root.table("fire")),
        crowd=_crowd(root.table("crowd")),
        anomaly=_anomaly(root.table("anomaly")),
        health=_health(root.table("health")),
    )
    sites: dict[str, SiteConfig] = {}
    for name, s in root.subtables("sites"):
        curve = s.string("landslide_curve", None)
        if curve is not None and curve not in ID_CURVES and curve not in \
                cfg.landslide.custom_curves:
            raise ConfigError(s.key("landslide_curve"), f"unknown curve {curve!r}")
        sites[name] = SiteConfig(curve, _soil(s.table("soil"), None), s.string("rain_node", None))
        s.done()
    nodes: dict[str, NodeConfig] = {}
    for name, n in root.subtables("nodes"):
        site = n.string("site", None)
        interval = n.number("interval_s", 0, positive=True) if n.has("interval_s") else None
        soil = _soil(n.table("soil"), None)
        thresholds = {ch: _channel_threshold(sub, cfg.threshold.channels.get(ch))
                      for ch, sub in n.subtables("thresholds")}
        battery = _levels(n.table("battery_v"), cfg.health.battery) if n.has("battery_v") \
            else None
        n.done()
        nodes[name] = NodeConfig(site, interval, soil, thresholds, battery)
    for zname, zone in cfg.crowd.zones.items():
        if zone.site is not None and sites and zone.site not in sites:
            raise ConfigError(f"{ROOT}.crowd.zones.{zname}.site", f"unknown site {zone.site!r}")
    root.done()
    return replace(cfg, sites=sites, nodes=nodes)
