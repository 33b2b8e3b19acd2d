"""The sites of the Kota Batu scenarios and the virtual nodes installed at them.

Node and site ids, channels and calibrations are those of the demo registry
(``deploy/demo/registry.toml``), so a hub loaded with it knows every simulated node:

- ``bumiaji-slope``: farmed slopes in Bumiaji, one sample a minute: ``slope-05``
  (upper: vwc, tilt, ext), ``slope-06`` (middle: vwc, tilt), ``slope-07`` (lower,
  above houses: vwc, rain, tilt, ext) and the village hall's rain gauge
  ``rain-bumiaji-01`` (0.5 mm per tip; rain, temp, hum).
- ``sumbergondo-slope``: ``slope-11`` (vwc, rain, tilt), 3 km north; scripted
  storms are centred on Bumiaji and bring it half their rain.
- ``pasar-batu``: the market hall, smoke/temperature nodes every 10 s
  (``pasar-smoke-01`` 6 m from where a fire starts, ``pasar-smoke-02`` 25 m away)
  and a people counter on its north gate (``pasar-gate-01``, every 30 s).
- ``alun-alun-batu``: the town square, a people counter on each of two gates
  (``alun-gate-01`` west, ``alun-gate-02`` east), every 30 s.

Extra nodes (``--nodes`` above the ten) are more slope stations and more market
smoke nodes further from the fire, alternately; the registry does not know them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from siaga.simulators.models.crowd import MARKET_PROFILE, CrowdEvent, Zone, ZoneParams
from siaga.simulators.models.fire import Exposure, Fire, SmokeAndHeat
from siaga.simulators.models.power import Battery, Radio
from siaga.simulators.models.slope import Slope, SlopeParams
from siaga.simulators.models.soil import SoilColumn, SoilParams
from siaga.simulators.models.stepped import seeded
from siaga.simulators.models.weather import Air, RainClimate, RainField, Storm
from siaga.simulators.node import NodeSchedule, VirtualNode
from siaga.simulators.probes import (
    AirProbe,
    Extensometer,
    GateCounter,
    PowerProbe,
    Probe,
    RainGauge,
    SmokeProbe,
    SoilProbe,
)
from siaga.simulators.scenario import Site

SLOPE = "bumiaji-slope"
SUMBERGONDO = "sumbergondo-slope"
MARKET = "pasar-batu"
SQUARE = "alun-alun-batu"

# Zone capacities and areas as the registry gives them for the counters' zones.
SQUARE_CAPACITY, SQUARE_AREA_M2 = 6000, 14000.0
MARKET_CAPACITY, MARKET_AREA_M2 = 2500, 6800.0

SITES = {
    SLOPE: Site(SLOPE, "slope", "Lereng Bumiaji", -7.8527, 112.5436),
    SUMBERGONDO: Site(SUMBERGONDO, "slope", "Lereng Sumbergondo", -7.8262, 112.5301),
    MARKET: Site(MARKET, "market", "Pasar Besar Batu", -7.8734, 112.5256,
                 {"capacity": MARKET_CAPACITY, "area_m2": MARKET_AREA_M2}),
    SQUARE: Site(SQUARE, "square", "Alun-alun Kota Batu", -7.8712, 112.5268,
                 {"capacity": SQUARE_CAPACITY, "area_m2": SQUARE_AREA_M2}),
}


@dataclass(frozen=True, slots=True)
class SlopeStation:
    node: str
    site: str
    sensors: tuple[str, ...]  # in the order the node prints them, before batt/rssi
    field_capacity: float
    saturation: float
    depth_mm: float


SLOPE_STATIONS = (
    SlopeStation("slope-05", SLOPE, ("vwc", "tilt", "ext"), 32.0, 45.0, 250.0),
    SlopeStation("slope-06", SLOPE, ("vwc", "tilt"), 33.0, 46.0, 300.0),
    SlopeStation("slope-07", SLOPE, ("vwc", "rain", "tilt", "ext"), 31.0, 44.0, 300.0),
    SlopeStation("slope-11", SUMBERGONDO, ("vwc", "rain", "tilt"), 30.0, 43.0, 280.0),
)
SMOKE_DISTANCE_M = {"pasar-smoke-01": 6.0, "pasar-smoke-02": 25.0}
BASE_NODES = (
    "slope-05", "slope-06", "slope-07", "rain-bumiaji-01", "slope-11",
    "pasar-smoke-01", "pasar-smoke-02", "pasar-gate-01", "alun-gate-01", "alun-gate-02",
)


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
        self.rains = {
            SLOPE: self.rain,
            SUMBERGONDO: RainField(tuple(replace(s, total_mm=s.total_mm / 2) for s in plan.storms),
                                   climate),
        }
        self.air = Air(self.rain)
        self.soils: dict[str, SoilColumn] = {}
        self.slopes: dict[str, Slope] = {}
        self.batteries: dict[str, Battery] = {}
        self.zone = Zone(t0, ZoneParams(gates=("alun-gate-01", "alun-gate-02"),
                                        gate_weights=(0.55, 0.45)),
                         plan.crowd_events, plan.seed, SQUARE)
        self.market_zone = Zone(t0, ZoneParams(gates=("pasar-gate-01",), profile=MARKET_PROFILE),
                                (), plan.seed, MARKET)
        self.nodes: list[VirtualNode] = []
        for station in SLOPE_STATIONS:
            self._slope_node(station)
            if station.node == "slope-07":
                self._node("rain-bumiaji-01", "weather", 60.0, SLOPE,
                           [RainGauge(self.rain, mm_per_tip=0.5), AirProbe(self.air)],
                           ("batt",), {"mm_per_tip": 0.5})
        for node_id, distance in SMOKE_DISTANCE_M.items():
            self._smoke_node(node_id, distance)
        self._node("pasar-gate-01", "gate", 30.0, MARKET,
                   [GateCounter(self.market_zone, "pasar-gate-01")], ("batt",),
                   {"zone_capacity": MARKET_CAPACITY, "zone_area_m2": MARKET_AREA_M2})
        for gate in ("alun-gate-01", "alun-gate-02"):
            self._node(gate, "gate", 30.0, SQUARE, [GateCounter(self.zone, gate)], ("batt",),
                       {"zone_capacity": SQUARE_CAPACITY, "zone_area_m2": SQUARE_AREA_M2})
        for k in range(extra_nodes):
            if k % 2 == 0:
                self._slope_node(SlopeStation(f"slope-{20 + k // 2:02d}", SLOPE,
                                              ("vwc", "rain", "tilt", "ext"), 32.0, 46.0, 300.0))
            else:
                self._smoke_node(f"pasar-smoke-{3 + k // 2:02d}", 60.0 + 10 * k)
        self.sites = dict(SITES)
        for name in (SLOPE, SUMBERGONDO):
            # The slope's soil as the site knows it: the average of its probes'.
            stations = [s for s in SLOPE_STATIONS if s.site == name]
            base = SITES[name]
            self.sites[name] = replace(base, params={
                "field_capacity": round(sum(s.field_capacity for s in stations) / len(stations), 1),
                "saturation": round(sum(s.saturation for s in stations) / len(stations), 1),
            })

    def _slope_node(self, station: SlopeStation) -> None:
        rng = seeded(self.plan.seed, station.node, "calibration")
        # What is left of the probe's error after the calibration the registry records.
        offset = rng.uniform(-0.3, 0.3)
        t0 = self.plan.start_ts
        params = SoilParams(
            field_capacity=station.field_capacity, saturation=station.saturation,
            depth_mm=station.depth_mm,
            initial=station.field_capacity + self.plan.soil_initial_offset,
        )
        rain = self.rains[station.site]
        soil = SoilColumn(t0, rain, params)
        slope = Slope(t0, soil, SlopeParams(ext0_mm=rng.uniform(8.0, 16.0)))
        self.soils[station.node], self.slopes[station.node] = soil, slope
        probes: list[Probe] = [SoilProbe(soil, offset=offset)]
        if "rain" in station.sensors:
            probes.append(RainGauge(rain, catch_factor=rng.uniform(0.97, 1.03)))
        probes.append(Extensometer(slope, channels=tuple(
            c for c in station.sensors if c in ("tilt", "ext"))))
        calibration = {"soil_field_capacity": station.field_capacity,
                       "soil_saturation": station.saturation}
        if "rain" in station.sensors:
            calibration["mm_per_tip"] = 0.2
        self._node(station.node, "slope", 60.0, station.site, probes, ("batt", "rssi"),
                   calibration)

    def _smoke_node(self, node_id: str, distance_m: float) -> None:
        exposures = (Exposure(self.plan.fire, distance_m),) if self.plan.fire else ()
        heat = SmokeAndHeat(self.plan.start_ts, exposures) if exposures else None
        self._node(node_id, "smoke", 10.0, MARKET, [SmokeProbe(heat), AirProbe(self.air, heat)],
                   ("batt",))

    def _node(self, node_id: str, kind: str, interval_s: float, site: str,
              probes: list[Probe], power: tuple[str, ...],
              calibration: dict[str, float] | None = None) -> None:
        battery = Battery(panel_fail_ts=self.plan.panel_failures.get(node_id))
        self.batteries[node_id] = battery
        rng = seeded(self.plan.seed, node_id, "install")
        radio = Radio(mean_dbm=rng.uniform(-95.0, -65.0))
        # Nodes were not all switched on in the same second.
        boot = self.plan.start_ts + rng.uniform(0, min(interval_s, 20.0))
        self.nodes.append(VirtualNode(
            node_id, kind, interval_s, [*probes, PowerProbe(battery, radio, channels=power)],
            seed=self.plan.seed, boot_ts=boot, site=site,
            schedule=self.plan.schedules.get(node_id), calibration=calibration,
        ))
