"""Explicit registry: detector name -> factory. No discovery, no plugins scanned from disk.

A factory builds the detector for one node and channel (``scope="channel"``), for one node
(``scope="node"``, the detector names its channels), or for one crowd zone
(``scope="zone"``, ``key`` is the zone name). It returns None when the configuration
gives that detector nothing to do there (e.g. no threshold set for the channel).

``alerts`` says whether the detector's level changes raise alerts under a configuration
(the anomaly score's only while ``anomaly.emit_alerts`` is on). The gateway's engine
(``EdgeAnalytics(alerts_only=True)``) does not run a detector whose alerts are off, so
such a detector must not be read by another detector: its state must reach nothing but
``levels()`` and replay, or the gateway's alerts would differ from the full engine's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from siaga.analytics.config import AnalyticsConfig, ChannelThreshold
from siaga.analytics.detector import Detector
from siaga.analytics.detectors.anomaly import AnomalyDetector
from siaga.analytics.detectors.crowd import CrowdDetector
from siaga.analytics.detectors.fire import FireDetector
from siaga.analytics.detectors.health import ChannelHealthDetector
from siaga.analytics.detectors.landslide import LandslideDetector
from siaga.analytics.detectors.rain import RainDetector
from siaga.analytics.detectors.threshold import ThresholdDetector

Scope = Literal["channel", "node", "zone"]
Factory = Callable[[AnalyticsConfig, str, str | None], Detector | None]


def _always(cfg: AnalyticsConfig) -> bool:
    return True


def _anomaly_alerts(cfg: AnalyticsConfig) -> bool:
    return cfg.anomaly.emit_alerts


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    name: str
    scope: Scope
    channels: frozenset[str] | None  # None: any channel
    build: Factory
    hazard_input: bool = True  # fed only while the channel is healthy
    # Its level changes raise alerts under this configuration (else alerts_only skips it).
    alerts: Callable[[AnalyticsConfig], bool] = _always


def _threshold(cfg: AnalyticsConfig, node: str, ch: str | None) -> Detector | None:
    t = cfg.channel_threshold(node, ch or "")
    return ThresholdDetector(ch or "", t) if t is not None else None


def _anomaly(cfg: AnalyticsConfig, node: str, ch: str | None) -> Detector | None:
    return AnomalyDetector(ch or "", cfg.anomaly) if ch in cfg.anomaly.channels else None


def _health(cfg: AnalyticsConfig, node: str, ch: str | None) -> Detector | None:
    return ChannelHealthDetector(ch or "", cfg.health)


def _battery(cfg: AnalyticsConfig, node: str, ch: str | None) -> Detector | None:
    levels = cfg.node(node).battery or cfg.health.battery
    d = ThresholdDetector("batt", ChannelThreshold(*levels.as_tuple(), below=levels.below,
                                                   hysteresis=cfg.health.battery_hysteresis))
    d.name = "battery"
    return d


def _crowd(cfg: AnalyticsConfig, zone: str, ch: str | None) -> Detector | None:
    z = cfg.crowd.zones.get(zone)
    return CrowdDetector(cfg.crowd, zone, z) if z is not None else None


REGISTRY: dict[str, DetectorSpec] = {s.name: s for s in (
    DetectorSpec("threshold", "channel", None, _threshold),
    DetectorSpec("rain", "node", RainDetector.channels,
                 lambda cfg, node, ch: RainDetector(cfg.rain)),
    DetectorSpec("landslide", "node", LandslideDetector.channels,
                 lambda cfg, node, ch: LandslideDetector(cfg.landslide, cfg.curve_for(node),
                                                         cfg.soil_for(node),
                                                         cfg.rain_level_for(node))),
    DetectorSpec("fire", "node", FireDetector.channels,
                 lambda cfg, node, ch: FireDetector(cfg.fire)),
    DetectorSpec("crowd", "zone", CrowdDetector.channels, _crowd),
    DetectorSpec("anomaly", "channel", None, _anomaly, alerts=_anomaly_alerts),
    DetectorSpec("health", "channel", None, _health, hazard_input=False),
    DetectorSpec("battery", "channel", frozenset({"batt"}), _battery),
)}

# The anomaly scores (replay's score column, batch's per-channel configuration); whether
# they alert is the spec's ``alerts``.
ANOMALY_DETECTORS = frozenset({"anomaly"})
