"""The sites of the Kota Batu scenarios and the virtual nodes installed at them.

- ``bumiaji-slope``: a farmed slope in Bumiaji with two soil/rain/extensometer
  stations (``slope-01`` upper, ``slope-02`` lower), one sample a minute.
- ``pasar-besar``: the main market hall, smoke/temperature nodes every 10 s
  (``smoke-01`` 6 m from where a fire starts, ``smoke-02`` 25 m away).
- ``alun-alun``: the town square, a people counter on each of two gates
  (``gate-01``, ``gate-02``) every 30 s.
- ``balai-kota``: a weather station at the town hall (``rain-01``).

Extra nodes (``--nodes`` above the seven) are more slope stations and more
market smoke nodes further from the fire, alternately.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from simulators.models.crowd import CrowdEvent, Zone, ZoneParams
from simulators.models.fire import Exposure, Fire, SmokeAndHeat
from simulators.models.power import Battery, Radio
from simulators.models.slope import Slope, SlopeParams
from simulators.models.soil import SoilColumn, SoilParams
from simulators.models.stepped import seeded
from simulators.models.weather import Air, RainClimate, RainField, Storm
from simulators.node import NodeSchedule, VirtualNode
from simulators.probes import (
    AirProbe,
    Extensometer,
    GateCounter,
    PowerProbe,
    Probe,
    RainGauge,
    SmokeProbe,
    SoilProbe,
)
from simulators.scenario import Site

SLOPE = "bumiaji-slope"
MARKET = "pasar-besar"
SQUARE = "alun-alun"
TOWN_HALL = "balai-kota"

# The square's usable area and the capacity the event permit allows (2 persons/m2,
# a comfortable standing density; above 4-5 /m2 crowds become dangerous, Still 2014).
SQUARE_AREA_M2 = 5000.0
SQUARE_CAPACITY = 10000

SITES = {
    SLOPE: Site(SLOPE, "slope", "Lereng pertanian di Bumiaji, Kota Batu", -7.8397, 112.5356),
    MARKET: Site(MARKET, "market", "Pasar Besar Kota Batu", -7.8727, 112.5265),
    SQUARE: Site(SQUARE, "square", "Alun-alun Kota Batu", -7.8713, 112.5268,
                 {"capacity": SQUARE_CAPACITY, "area_m2": SQUARE_AREA_M2}),
    TOWN_HALL: Site(TOWN_HALL, "town", "Balai Kota Among Tani, Kota Batu", -7.8717, 112.5239),
}

BASE_NODES = ("slope-01", "slope-02", "smoke-01", "smoke-02", "gate-01", "gate-02", "rain-01")


@dataclass
class TownPlan:
    """What happens in town: the scripted hazards and faults of a scenario."""

    seed: int
    start_ts: float
    storms: tuple[Storm, ...] = ()
    rain_climate: bool = True
    fire: Fire | None = None
    crowd_events: tuple[CrowdEvent, ...] = ()
    soil_initial_offset: float = 0.0  # % vwc above field capacity at the start (antecedent rain)
    panel_failures: dict[str, float] = field(default_factory=dict)  # node -> ts
    schedules: dict[str, NodeSchedule] = field(default_factory=dict)


class Town:
    """Builds the models and nodes of a plan; keeps the models for the scenario's watches."""

    def __init__(self, plan: TownPlan, extra_nodes: int = 0) -> None:
        self.plan = plan
        t0 = plan.start_ts
        climate = RainClimate(plan.seed) if plan.rain_climate else None
        self.rain = RainField(plan.storms, climate)
        self.air = Air(self.rain)
        self.soils: dict[str, SoilColumn] = {}
        self.slopes: dict[str, Slope] = {}
        self.batteries: dict[str, Battery] = {}
        self.zone = Zone(t0, ZoneParams(gates=("gate-01", "gate-02"), gate_weights=(0.6, 0.4)),
                         plan.crowd_events, plan.seed, SQUARE)
        self.nodes: list[VirtualNode] = []
        fire_at = {"smoke-01": 6.0, "smoke-02": 25.0}
        for node_id in BASE_NODES:
            if node_id.startswith("slope"):
                self._slope_node(node_id, upper=(node_id == "slope-01"))
            elif node_id.startswith("smoke"):
                self._smoke_node(node_id, fire_at[node_id])
            elif node_id.startswith("gate"):
                self._node(node_id, "gate", 30.0, SQUARE, [GateCounter(self.zone, node_id)])
            else:
                self._node(node_id, "weather", 60.0, TOWN_HALL,
                           [RainGauge(self.rain), AirProbe(self.air)], {"mm_per_tip": 0.2})
        for k in range(extra_nodes):
            if k % 2 == 0:
                self._slope_node(f"slope-{3 + k // 2:02d}", upper=False)
            else:
                self._smoke_node(f"smoke-{3 + k // 2:02d}", 60.0 + 10 * k)
        self.sites = dict(SITES)
        # The slope's soil as the site knows it: the average of its probes' own
        # calibration (each node's is in its NodeInfo.calibration).
        probes = [n.calibration for n in self.nodes if n.site == SLOPE]
        base = SITES[SLOPE]
        self.sites[SLOPE] = Site(SLOPE, base.kind, base.description, base.lat, base.lon, {
            key: round(sum(c[key] for c in probes) / len(probes), 1)
            for key in ("field_capacity", "saturation")
        })

    def _calibration(self, node_id: str) -> tuple[float, float]:
        rng = seeded(self.plan.seed, node_id, "calibration")
        return rng.uniform(-1.0, 1.0), rng.uniform(0.97, 1.03)

    def _slope_node(self, node_id: str, upper: bool) -> None:
        offset, catch = self._calibration(node_id)
        t0 = self.plan.start_ts
        params = SoilParams(
            field_capacity=31.0 if upper else 33.0,
            saturation=45.0 if upper else 48.0,
            depth_mm=250.0 if upper else 300.0,
        )
        params = replace(params, initial=params.field_capacity + self.plan.soil_initial_offset)
        soil = SoilColumn(t0, self.rain, params)
        slope = Slope(t0, soil, SlopeParams(ext0_mm=12.0 + 3 * offset))
        self.soils[node_id], self.slopes[node_id] = soil, slope
        probes: list[Probe] = [
            SoilProbe(soil, offset=offset), RainGauge(self.rain, catch_factor=catch),
            Extensometer(slope),
        ]
        self._node(node_id, "slope", 60.0, SLOPE, probes, {
            "field_capacity": round(params.field_capacity + offset, 1),
            "saturation": round(params.saturation + offset, 1),
            "mm_per_tip": 0.2,
        })

    def _smoke_node(self, node_id: str, distance_m: float) -> None:
        exposures = (Exposure(self.plan.fire, distance_m),) if self.plan.fire else ()
        heat = SmokeAndHeat(self.plan.start_ts, exposures) if exposures else None
        self._node(node_id, "smoke", 10.0, MARKET, [SmokeProbe(heat), AirProbe(self.air, heat)])

    def _node(self, node_id: str, kind: str, interval_s: float, site: str,
              probes: list[Probe], calibration: dict[str, float] | None = None) -> None:
        battery = Battery(panel_fail_ts=self.plan.panel_failures.get(node_id))
        self.batteries[node_id] = battery
        rng = seeded(self.plan.seed, node_id, "install")
        radio = Radio(mean_dbm=rng.uniform(-95.0, -65.0))
        # Nodes were not all switched on in the same second.
        boot = self.plan.start_ts + rng.uniform(0, min(interval_s, 20.0))
        self.nodes.append(VirtualNode(
            node_id, kind, interval_s, [*probes, PowerProbe(battery, radio)],
            seed=self.plan.seed, boot_ts=boot, site=site,
            schedule=self.plan.schedules.get(node_id), calibration=calibration,
        ))
