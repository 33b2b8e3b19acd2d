"""EdgeAnalytics: every enabled detector for every node, fed one Reading at a time.

The gateway's core thread owns one instance: ``process`` for each reading, ``tick``
from its periodic tick (silence), ``on_sequence_gap`` when it sees missing sequence
numbers, ``on_node_reboot`` when a node restarts, ``set_node_interval`` from a node's
hello. Alerts come only on level changes. Work per reading is constant (ring buffers
and running sums) and memory per node is bounded by the longest window over the node's
reading interval.

Readings that are not finite, or older than the last reading of the same node and
channel (a clock going backwards), are ignored and counted in ``counters``. While a
channel is faulty (range, stuck, jump) its readings reach no hazard detector.

Every alert names its inputs: ``channels`` (those of the detector's channels the node
has reported; a slope node fed by its site's gauge adds ``rain``) and ``nodes`` (the
node, the site's gauge when it fed the detector, every node of a crowd zone).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from math import isfinite
from typing import Any

from siaga.analytics.alert import Alert
from siaga.analytics.config import AnalyticsConfig
from siaga.analytics.config_load import load_config
from siaga.analytics.detector import Detector
from siaga.analytics.detectors.fire import FireDetector
from siaga.analytics.detectors.health import FAULTY, ChannelHealthDetector
from siaga.analytics.detectors.landslide import LandslideDetector
from siaga.analytics.link_health import LinkHealth
from siaga.analytics.registry import REGISTRY
from siaga.firmware_bridge.reading import Reading
from siaga.firmware_bridge.vocabulary import Level


@dataclass(frozen=True, slots=True)
class LevelState:
    """One detector's current level, as ``levels()`` lists it for a caller holding the
    engine (today only tests). The gateway reads only alerts: neither its status page nor
    its heartbeat shows these, and its engine (``alerts_only``) leaves out detectors that
    raise none."""

    node: str
    detector: str
    hazard: str
    level: Level
    score: float
    site: str | None = None
    channel: str | None = None


@dataclass(slots=True)
class EngineCounters:
    readings: int = 0
    invalid: int = 0  # NaN or infinite value
    out_of_order: int = 0  # older than the last reading of the same node and channel
    excluded_faulty: int = 0  # kept from hazard detectors while the channel was faulty
    counter_resets: int = 0
    alerts: int = 0


@dataclass(slots=True)
class _Route:
    name: str  # the alert's detector field, e.g. "rain", "threshold:temp", "crowd:alun-alun"
    detector: Detector
    alerting: bool
    site: str | None
    fire: bool = False  # a fire detector with a site: needs its neighbours' state first


@dataclass(slots=True)
class _Lane:
    """One channel of one node: what ``process`` needs per reading, found with one lookup."""

    last_ts: float  # of its latest reading taken (-inf before the first)
    health: ChannelHealthDetector | None
    routes: list[_Route] | None = None  # built at the channel's first healthy reading


@dataclass(slots=True)
class _Node:
    link: LinkHealth
    lanes: dict[str, _Lane] = field(default_factory=dict)  # the channels it has reported
    shared: dict[str, Detector] = field(default_factory=dict)


class EdgeAnalytics:
    """``alerts_only``: the caller reads alerts and never ``levels()`` (the gateway), so a
    detector that raises no alerts, the anomaly score while ``anomaly.emit_alerts`` is
    off, is not run and ``levels()`` leaves it out. Every alert is the same: such a
    detector feeds no other. On the gateway it was 70% of detection's CPU for nothing
    (issue 17: ~3 of 4.3 us a reading on the kit's stream, docs/gateway.md "Performance")."""

    def __init__(self, config: AnalyticsConfig | Mapping[str, Any] | None = None, *,
                 alerts_only: bool = False) -> None:
        self.config = config if isinstance(config, AnalyticsConfig) else load_config(config)
        self.alerts_only = alerts_only
        self.counters = EngineCounters()
        self._nodes: dict[str, _Node] = {}
        self._zones: dict[str, Detector] = {}
        self._zones_of: dict[str, list[str]] = {}
        for zname, zone in self.config.crowd.zones.items():
            for n in zone.nodes:
                self._zones_of.setdefault(n, []).append(zname)
        self._fire_by_site: dict[str, dict[str, FireDetector]] = {}
        self._slopes_by_site: dict[str, dict[str, LandslideDetector]] = {}
        self._site_gauge: dict[str, str] = {
            name: s.rain_node for name, s in self.config.sites.items() if s.rain_node}
        self._enabled = set(self.config.detectors)
        # Slope node -> the site gauge whose rain its landslide detector has been given.
        self._gauge_of: dict[str, str] = {}

    # -- the gateway's calls -------------------------------------------------------------

    def process(self, reading: Reading) -> list[Alert]:
        c = self.counters
        c.readings += 1
        value, ts, ch, node = reading.value, reading.ts, reading.channel, reading.node
        if not (isfinite(value) and isfinite(ts)):
            c.invalid += 1
            return []
        st = self._nodes.get(node) or self._new_node(node)
        lane = st.lanes.get(ch) or self._new_lane(st, ch)
        if ts < lane.last_ts:
            c.out_of_order += 1
            return []
        lane.last_ts = ts
        alerts: list[Alert] = []
        # The link is judged on the gateway's clock (receive time), never the node's: a node
        # dated 1999 before its NTP sync is heard now, not silent for 27 years.
        heard = reading.received_at
        link = st.link
        before = link.level
        if link.seen(heard):
            alerts.append(self._alert(node, link.name, link, before, heard, None))
        if reading.counter_reset:
            c.counter_resets += 1
            before = link.level
            if link.reboot(heard):
                alerts.append(self._alert(node, link.name, link, before, heard, None))
        health = lane.health
        if health is not None:
            before = health.level
            if health.update(ts, ch, value):
                alerts.append(self._alert(node, f"health:{ch}", health, before, ts,
                                          self.config.site_of(node)))
            if health.level >= FAULTY:  # health.faulty, without the property's call
                c.excluded_faulty += 1
                return alerts
        routes = lane.routes
        if routes is None:
            routes = lane.routes = self._build_routes(node, st, ch)
        for r in routes:
            det = r.detector
            if r.fire:
                self._set_neighbour(node, r.site, det)
            before = det.level
            if det.update(ts, ch, value) and r.alerting:
                alerts.append(self._alert(node, r.name, det, before, ts, r.site))
        if ch == "rain":
            alerts += self._share_site_rain(node, ts, value)
        return alerts

    def _share_site_rain(self, node: str, ts: float, value: float) -> list[Alert]:
        """Slope nodes without a rain gauge of their own use their site's gauge."""
        site = self.config.site_of(node)
        if site is None or self._site_gauge.setdefault(site, node) != node:
            return []
        out = []
        for other, det in self._slopes_by_site.get(site, {}).items():
            if other == node or "rain" in self._nodes[other].lanes:
                continue
            self._gauge_of[other] = node
            before = det.level
            if det.update(ts, "rain", value):
                out.append(self._alert(other, "landslide", det, before, ts, site))
        return out

    def tick(self, now_ts: float) -> list[Alert]:
        """Silence and gap expiry check; call from the core thread's tick with reading time."""
        alerts = []
        for node, st in self._nodes.items():
            before = st.link.level
            if st.link.check(now_ts):
                alerts.append(self._alert(node, st.link.name, st.link, before, now_ts, None))
        return alerts

    def on_sequence_gap(self, node: str, missing: int, ts: float) -> list[Alert]:
        st = self._nodes.get(node) or self._new_node(node)
        before = st.link.level
        if missing > 0 and st.link.gap(missing, ts):
            return [self._alert(node, st.link.name, st.link, before, ts, None)]
        return []

    def on_node_reboot(self, node: str, ts: float) -> list[Alert]:
        """The node restarted (its sequence went back, or a hello after silence)."""
        st = self._nodes.get(node) or self._new_node(node)
        before = st.link.level
        if st.link.reboot(ts):
            return [self._alert(node, st.link.name, st.link, before, ts, None)]
        return []

    def set_node_interval(self, node: str, interval_s: float) -> None:
        """A node's hello told its sample interval; a configured interval_s wins."""
        st = self._nodes.get(node) or self._new_node(node)
        if self.config.node(node).interval_s is None and interval_s > 0:
            st.link.interval_s = interval_s

    def levels(self) -> list[LevelState]:
        out: list[LevelState] = []
        seen_zone: set[str] = set()
        for node, st in self._nodes.items():
            listed: set[str] = set()  # node-scope detectors sit on several channels' routes
            site = self.config.site_of(node)
            out.append(LevelState(node, st.link.name, "sensor_fault", Level(st.link.level),
                                  (st.link.level - 1) / 3, site))
            for ch, lane in st.lanes.items():
                h = lane.health
                if h is not None:
                    out.append(LevelState(node, f"health:{ch}", "sensor_fault",
                                          Level(h.level), h.score, site, ch))
            for lane in st.lanes.values():
                for r in lane.routes or ():
                    if r.name.startswith("crowd:"):
                        if r.name in seen_zone:
                            continue
                        seen_zone.add(r.name)
                    if r.name in listed:
                        continue
                    listed.add(r.name)
                    channel = getattr(r.detector, "channel", None)
                    out.append(LevelState(node, r.name, r.detector.hazard,
                                          Level(r.detector.level), r.detector.score, r.site,
                                          channel))
        return out

    # -- internals ------------------------------------------------------------------------

    def _new_node(self, node: str) -> _Node:
        nc = self.config.node(node)
        interval = nc.interval_s or self.config.health.default_interval_s
        st = self._nodes[node] = _Node(LinkHealth(node, self.config.health, interval))
        return st

    def _new_lane(self, st: _Node, ch: str) -> _Lane:
        health = None
        if "health" in self._enabled:
            health = ChannelHealthDetector(ch, self.config.health)
        lane = st.lanes[ch] = _Lane(-math.inf, health)
        return lane

    def _build_routes(self, node: str, st: _Node, ch: str) -> list[_Route]:
        cfg = self.config
        site = cfg.site_of(node)
        routes: list[_Route] = []
        for name, spec in REGISTRY.items():
            enabled = name in self._enabled or (name == "battery" and "health" in self._enabled)
            if not enabled or not spec.hazard_input:
                continue
            if spec.channels is not None and ch not in spec.channels:
                continue
            alerting = spec.alerts(cfg)
            if self.alerts_only and not alerting:
                continue
            if spec.scope == "channel":
                det = spec.build(cfg, node, ch)
                if det is not None:
                    routes.append(_Route(det.name if name == "battery" else f"{name}:{ch}",
                                         det, alerting, site))
            elif spec.scope == "node":
                det = st.shared.get(name) or spec.build(cfg, node, None)
                if det is not None:
                    st.shared[name] = det
                    routes.append(_Route(name, det, alerting, site,
                                         isinstance(det, FireDetector) and site is not None))
                    if isinstance(det, FireDetector) and site is not None:
                        self._fire_by_site.setdefault(site, {})[node] = det
                    if isinstance(det, LandslideDetector) and site is not None:
                        self._slopes_by_site.setdefault(site, {})[node] = det
            else:
                for zname in self._zones_of.get(node, []):
                    det = self._zones.get(zname) or spec.build(cfg, zname, None)
                    if det is not None:
                        self._zones[zname] = det
                        zsite = cfg.crowd.zones[zname].site or site
                        routes.append(_Route(f"crowd:{zname}", det, alerting, zsite))
        return routes

    def _set_neighbour(self, node: str, site: str | None, det: Detector) -> None:
        if site is None or not isinstance(det, FireDetector):
            return
        det.neighbour_alarm = any(other.level >= 2 for n, other in
                                  self._fire_by_site.get(site, {}).items() if n != node)

    def _alert(self, node: str, name: str, det: Any, before: int, ts: float,
               site: str | None) -> Alert:
        self.counters.alerts += 1
        e = det.explain(before)
        channels, nodes = self._inputs(node, det, e.channel, name)
        return Alert(
            node=node, hazard=det.hazard, level=Level(det.level), previous_level=Level(before),
            detector=name, ts=ts, explanation_id=e.text_id, explanation_en=e.text_en,
            site=site if site is not None else self.config.site_of(node),
            channel=e.channel,
            values={k: float(v) for k, v in e.values.items() if math.isfinite(v)},
            thresholds={k: float(v) for k, v in e.thresholds.items() if math.isfinite(v)},
            window_s=e.window_s, channels=channels, nodes=nodes,
        )

    def _inputs(self, node: str, det: Any, channel: str | None,
                name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(channels, nodes) behind an alert of ``det`` on ``node``."""
        wanted: frozenset[str] | None = getattr(det, "channels", None)
        if name.startswith("crowd:"):
            zone = self.config.crowd.zones.get(name.removeprefix("crowd:"))
            zone_nodes = tuple(zone.nodes) if zone is not None else (node,)
            return tuple(sorted(wanted or ())), zone_nodes
        st = self._nodes.get(node)
        seen = st.lanes if st is not None else {}
        if wanted is None:
            return ((channel,) if channel else ()), (node,)
        channels = {ch for ch in seen if ch in wanted}
        nodes = [node]
        gauge = self._gauge_of.get(node)
        if gauge is not None and "rain" in wanted and "rain" not in seen:
            channels.add("rain")
            nodes.append(gauge)
        if channel:
            channels.add(channel)
        return tuple(sorted(channels)), tuple(nodes)
