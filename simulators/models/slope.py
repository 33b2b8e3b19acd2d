"""Ground movement of a slope: steady creep, accelerating while the soil stays saturated.

Pore pressure is not modelled; the soil's saturation fraction stands in for it.
While it is above ``critical_saturation`` the slope accumulates "time at
saturation" and its velocity grows exponentially with it: the tertiary creep
phase, whose inverse velocity falls roughly linearly towards failure
(Fukuzono 1985; Saito 1965). When the soil drains the slope slows again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from siaga.simulators.models.soil import SoilColumn
from siaga.simulators.models.stepped import SteppedModel


@dataclass(frozen=True, slots=True)
class SlopeParams:
    creep_mm_day: float = 0.02
    critical_saturation: float = 0.75
    onset_mm_h: float = 0.05  # velocity scale of the acceleration
    growth_h: float = 0.8  # e-folding time of the velocity while saturated
    max_mm_h: float = 60.0
    tilt_deg_per_mm: float = 0.015
    ext0_mm: float = 12.0
    tilt0_deg: float = 1.5


class Slope(SteppedModel):
    step_s = 60.0

    def __init__(self, start_ts: float, soil: SoilColumn, params: SlopeParams) -> None:
        super().__init__(start_ts)
        self.soil = soil
        self.params = params
        self.ext_mm = params.ext0_mm
        self.velocity_mm_h = params.creep_mm_day / 24
        self._exposure_h = 0.0

    def _step(self, t: float, dt: float) -> None:
        p = self.params
        self.soil.advance(t + dt)
        s = self.soil.saturation_fraction()
        hours = dt / 3600
        if s >= p.critical_saturation:
            weight = (s - p.critical_saturation) / (1 - p.critical_saturation)
            self._exposure_h += hours * (0.3 + 0.7 * weight)
        else:
            self._exposure_h = max(0.0, self._exposure_h - hours * 0.5)
        creep = p.creep_mm_day / 24
        fast = p.onset_mm_h * (math.exp(self._exposure_h / p.growth_h) - 1)
        self.velocity_mm_h = min(p.max_mm_h, creep + fast)
        self.ext_mm = min(2000.0, self.ext_mm + self.velocity_mm_h * hours)

    @property
    def tilt_deg(self) -> float:
        p = self.params
        return p.tilt0_deg + p.tilt_deg_per_mm * (self.ext_mm - p.ext0_mm)
