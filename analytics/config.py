"""Typed settings for every detector, with documented defaults (sources in docs/detectors.md).

Each key of the ``[analytics]`` TOML table is declared once, here (the rainfall curves' keys
in ``rainfall_thresholds``, the shared field types in ``config_fields``): the field names are
the TOML keys, ``Annotated`` carries the bounds and the one-line doc, and a ``__post_init__``
check says which field it is about (``"saturation: must be greater than field_capacity"``).
``analytics.config_load.load_config`` validates a table against these declarations.
Every threshold triple is the value at which Waspada, Siaga and Awas begin; ``inf``
disables a level. ``below=True`` means lower is worse (battery voltage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from annotated_types import Ge, Gt, Interval, MinLen, doc

from siaga.analytics.config_fields import (
    INF,
    ClearAfter,
    Hysteresis,
    MinDuration,
    Name,
    NonNegative,
    Positive,
    Seconds,
)
from siaga.analytics.rainfall_thresholds import ID_CURVES, IDCurve


@dataclass(frozen=True, slots=True)
class LevelThresholds:
    """Values at which Waspada, Siaga and Awas begin (``inf``: never)."""

    waspada: Annotated[float, doc("Waspada (level II) begins here")] = INF
    siaga: Annotated[float, doc("Siaga (level III) begins here")] = INF
    awas: Annotated[float, doc("Awas (level IV) begins here")] = INF
    below: Annotated[bool, doc("Lower is worse (battery voltage)")] = False

    def __post_init__(self) -> None:
        vals = list(self.as_tuple())
        if vals != sorted(vals, reverse=self.below):
            raise ValueError("thresholds must be "
                             + ("decreasing (below)" if self.below else "increasing")
                             + " from waspada to awas")

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.waspada, self.siaga, self.awas)


@dataclass(frozen=True, slots=True)
class ChannelThreshold(LevelThresholds):
    """A plain per-channel threshold: hysteresis in the channel's unit, debounce in seconds."""

    hysteresis: Annotated[float, Ge(0), doc("In the channel's unit")] = 0.0
    min_duration_s: MinDuration = 0.0

    @property
    def levels(self) -> LevelThresholds:
        return self


@dataclass(frozen=True, slots=True)
class Leveling:
    """The hysteresis and debounce every hazard detector's level machine takes."""

    hysteresis_fraction: Hysteresis = 0.1
    min_duration_s: MinDuration = 0.0
    clear_after_s: ClearAfter = 0.0


@dataclass(frozen=True, slots=True)
class ThresholdConfig:
    # Fixed-temperature heat detection: NFPA 72 "ordinary" rating starts at 57 degC (135 degF);
    # 45 degC is a project advisory level well above tropical ambient (BMKG records < 40 degC).
    channels: dict[str, ChannelThreshold] = field(
        default_factory=lambda: {
            "temp": ChannelThreshold(45.0, 57.0, hysteresis=2.0, min_duration_s=60.0),
        }
    )


@dataclass(frozen=True, slots=True)
class RainThresholds:
    """Rainfall (mm) over 1, 3 and 24 hours at which each level begins."""

    # BMKG hourly intensity: heavy 10-20 mm/h, very heavy > 20 mm/h.
    waspada_1h_mm: float = 10.0
    siaga_1h_mm: float = 20.0
    awas_1h_mm: float = INF
    # 3-hour flood watch: project defaults (60 mm Siaga as in issue 3); calibrate per catchment.
    waspada_3h_mm: float = 30.0
    siaga_3h_mm: float = 60.0
    awas_3h_mm: float = 90.0
    # BMKG daily: heavy 50-100, very heavy 100-150, extreme > 150 mm/day.
    waspada_24h_mm: float = 50.0
    siaga_24h_mm: float = 100.0
    awas_24h_mm: float = 150.0

    def __post_init__(self) -> None:
        for w in ("1h", "3h", "24h"):
            if list(self.window(w).as_tuple()) != sorted(self.window(w).as_tuple()):
                raise ValueError(f"siaga_{w}_mm: waspada <= siaga <= awas required")

    def window(self, w: str) -> LevelThresholds:
        return LevelThresholds(getattr(self, f"waspada_{w}_mm"), getattr(self, f"siaga_{w}_mm"),
                               getattr(self, f"awas_{w}_mm"))


@dataclass(frozen=True, slots=True)
class RainConfig(Leveling):
    thresholds: RainThresholds = RainThresholds()
    antecedent_days: Annotated[float, Gt(0), doc("Days of rain summed as the antecedent")] = 5.0
    antecedent_wet_mm: Annotated[float, Gt(0), doc(
        "Antecedent rain (mm) from which any Waspada-or-higher level is raised one step")] = 150.0

    @property
    def h1(self) -> LevelThresholds:
        return self.thresholds.window("1h")

    @property
    def h3(self) -> LevelThresholds:
        return self.thresholds.window("3h")

    @property
    def h24(self) -> LevelThresholds:
        return self.thresholds.window("24h")

    @property
    def antecedent_s(self) -> float:
        return self.antecedent_days * 86400.0



@dataclass(frozen=True, slots=True)
class SoilCalibration:
    """Volumetric water content (%) at field capacity and at saturation for one node's soil."""

    field_capacity: Annotated[float, Ge(0), doc("Volumetric water content (%)")] = 30.0
    saturation: Annotated[float, Ge(0), doc("Volumetric water content (%)")] = 45.0

    def __post_init__(self) -> None:
        if self.saturation <= self.field_capacity:
            raise ValueError("saturation: must be greater than field_capacity")


@dataclass(frozen=True, slots=True)
class LandslideConfig(Leveling):
    curve: Annotated[str, doc("Rainfall intensity-duration curve: caine1980, guzzetti2008 or "
                              "a name under curves")] = "caine1980"
    curves: dict[str, IDCurve] = field(default_factory=dict)
    # A rain event ends after this long without rain (inter-event time, Guzzetti et al. 2008
    # use site-specific gaps; 6 h is a common choice for hourly gauges).
    dry_gap_s: Annotated[float, Gt(0), doc("A rain event ends after this long dry")] = 6 * 3600.0
    soil_wet: Annotated[float, doc(
        "Relative saturation (vwc - fc) / (sat - fc) from which soil counts as wet")] = 0.5
    soil_hysteresis: NonNegative = 0.05
    # Extensometer and tilt rates (per hour); Uchimura et al. (2015) use 0.1 deg/h (caution)
    # and 1 deg/h (evacuation) for tilt; extensometer rates follow Japanese slope practice.
    ext_rate_mm_h: LevelThresholds = LevelThresholds(1.0, 2.0, 4.0)
    tilt_rate_deg_h: LevelThresholds = LevelThresholds(0.1, 0.5, 1.0)
    rate_window_s: Seconds = 3600.0
    # Movement rates hover around their rungs while a slope creeps: hold a level 30 min.
    clear_after_s: ClearAfter = 1800.0
    soil: SoilCalibration = SoilCalibration()

    def __post_init__(self) -> None:
        if not self.knows_curve(self.curve):
            raise ValueError(f"curve: unknown curve {self.curve!r}; known: "
                             + ", ".join(sorted({*ID_CURVES, *self.curves})))

    @property
    def custom_curves(self) -> dict[str, IDCurve]:
        return self.curves

    def knows_curve(self, name: str) -> bool:
        return name in self.curves or name in ID_CURVES

    def id_curve(self, name: str | None = None) -> IDCurve:
        key = name or self.curve
        return self.curves.get(key) or ID_CURVES[key]


@dataclass(frozen=True, slots=True)
class FireConfig(Leveling):
    # UL 2034 residential CO alarm points (70 / 150 / 400 ppm) as the smoke/gas ladder.
    smoke_ppm: LevelThresholds = LevelThresholds(70.0, 150.0, 400.0)
    rate_window_s: Seconds = 300.0
    # Rise fast enough to deserve Waspada even below 70 ppm: 20 ppm/min over 5 min is twice
    # the worst rise the simulated quiet market produced (project default; calibrate).
    rate_waspada_ppm_min: Annotated[float, Gt(0), doc(
        "Smoke rise (ppm/min) that alone gives Waspada")] = 20.0
    temp_window_s: Seconds = 600.0
    # Confirmation: temperature rise (NFPA 72 rate-of-rise detectors use 8.3 degC/min; a
    # node-mounted sensor sees less, so 5 degC within 10 min) or the 57 degC fixed rating.
    temp_rise_c: Annotated[float, Gt(0), doc(
        "Temperature rise within temp_window_s that confirms a fire")] = 5.0
    temp_fixed_c: Annotated[float, doc("Temperature that confirms a fire")] = 57.0
    clear_after_s: ClearAfter = 300.0

    @property
    def smoke(self) -> LevelThresholds:
        return self.smoke_ppm


@dataclass(frozen=True, slots=True)
class ZoneConfig:
    nodes: Annotated[tuple[Name, ...], MinLen(1), doc("The zone's people counters")]
    capacity: Annotated[float, Gt(0), doc("Safe occupancy (persons)")]
    area_m2: Positive
    site: Name | None = None
    max_inflow_per_min: Annotated[float, Gt(0), doc("Persons per minute in; inf: not checked")] \
        = INF


@dataclass(frozen=True, slots=True)
class CrowdConfig(Leveling):
    occupancy_ratio: LevelThresholds = LevelThresholds(0.8, 0.9, 1.0)
    # Persons per m2: Fruin level of service E begins near 2 p/m2 for standing crowds;
    # Still (2014) and the UK Green Guide treat > 4 p/m2 as dangerous, 5 p/m2 as critical.
    density_p_m2: LevelThresholds = LevelThresholds(2.0, 4.0, 5.0)
    inflow_window_s: Seconds = 60.0
    hysteresis_fraction: Hysteresis = 0.05
    clear_after_s: ClearAfter = 300.0
    zones: dict[str, ZoneConfig] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnomalyConfig:
    """One calibrated anomaly score per node and channel (docs/detectors.md, ``anomaly``).

    The score is 1 - p, p the probability of a reading at least this unusual given the
    channel's recent behaviour; the detector flags (level Waspada) at ``threshold``.
    """

    channels: tuple[Name, ...] = ("vwc", "smoke", "temp", "ext", "tilt")
    threshold: Annotated[float, Interval(gt=0.5, lt=1), doc(
        "Score at which the detector flags (Waspada): 0.99 = rarer than 1 in 100")] = 0.99
    warmup: Annotated[int, Ge(1), doc(
        "Readings before a score is given; their spacing sets the day's length")] = 30
    # In three thirds; odd thirds keep a median one reading, the same in both forms.
    window: Annotated[int, Ge(9), doc(
        "Previous readings the expected value and local spread come from")] = 63
    # Lange, Little & Taylor (1989, JASA 84: 881-896) use 4 as a robust default; 3 is
    # heavier still: the score is valid for noise with tails up to that heavy, and
    # conservative for Gaussian noise.
    tail_df: Annotated[float, Gt(0), doc(
        "Student-t degrees of freedom of the residuals' tails")] = 3.0
    # A shift of 2k = 3 sigma is found fastest (Page 1954).
    cusum_k: Annotated[float, Gt(0), doc("CUSUM reference value, in sigmas")] = 1.5
    long_alpha: Annotated[float, Interval(gt=0, lt=1), doc(
        "Exponential weight of the long-run spread and level (~1/readings)")] = 0.005
    profile_bins: Annotated[int, Ge(1), doc("Time-of-day bins of the daily profile")] = 24
    profile_days: Annotated[float, Gt(0), doc("Days each profile bin remembers")] = 3.0
    emit_alerts: Annotated[bool, doc(
        "Anomalies raise alerts (off: they feed scores and replay only, fewer false alarms; "
        "the gateway, which reads only alerts, then does not run them)")] \
        = False


@dataclass(frozen=True, slots=True)
class HealthConfig:
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Identical consecutive readings that count as a flatline (channels that legitimately
    # stay constant, such as vwc in dry weather or counters, are not checked by default).
    stuck_readings: dict[str, Annotated[int, Ge(1)]] = field(
        default_factory=lambda: {"temp": 120, "hum": 120})
    max_step: dict[str, Positive] = field(
        default_factory=lambda: {"temp": 10.0, "hum": 40.0, "vwc": 25.0, "batt": 2.0}
    )
    jump_hold_s: NonNegative = 600.0
    silence_factor: Positive = 3.0
    default_interval_s: Seconds = 60.0
    gap_clear_s: Seconds = 3600.0
    # 1S Li-ion: 3.5 V low, 3.3 V near cut-off; override per node for 12 V lead-acid.
    battery_v: LevelThresholds = LevelThresholds(3.5, 3.3, -INF, below=True)
    battery_hysteresis: NonNegative = 0.05

    def __post_init__(self) -> None:
        for ch, (low, high) in self.ranges.items():
            if not low < high:
                raise ValueError(f"ranges.{ch}: must be [low, high] with low < high")

    @property
    def battery(self) -> LevelThresholds:
        return self.battery_v


@dataclass(frozen=True, slots=True)
class SiteConfig:
    landslide_curve: Name | None = None
    soil: SoilCalibration | None = None
    rain_node: Annotated[Name | None, doc(
        "The site's rain gauge for slope nodes without one (default: the first node of the "
        "site that reports rain)")] = None
    rain_level: Annotated[Literal[2, 3] | None, doc(
        "A threshold fitted to this site's own landslides: rain above its curve raises this "
        "level from the gauge alone (wet soil adds one, up to Siaga); none: rain counts only "
        "on nodes with a ground sensor, at Waspada")] = None


@dataclass(frozen=True, slots=True)
class NodeConfig:
    site: Name | None = None
    interval_s: Annotated[float | None, Gt(0), doc("The node's report interval")] = None
    soil: SoilCalibration | None = None
    thresholds: dict[str, ChannelThreshold] = field(default_factory=dict)
    battery_v: LevelThresholds | None = None

    @property
    def battery(self) -> LevelThresholds | None:
        return self.battery_v


DetectorName = Literal[
    "threshold", "rain", "landslide", "fire", "crowd",
    "anomaly", "health", "battery",
]
DETECTOR_NAMES: tuple[DetectorName, ...] = DetectorName.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class AnalyticsConfig:
    detectors: Annotated[tuple[DetectorName, ...], doc("Detectors that run")] = DETECTOR_NAMES
    threshold: ThresholdConfig = ThresholdConfig()
    rain: RainConfig = RainConfig()
    landslide: LandslideConfig = LandslideConfig()
    fire: FireConfig = FireConfig()
    crowd: CrowdConfig = CrowdConfig()
    anomaly: AnomalyConfig = AnomalyConfig()
    health: HealthConfig = HealthConfig()
    sites: dict[str, SiteConfig] = field(default_factory=dict)
    nodes: dict[str, NodeConfig] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, site in self.sites.items():
            curve = site.landslide_curve
            if curve is not None and not self.landslide.knows_curve(curve):
                raise ValueError(f"sites.{name}.landslide_curve: unknown curve {curve!r}")
        for name, zone in self.crowd.zones.items():
            if zone.site is not None and self.sites and zone.site not in self.sites:
                raise ValueError(f"crowd.zones.{name}.site: unknown site {zone.site!r}")

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

    def rain_level_for(self, node: str) -> int | None:
        site = self.sites.get(self.node(node).site or "")
        return site.rain_level if site is not None else None

    def curve_for(self, node: str) -> IDCurve:
        site = self.sites.get(self.node(node).site or "")
        return self.landslide.id_curve(site.landslide_curve if site else None)

    def channel_threshold(self, node: str, channel: str) -> ChannelThreshold | None:
        return self.node(node).thresholds.get(channel) or self.threshold.channels.get(channel)
