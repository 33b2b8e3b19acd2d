"""Score the detectors on labelled simulator scenarios: detection delay and false alarms.

For each labelled hazard or fault, every detector family that raised its level for it
(same hazard; same node, or same site for crowd and fire; same channel for a channel
fault) is reported with the delay from the label's start and the lead over its
``critical_ts`` (positive: warned before the dangerous state). False alarms per day are
the alerts that leave Normal on the quiet scenario, which has no labels.

A dev tool (``siaga-sim evaluate``), so it lives with the simulators: they may import
analytics, analytics never imports them. The runs are streamed through ``EdgeAnalytics``
exactly as the gateway would: ticks every 60 s of scenario time, sequence gaps reported
from ``Reading.seq``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from siaga.analytics.alert import Alert
from siaga.analytics.config import (
    AnalyticsConfig,
    NodeConfig,
    SiteConfig,
    SoilCalibration,
    ZoneConfig,
)
from siaga.analytics.engine import EdgeAnalytics
from siaga.simulators.scenario_catalog import generate

EVENT_SCENARIOS = ("storm", "fire", "crowd", "stuck", "dropout", "reboot", "spike",
                   "out_of_range", "low_battery")
TICK_S = 60.0


@dataclass(frozen=True, slots=True)
class EvalRow:
    scenario: str
    label: str  # "landslide slope-01 (storm)"
    detector: str  # family: rain, landslide, threshold, health, anomaly, ...
    delay_min: float | None  # None: never raised
    lead_min: float | None
    max_level: int


@dataclass(frozen=True, slots=True)
class FalseAlarmRow:
    detector: str
    per_day: float
    alerts: int
    days: float


def config_for(run: Any, base: AnalyticsConfig) -> AnalyticsConfig:
    """The scenario's sites, nodes and zones on top of ``base`` (anomaly alerts on)."""
    sites: dict[str, SiteConfig] = {}
    zones: dict[str, ZoneConfig] = dict(base.crowd.zones)
    for name, site in run.sites.items():
        p = site.params
        soil = SoilCalibration(p["field_capacity"], p["saturation"]) \
            if "field_capacity" in p and "saturation" in p else None
        sites[name] = SiteConfig(None, soil)
        if "capacity" in p and "area_m2" in p:
            gates = tuple(n for n, info in run.nodes.items()
                          if info.site == name and "pin" in info.channels)
            if gates:
                zones[name] = ZoneConfig(gates, float(p["capacity"]), float(p["area_m2"]), name)
    nodes = {n: NodeConfig(site=info.site, interval_s=info.interval_s)
             for n, info in run.nodes.items()}
    return replace(base, sites={**base.sites, **sites}, nodes={**base.nodes, **nodes},
                   crowd=replace(base.crowd, zones=zones),
                   anomaly=replace(base.anomaly, emit_alerts=True))


def stream(run: Any, cfg: AnalyticsConfig) -> list[Alert]:
    eng = EdgeAnalytics(cfg)
    alerts: list[Alert] = []
    last_seq: dict[str, int] = {}
    # Hello and event messages take sequence numbers too; the gateway sees them all.
    used = {(m.node, m.seq) for m in run.messages}
    next_tick = run.start_ts + TICK_S
    for r in run.readings():
        while r.ts >= next_tick:
            alerts += eng.tick(next_tick)
            next_tick += TICK_S
        prev = last_seq.get(r.node)
        if prev is not None and r.seq < prev:
            alerts += eng.on_node_reboot(r.node, r.ts)
        elif prev is not None and r.seq > prev + 1:
            missing = sum((r.node, s) not in used for s in range(prev + 1, r.seq))
            if missing:
                alerts += eng.on_sequence_gap(r.node, missing, r.ts)
        last_seq[r.node] = r.seq
        alerts += eng.process(r)
    return alerts


def family(detector: str) -> str:
    return detector.split(":", 1)[0] if not detector.startswith("health:link") else "link"


def _matches(a: Alert, label: Any, site_of: dict[str, str | None]) -> bool:
    if a.hazard != label.hazard:
        return False
    if label.hazard in ("crowd", "fire"):
        return a.node == label.node or (a.site is not None and a.site == label.site) \
            or (site_of.get(a.node) is not None and site_of.get(a.node) == label.site)
    if a.node != label.node:
        return False
    return label.channel is None or a.channel in (None, label.channel)


def score_run(name: str, run: Any, alerts: list[Alert]) -> list[EvalRow]:
    site_of = {n: info.site for n, info in run.nodes.items()}
    rows: list[EvalRow] = []
    for label in run.labels:
        title = f"{label.hazard} {label.node}" + (f".{label.channel}" if label.channel else "") \
            + f" ({label.cause})"
        first: dict[str, float] = {}
        top: dict[str, int] = defaultdict(int)
        # An instant fault (a reboot) is seen at the next reading: allow 15 minutes.
        end = max(label.end_ts, label.start_ts + 900.0)
        for a in alerts:
            if not label.start_ts <= a.ts <= end or not _matches(a, label, site_of):
                continue
            fam = family(a.detector)
            if a.level > a.previous_level:
                first.setdefault(fam, a.ts)
            top[fam] = max(top[fam], int(a.level))
        if not first:
            rows.append(EvalRow(name, title, "-", None, None, 1))
        for fam, ts in sorted(first.items(), key=lambda kv: kv[1]):
            lead = None if label.critical_ts is None else (label.critical_ts - ts) / 60.0
            rows.append(EvalRow(name, title, fam, (ts - label.start_ts) / 60.0, lead, top[fam]))
    return rows


def false_alarms(alerts: list[Alert], days: float) -> list[FalseAlarmRow]:
    counts: dict[str, int] = defaultdict(int)
    for a in alerts:
        if a.previous_level == 1 and a.level > 1:
            counts[family(a.detector)] += 1
    names = ["threshold", "rain", "landslide", "fire", "crowd", "anomaly",
             "health", "battery", "link"]
    return [FalseAlarmRow(n, counts.get(n, 0) / days, counts.get(n, 0), days) for n in names]


def evaluate(cfg: AnalyticsConfig, quiet_days: float = 2.0, seed: int = 7,
             scenarios: tuple[str, ...] = EVENT_SCENARIOS
             ) -> tuple[list[EvalRow], list[FalseAlarmRow]]:
    rows: list[EvalRow] = []
    for name in scenarios:
        run = generate(name, seed)
        rows += score_run(name, run, stream(run, config_for(run, cfg)))
    quiet = generate("quiet", seed, duration_s=quiet_days * 86400.0)
    fa = false_alarms(stream(quiet, config_for(quiet, cfg)), quiet_days)
    return rows, fa


def _num(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.1f}"


def format_table(result: tuple[list[EvalRow], list[FalseAlarmRow]],
                 markdown: bool = False) -> str:
    rows, fa = result
    sep = " | "
    head = ["scenario", "label", "detector", "delay (min)", "lead vs critical (min)",
            "max level"]
    lines = []
    fmt_row: Callable[[list[str]], str] = (
        (lambda cells: "| " + sep.join(cells) + " |") if markdown else
        (lambda cells: "  ".join(f"{c:<14}" for c in cells)))
    lines.append(fmt_row(head))
    if markdown:
        lines.append("|" + "---|" * len(head))
    for r in rows:
        lines.append(fmt_row([r.scenario, r.label, r.detector, _num(r.delay_min),
                              _num(r.lead_min), str(r.max_level)]))
    lines.append("")
    head2 = ["detector", "false alarms / day", "alerts", "quiet days"]
    lines.append(fmt_row(head2))
    if markdown:
        lines.append("|" + "---|" * len(head2))
    for f in fa:
        lines.append(fmt_row([f.detector, f"{f.per_day:.2f}", str(f.alerts), _num(f.days)]))
    return "\n".join(lines)
