"""The named scenarios: what happens in Kota Batu, when, and the labels that say so.

``build()`` gives a live ``Scenario`` (for the pty and MQTT node sets);
``generate()`` runs one to its end in memory for evaluations. The hazard or
fault starts ``lead_s`` after the scenario's start (default: the scenario's own
lead, at most a third of the duration), so a short, time-compressed run still
contains it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from siaga.simulators.errors import SimSettingsError, UnknownScenarioError
from siaga.simulators.models.crowd import CrowdEvent
from siaga.simulators.models.fire import Fire
from siaga.simulators.models.soil import SoilColumn
from siaga.simulators.models.weather import Storm
from siaga.simulators.node import (
    BOOT_TIME_S,
    ChannelFault,
    ChannelFaultKind,
    NodeSchedule,
    Outage,
    Reboot,
)
from siaga.simulators.scenario import Label, Scenario, ScenarioRun, Watch, run_to_end
from siaga.simulators.town import BASE_NODES, MARKET, SLOPE, SQUARE, SQUARE_CAPACITY, Town, TownPlan

# Friday 16 January 2026, 09:00 WIB: mid wet season.
DEFAULT_START_TS = 1768528800.0
HOUR = 3600.0
BUMIAJI_SLOPES = ("slope-05", "slope-06", "slope-07")

# Thresholds that define the labels' critical moments (see docs/simulators.md).
SATURATED_FRACTION = 0.9  # soil at 90 % of the way from field capacity to saturation
VERY_HEAVY_MM_1H = 20.0  # BMKG: over 20 mm in an hour is "sangat lebat" (very heavy)
LOW_BATTERY_V = 3.5

Critical = Callable[[float], bool]


@dataclass
class Plot:
    """A scenario being written: the plan for the town, then labels over its models."""

    name: str
    start_ts: float
    duration_s: float
    onset: float
    plan: TownPlan
    focus: tuple[str, ...] = ()
    labellers: list[Callable[[Town], list[tuple[Label, Critical | None]]]] = field(
        default_factory=list)

    @property
    def end(self) -> float:
        return self.start_ts + self.duration_s

    def schedule(self, node: str) -> NodeSchedule:
        return self.plan.schedules.setdefault(node, NodeSchedule())

    def fault(self, node: str, channel: str, kind: ChannelFaultKind, start: float, end: float,
              value: float = 0.0) -> None:
        self.schedule(node).faults.append(ChannelFault(channel, kind, start, end, value))
        self.mark_fault(node, kind, start, end, channel)

    def mark_fault(self, node: str, cause: str, start: float, end: float,
                   channel: str | None = None) -> None:
        """Label a sensor fault that is critical from its first moment."""

        def labels(town: Town) -> list[tuple[Label, Critical | None]]:
            site = _site(town, node)
            return [(Label("sensor_fault", node, cause, start, end, site, channel, start), None)]

        self.labellers.append(labels)


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    name: str
    description: str
    duration_s: float
    lead_s: float
    write: Callable[[Plot], None]
    start_hour_offset: float = 0.0  # hours after 09:00 WIB that the default start falls


def _site(town: Town, node: str) -> str | None:
    return next((n.site for n in town.nodes if n.node_id == node), None)


def _quiet(p: Plot) -> None:
    """Ordinary wet-season days: afternoon showers, market cooking, evening crowds."""


def _storm(p: Plot) -> None:
    storm = Storm(p.onset, 3 * HOUR, 110.0, peak_frac=0.3)
    p.plan.storms += (storm,)
    p.plan.rain_climate = False
    p.plan.soil_initial_offset = 3.0  # it rained in the days before
    p.focus = (*BUMIAJI_SLOPES, "rain-bumiaji-01")

    def labels(town: Town) -> list[tuple[Label, Critical | None]]:
        out: list[tuple[Label, Critical | None]] = [
            (Label("landslide", node, "storm", p.onset, p.end, SLOPE),
             _saturated(town.soils[node]))
            for node in BUMIAJI_SLOPES
        ]
        rain = town.rain

        def very_heavy(ts: float) -> bool:
            return rain.depth_by(ts) - rain.depth_by(ts - HOUR) >= VERY_HEAVY_MM_1H

        for node in ("slope-07", "rain-bumiaji-01"):
            out.append((Label("flood", node, "storm", p.onset, storm.end_ts, SLOPE), very_heavy))
        return out

    p.labellers.append(labels)


def _saturated(soil: SoilColumn) -> Critical:
    def reached(ts: float) -> bool:
        soil.advance(ts)
        return soil.saturation_fraction() >= SATURATED_FRACTION

    return reached


def _fire(p: Plot) -> None:
    knockdown = p.onset + 20 * 60  # Damkar on scene and the fire knocked down in 20 min
    p.plan.fire = Fire(p.onset, suppressed_ts=knockdown)
    p.focus = ("pasar-smoke-01", "pasar-smoke-02")
    end = knockdown + 30 * 60
    p.labellers.append(lambda town: [
        (Label("fire", "pasar-smoke-01", "market_fire", p.onset, end, MARKET,
               critical_ts=p.onset), None),
        # The ceiling jet needs ~25 s to cross 25 m of hall.
        (Label("fire", "pasar-smoke-02", "market_fire", p.onset, end, MARKET,
               critical_ts=p.onset + 25), None),
    ])


def _crowd(p: Plot, peak_per_h: float = 9000.0, hours: float = 5.0, ramp_s: float = HOUR) -> None:
    event = CrowdEvent(p.onset, p.onset + hours * HOUR, peak_per_h, ramp_s)
    p.plan.crowd_events += (event,)
    p.focus = ("alun-gate-01", "alun-gate-02")

    def labels(town: Town) -> list[tuple[Label, Critical | None]]:
        zone = town.zone

        def over(ts: float) -> bool:
            zone.advance(ts)
            return zone.occupancy > SQUARE_CAPACITY

        return [(Label("crowd", g, "crowd_event", event.start_ts, event.end_ts, SQUARE), over)
                for g in ("alun-gate-01", "alun-gate-02")]

    p.labellers.append(labels)


def _stuck(p: Plot) -> None:
    p.focus = ("slope-06", "rain-bumiaji-01")
    p.fault("slope-06", "vwc", "stuck", p.onset, p.onset + 6 * HOUR)
    p.fault("rain-bumiaji-01", "temp", "stuck", p.onset + HOUR, p.onset + 7 * HOUR)


def _dropout(p: Plot) -> None:
    p.focus = ("alun-gate-02", "pasar-smoke-02")
    outages = (("alun-gate-02", p.onset, 2 * HOUR), ("pasar-smoke-02", p.onset + HOUR, 1800))
    for node, start, span in outages:
        p.schedule(node).outages.append(Outage(start, start + span))
        p.mark_fault(node, "dropout", start, start + span)


def _reboot(p: Plot) -> None:
    p.focus = ("alun-gate-01", "slope-07")
    for node, at in (("alun-gate-01", p.onset), ("slope-07", p.onset + 1800)):
        p.schedule(node).reboots.append(Reboot(at, "watchdog"))
        p.mark_fault(node, "reboot", at, at + BOOT_TIME_S)


def _spike(p: Plot) -> None:
    p.focus = ("slope-07", "pasar-smoke-02")
    p.fault("slope-07", "vwc", "spike", p.onset, p.onset + 60, 40.0)
    p.fault("pasar-smoke-02", "temp", "spike", p.onset + HOUR, p.onset + HOUR + 10, 45.0)


def _out_of_range(p: Plot) -> None:
    p.focus = ("pasar-smoke-01", "rain-bumiaji-01")
    p.fault("pasar-smoke-01", "temp", "out_of_range", p.onset, p.onset + 1800, -127.0)
    p.fault("rain-bumiaji-01", "hum", "out_of_range", p.onset + HOUR, p.onset + 2 * HOUR, 120.0)


def _low_battery(p: Plot) -> None:
    p.focus = ("slope-06",)
    p.plan.panel_failures["slope-06"] = p.onset

    def labels(town: Town) -> list[tuple[Label, Critical | None]]:
        low = town.batteries["slope-06"].time_below(LOW_BATTERY_V)
        return [(Label("sensor_fault", "slope-06", "low_battery", p.onset, p.end, SLOPE,
                       "batt", low), None)]

    p.labellers.append(labels)


def _demo(p: Plot) -> None:
    """Everything at once, for the demo: stuck sensor, storm, market fire, crowded square."""
    t0 = p.start_ts
    p.fault("rain-bumiaji-01", "temp", "stuck", t0 + 600, p.end)
    for part, at in ((_storm, t0 + 1200), (_fire, t0 + 2400)):
        part(Plot(p.name, p.start_ts, p.duration_s, at, p.plan, labellers=p.labellers))
    p.plan.rain_climate = False
    _crowd(Plot(p.name, p.start_ts, p.duration_s, t0 + HOUR, p.plan, labellers=p.labellers),
           peak_per_h=15000.0, hours=4.5, ramp_s=1800.0)
    p.focus = BASE_NODES


SCENARIOS: dict[str, ScenarioSpec] = {s.name: s for s in (
    ScenarioSpec("quiet", "ordinary wet-season days, no hazard", 2 * 86400, 0, _quiet),
    ScenarioSpec("storm", "afternoon storm (110 mm in 3 h) saturates the Bumiaji slope",
                 18 * HOUR, 5 * HOUR, _storm),
    ScenarioSpec("fire", "fire in Pasar Besar, knocked down after 20 min", 3 * HOUR, HOUR, _fire),
    ScenarioSpec("crowd", "a concert night overfills the Alun-alun", 10 * HOUR, 3 * HOUR,
                 _crowd, start_hour_offset=6.0),
    ScenarioSpec("stuck", "two sensors flatline", 12 * HOUR, 2 * HOUR, _stuck),
    ScenarioSpec("dropout", "two nodes fall silent for a while", 6 * HOUR, HOUR, _dropout),
    ScenarioSpec("reboot", "two nodes reboot: seq and counters back to 0", 6 * HOUR, HOUR, _reboot),
    ScenarioSpec("spike", "impossible one-sample jumps", 6 * HOUR, HOUR, _spike),
    ScenarioSpec("out_of_range", "sensors print values outside their range", 6 * HOUR, HOUR,
                 _out_of_range),
    ScenarioSpec("low_battery", "a solar panel fails and a battery runs down", 36 * HOUR,
                 2 * HOUR, _low_battery),
    ScenarioSpec("demo", "stuck sensor, storm, market fire and crowded square in 6 h",
                 6 * HOUR, 0, _demo, start_hour_offset=4.0),
)}

SCENARIO_NAMES: tuple[str, ...] = tuple(SCENARIOS)


def build(name: str, seed: int = 0, *, start_ts: float | None = None,
          duration_s: float | None = None, nodes: int | None = None,
          only: tuple[str, ...] | None = None, lead_s: float | None = None) -> Scenario:
    """A live scenario. ``nodes`` picks that many nodes, the scenario's own first,
    adding extra quiet ones above ten; ``only`` keeps just the named nodes (e.g. one
    gateway's). Labels of nodes left out are dropped."""
    spec = SCENARIOS.get(name)
    if spec is None:
        raise UnknownScenarioError(name, SCENARIO_NAMES)
    start = DEFAULT_START_TS + spec.start_hour_offset * HOUR if start_ts is None else start_ts
    duration = spec.duration_s if duration_s is None else duration_s
    lead = min(spec.lead_s, duration / 3) if lead_s is None else lead_s
    plot = Plot(name, start, duration, start + lead, TownPlan(seed=seed, start_ts=start))
    spec.write(plot)
    extra = max(0, (nodes or 0) - len(BASE_NODES))
    town = Town(plot.plan, extra_nodes=extra)
    order = [*plot.focus, *(n.node_id for n in town.nodes if n.node_id not in plot.focus)]
    if only is not None:
        unknown = sorted(set(only) - set(order))
        if unknown:
            raise SimSettingsError("--only", f"no such node {', '.join(unknown)}; known: "
                                   + ", ".join(order))
        order = [n for n in order if n in only]
    chosen = set(order[: nodes] if nodes is not None else order)
    labelled = [pair for labeller in plot.labellers for pair in labeller(town)
                if pair[0].node in chosen]
    labels = [label for label, _ in labelled]
    watches = [Watch(i, crit) for i, (_, crit) in enumerate(labelled) if crit is not None]
    return Scenario(
        name, spec.description, seed=seed, start_ts=start, duration_s=duration,
        nodes=[n for n in town.nodes if n.node_id in chosen], labels=labels,
        sites=list(town.sites.values()), watches=watches,
    )


def generate(name: str, seed: int = 0, duration_s: float | None = None,
             start_ts: float | None = None, *, nodes: int | None = None,
             only: tuple[str, ...] | None = None, lead_s: float | None = None) -> ScenarioRun:
    """Run scenario ``name`` to its end without any I/O."""
    return run_to_end(build(name, seed, start_ts=start_ts, duration_s=duration_s,
                            nodes=nodes, only=only, lead_s=lead_s))
