"""Typed settings for every detector, with documented defaults (sources in docs/detectors.md).

Built once from the gateway's ``[analytics]`` TOML table by ``analytics.config_load.load_config``.
Every threshold triple is the value at which Waspada, Siaga and Awas begin; ``inf``
disables a level. ``below=True`` means lower is worse (battery voltage).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

INF = math.inf


@dataclass(frozen=True, slots=True)
class LevelThresholds:
    waspada: float = INF
    siaga: float = INF
    awas: float = INF
    below: bool = False

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.waspada, self.siaga, self.awas)


@dataclass(frozen=True, slots=True)
class ChannelThreshold:
    """A plain per-channel threshold: hysteresis in the channel's unit, debounce in seconds."""

    levels: LevelThresholds
    hysteresis: float = 0.0
    min_duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ThresholdConfig:
    # Fixed-temperature heat detection: NFPA 72 "ordinary" rating starts at 57 degC (135 degF);
    # 45 degC is a project advisory level well above tropical ambient (BMKG records < 40 degC).
    channels: dict[str, ChannelThreshold] = field(
        default_factory=lambda: {
            "temp": ChannelThreshold(LevelThresholds(45.0, 57.0), hysteresis=2.0,
                                     min_duration_s=60.0),
        }
    )


@dataclass(frozen=True, slots=True)
class RainConfig:
    # BMKG hourly intensity: heavy 10-20 mm/h, very heavy > 20 mm/h.
    h1: LevelThresholds = LevelThresholds(10.0, 20.0)
    # 3-hour flood watch: project defaults (60 mm Siaga as in issue 3); calibrate per catchment.
    h3: LevelThresholds = LevelThresholds(30.0, 60.0, 90.0)
    # BMKG daily: heavy 50-100, very heavy 100-150, extreme > 150 mm/day.
    h24: LevelThresholds = LevelThresholds(50.0, 100.0, 150.0)
    antecedent_s: float = 5 * 86400.0
    # A wet antecedent period raises any Waspada-or-higher level by one step.
    antecedent_wet_mm: float = 150.0
    hysteresis_fraction: float = 0.1
    min_duration_s: float = 0.0
    clear_after_s: float = 0.0


@dataclass(frozen=True, slots=True)
class IDCurve:
    """Intensity-duration threshold I = a * D**-b (I mm/h, D h), valid for d_min_h..d_max_h."""

    a: float
    b: float
    d_min_h: float
    d_max_h: float


ID_CURVES: dict[str, IDCurve] = {
    # Caine (1980), Geografiska Annaler 62A: world data set, 10 min < D < 10 days.
    "caine1980": IDCurve(14.82, 0.39, 0.167, 240.0),
    # Guzzetti et al. (2008), Landslides 5: global minimum threshold, 0.1 h < D < 1000 h.
    "guzzetti2008": IDCurve(2.20, 0.44, 0.1, 1000.0),
}


@dataclass(frozen=True, slots=True)
class SoilCalibration:
    """Volumetric water content (%) at field capacity and at saturation for one node's soil."""

    field_capacity: float = 30.0
    saturation: float = 45.0


@dataclass(frozen=True, slots=True)
class LandslideConfig:
    curve: str = "caine1980"
    custom_curves: dict[str, IDCurve] = field(default_factory=dict)
    # A rain event ends after this long without rain (inter-event time, Guzzetti et al. 2008
    # use site-specific gaps; 6 h is a common choice for hourly gauges).
    dry_gap_s: float = 6 * 3600.0
    # Relative saturation (vwc - fc) / (sat - fc) from which soil counts as wet.
    soil_wet: float = 0.5
    soil_hysteresis: float = 0.05
    # Extensometer and tilt rates (per hour); Uchimura et al. (2015) use 0.1 deg/h (caution)
    # and 1 deg/h (evacuation) for tilt; extensometer rates follow Japanese slope practice.
    ext_rate_mm_h: LevelThresholds = LevelThresholds(1.0, 2.0, 4.0)
    tilt_rate_deg_h: LevelThresholds = LevelThresholds(0.1, 0.5, 1.0)
    rate_window_s: float = 3600.0
    hysteresis_fraction: float = 0.1
    min_duration_s: float = 0.0
    # Movement rates hover around their rungs while a slope creeps: hold a level 30 min.
    clear_after_s: float = 1800.0
    soil: SoilCalibration = SoilCalibration()

    def id_curve(self, name: str | None = None) -> IDCurve:
        key = name or self.curve
        return self.custom_curves.get(key) or ID_CURVES[key]


@dataclass(frozen=True, slots=True)
class FireConfig:
    # UL 2034 residential CO alarm points (70 / 150 / 400 ppm) as the smoke/gas ladder.
    smoke: LevelThresholds = LevelThresholds(70.0, 150.0, 400.0)
    rate_window_s: float = 300.0
    # Rise fast enough to deserve Waspada even below 70 ppm: 20 ppm/min over 5 min is twice
    # the worst rise the simulated quiet market produced (project default; calibrate).
    rate_waspada_ppm_min: float = 20.0
    temp_window_s: float = 600.0
    # Confirmation: temperature rise (NFPA 72 rate-of-rise detectors use 8.3 degC/min; a
    # node-mounted sensor sees less, so 5 degC within 10 min) or the 57 degC fixed rating.
    temp_rise_c: float = 5.0
    temp_fixed_c: float = 57.0
    hysteresis_fraction: float = 0.1
    min_duration_s: float = 0.0
    clear_after_s: float = 300.0


@dataclass(frozen=True, slots=True)
class ZoneConfig:
    nodes: tuple[str, ...]
    capacity: float
    area_m2: float
    site: str | None = None
    max_inflow_per_min: float = INF


@dataclass(frozen=True, slots=True)
class CrowdConfig:
    occupancy_ratio: LevelThresholds = LevelThresholds(0.8, 0.9, 1.0)
    # Persons per m2: Fruin level of service E begins near 2 p/m2 for standing crowds;
    # Still (2014) and the UK Green Guide treat > 4 p/m2 as dangerous, 5 p/m2 as critical.
    density_p_m2: LevelThresholds = LevelThresholds(2.0, 4.0, 5.0)
    inflow_window_s: float = 60.0
    hysteresis_fraction: float = 0.05
    min_duration_s: float = 0.0
    clear_after_s: float = 300.0
    zones: dict[str, ZoneConfig] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnomalyConfig:
    channels: tuple[str, ...] = ("vwc", "smoke", "temp", "ext", "tilt")
    # Modified z-score > 3.5 flags an outlier (Iglewicz & Hoaglin 1993).
    robust_window: int = 61
    robust_threshold: float = 3.5
    # EWMA chart lambda 0.2, L 3 (Montgomery, Introduction to SQC; Lucas & Saccucci 1990).
    ewma_lambda: float = 0.2
    ewma_limit: float = 3.0
    # Slow baseline for EWMA and CUSUM; scores stay 0 during warm-up.
    baseline_alpha: float = 0.01
    warmup: int = 30
    min_sigma: float = 1e-3
    # Spread floor per channel, about the sensor's noise/resolution: a quiet, quantised
    # signal has MAD 0 and would otherwise flag every last-digit change.
    min_sigma_by_channel: dict[str, float] = field(default_factory=lambda: {
        "vwc": 0.5, "smoke": 3.0, "temp": 0.5, "hum": 2.0, "ext": 0.2, "tilt": 0.05,
    })
    # Tabular CUSUM k = 0.5 sigma, h = 5 sigma (Montgomery; Page 1954).
    cusum_k: float = 0.5
    cusum_h: float = 5.0
    # Off by default: anomalies feed scores and replay, not alerts, to keep false alarms low.
    emit_alerts: bool = False


@dataclass(frozen=True, slots=True)
class HealthConfig:
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Identical consecutive readings that count as a flatline (channels that legitimately
    # stay constant, such as vwc in dry weather or counters, are not checked by default).
    stuck_readings: dict[str, int] = field(default_factory=lambda: {"temp": 120, "hum": 120})
    max_step: dict[str, float] = field(
        default_factory=lambda: {"temp": 10.0, "hum": 40.0, "vwc": 25.0, "batt": 2.0}
    )
    jump_hold_s: float = 600.0
    silence_factor: float = 3.0
    default_interval_s: float = 60.0
    gap_clear_s: float = 3600.0
    # 1S Li-ion: 3.5 V low, 3.3 V near cut-off; override per node for 12 V lead-acid.
    battery: LevelThresholds = LevelThresholds(3.5, 3.3, -INF, below=True)
    battery_hysteresis: float = 0.05


@dataclass(frozen=True, slots=True)
class SiteConfig:
    landslide_curve: str | None = None
    soil: SoilCalibration | None = None
    # The site's rain gauge for slope nodes without one (default: the first node of the
    # site that reports rain).
    rain_node: str | None = None


@dataclass(frozen=True, slots=True)
class NodeConfig:
    site: str | None = None
    interval_s: float | None = None
    soil: SoilCalibration | None = None
    thresholds: dict[str, ChannelThreshold] = field(default_factory=dict)
    battery: LevelThresholds | None = None


DETECTOR_NAMES: tuple[str, ...] = (
    "threshold", "rain", "landslide", "fire", "crowd",
    "robust_z", "ewma", "cusum", "health", "battery",
)


@dataclass(frozen=True, slots=True)
class AnalyticsConfig:
    detectors: tuple[str, ...] = DETECTOR_NAMES
    threshold: ThresholdConfig = ThresholdConfig()
    rain: RainConfig = RainConfig()
    landslide: LandslideConfig = LandslideConfig()
    fire: FireConfig = FireConfig()
    crowd: CrowdConfig = CrowdConfig()
    anomaly: AnomalyConfig = AnomalyConfig()
    health: HealthConfig = HealthConfig()
    sites: dict[str, SiteConfig] = field(default_factory=dict)
    nodes: dict[str, NodeConfig] = field(default_factory=dict)

    def node(self, node: str) -> NodeConfig:
        return self.nodes.get(node) or NodeConfig()

    def site_of(self, node: str) -> str | None:
        return self.node(node).site

    def soil_for(self, node: str) -> SoilCalibration:
        n = self.node(node)
        if n.soil is not None:
            return n.soil
        site = self.sites.get(n.site or "")
        if site is not None and site.soil is not None:
            return site.soil
        return self.landslide.soil

    def curve_for(self, node: str) -> IDCurve:
        site = self.sites.get(self.node(node).site or "")
        return self.landslide.id_curve(site.landslide_curve if site else None)

    def channel_threshold(self, node: str, channel: str) -> ChannelThreshold | None:
        return self.node(node).thresholds.get(channel) or self.threshold.channels.get(channel)
