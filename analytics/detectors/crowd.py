"""Crowd: occupancy of a zone from entry/exit increments, against capacity and area.

Occupancy never goes below zero (a missed exit count cannot make the zone "owe"
people): o_k = max(0, o_{k-1} + in_k - out_k), computed as the running net total
minus its running minimum (capped at 0), which the batch form reproduces exactly.
"""

from __future__ import annotations

import numpy as np

from siaga.analytics.config import CrowdConfig, LevelThresholds, ZoneConfig
from siaga.analytics.detector import BatchResult, StrArray, hazard_score
from siaga.analytics.detectors.rain import spread_float
from siaga.analytics.detectors.threshold import spread
from siaga.analytics.explain import Explanation, Metric, explain
from siaga.analytics.hysteresis import (
    FloatArray,
    LevelMachine,
    level_of,
    levels_of,
    lowered,
    run_levels,
)
from siaga.analytics.windows import WindowSum, window_sums


class CrowdDetector:
    name = "crowd"
    hazard = "crowd"
    channels = frozenset({"pin", "pout"})

    def __init__(self, cfg: CrowdConfig, zone_name: str, zone: ZoneConfig) -> None:
        self.cfg = cfg
        self.zone_name = zone_name
        self.zone = zone
        h = cfg.hysteresis_fraction
        self._ratio_down = lowered(cfg.occupancy_ratio, h)
        self._density_down = lowered(cfg.density_p_m2, h)
        self._inflow_down = zone.max_inflow_per_min * (1 - h)
        self._per_min = 60.0 / cfg.inflow_window_s
        self._inflow = WindowSum(cfg.inflow_window_s)
        self._net = 0.0
        self._low = 0.0
        self._occ = 0.0
        self._rate = 0.0
        self._machine = LevelMachine(cfg.min_duration_s, cfg.clear_after_s)
        self.score = 0.0

    @property
    def level(self) -> int:
        return self._machine.level

    def update(self, ts: float, channel: str, value: float) -> bool:
        if channel == "pin":
            self._net += value
            self._rate = self._inflow.add(ts, value) * self._per_min
        else:
            self._net -= value
            self._rate = self._inflow.value(ts) * self._per_min
        if self._net < self._low:
            self._low = self._net
        self._occ = self._net - self._low
        ratio = self._occ / self.zone.capacity
        density = self._occ / self.zone.area_m2
        up = max(level_of(ratio, self.cfg.occupancy_ratio),
                 level_of(density, self.cfg.density_p_m2),
                 2 if self._rate >= self.zone.max_inflow_per_min else 1)
        down = max(level_of(ratio, self._ratio_down), level_of(density, self._density_down),
                   2 if self._rate >= self._inflow_down else 1)
        changed = self._machine.step(ts, up, down)
        self.score = (self._machine.level - 1) / 3.0
        return changed

    def metrics(self) -> dict[str, float]:
        return {"occupancy": self._occ, "occupancy_ratio": self._occ / self.zone.capacity,
                "density_p_m2": self._occ / self.zone.area_m2, "inflow_per_min": self._rate}

    def explain(self, previous: int) -> Explanation:
        occ = self._occ
        ms = [Metric("density_p_m2", f"Kepadatan zona {self.zone_name}",
                     f"Zone {self.zone_name} density", "org/m2", occ / self.zone.area_m2,
                     self.cfg.density_p_m2),
              Metric("occupancy_ratio", f"Okupansi zona {self.zone_name} (rasio kapasitas)",
                     f"Zone {self.zone_name} occupancy (share of capacity)", "x",
                     occ / self.zone.capacity, self.cfg.occupancy_ratio),
              Metric("inflow_per_min", "Arus masuk", "Inflow", "org/menit", self._rate,
                     LevelThresholds(self.zone.max_inflow_per_min))]
        e = explain(ms, self.level, previous, channel="pin", window_s=self.cfg.inflow_window_s)
        e.values["occupancy"] = occ
        e.thresholds["capacity"] = self.zone.capacity
        return e

    def batch(self, ts: FloatArray, channels: StrArray, values: FloatArray) -> BatchResult:
        n = len(ts)
        pin = channels == "pin"
        rows = np.flatnonzero(pin | (channels == "pout"))
        t = ts[rows]
        signed = np.where(pin[rows], values[rows], -values[rows])
        net = np.cumsum(signed)
        low = np.minimum.accumulate(np.minimum(net, 0.0)) if len(net) else net
        occ = net - low
        inflow = window_sums(t, np.where(pin[rows], values[rows], 0.0),
                             self.cfg.inflow_window_s) * self._per_min
        ratio = occ / self.zone.capacity
        density = occ / self.zone.area_m2
        up = np.maximum.reduce([levels_of(ratio, self.cfg.occupancy_ratio),
                                levels_of(density, self.cfg.density_p_m2),
                                np.where(inflow >= self.zone.max_inflow_per_min, 2, 1)])
        down = np.maximum.reduce([levels_of(ratio, self._ratio_down),
                                  levels_of(density, self._density_down),
                                  np.where(inflow >= self._inflow_down, 2, 1)])
        lv = run_levels(t, up.astype(np.int8), down.astype(np.int8),
                        self.cfg.min_duration_s, self.cfg.clear_after_s)
        levels = spread(n, rows, lv)
        metrics = {"occupancy": spread_float(n, rows, occ),
                   "occupancy_ratio": spread_float(n, rows, ratio),
                   "density_p_m2": spread_float(n, rows, density),
                   "inflow_per_min": spread_float(n, rows, inflow)}
        return BatchResult(levels, hazard_score(levels), metrics)
