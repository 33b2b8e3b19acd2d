"""Soil water in the layer a vwc probe sits in: a single bucket that fills with rain.

Rain infiltrates up to the soil's infiltration capacity and the room left below
saturation (the rest runs off); water above field capacity drains by gravity
within a day or two; below field capacity evapotranspiration dries it slowly,
in daylight only. Default parameters are those of a clay loam (Rawls, Brakensiek
and Saxton 1982: porosity ~0.46, water held at -33 kPa ~0.32), the texture of
the weathered volcanic slopes around Bumiaji.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from siaga.simulators.models.stepped import SteppedModel, local_hour
from siaga.simulators.models.weather import RainField


@dataclass(frozen=True, slots=True)
class SoilParams:
    """Per-site soil; water contents in % by volume."""

    field_capacity: float = 32.0
    saturation: float = 47.0
    dry: float = 22.0  # what a dry spell tends towards (above the wilting point)
    depth_mm: float = 300.0  # the layer the probe represents
    infiltration_mm_h: float = 45.0  # saturated infiltration capacity
    drain_tau_h: float = 20.0
    dry_tau_d: float = 12.0
    initial: float | None = None  # defaults to field capacity

    def saturation_fraction(self, vwc: float) -> float:
        """0 at field capacity, 1 at saturation."""
        span = self.saturation - self.field_capacity
        return min(1.0, max(0.0, (vwc - self.field_capacity) / span))


class SoilColumn(SteppedModel):
    step_s = 60.0

    def __init__(self, start_ts: float, rain: RainField, params: SoilParams) -> None:
        super().__init__(start_ts)
        self.rain = rain
        self.params = params
        self.vwc = params.initial if params.initial is not None else params.field_capacity
        self.runoff_mm = 0.0
        self._depth = rain.depth_by(start_ts)

    def _step(self, t: float, dt: float) -> None:
        p = self.params
        depth = self.rain.depth_by(t + dt)
        rain_mm = max(0.0, depth - self._depth)
        self._depth = depth
        # Infiltration capacity falls as the pores fill (Horton-like).
        wet = p.saturation_fraction(self.vwc)
        capacity = p.infiltration_mm_h * (1.0 - 0.7 * wet) * dt / 3600
        room = max(0.0, (p.saturation - self.vwc) / 100 * p.depth_mm)
        infiltrated = min(rain_mm, capacity, room)
        self.runoff_mm += rain_mm - infiltrated
        self.vwc += 100 * infiltrated / p.depth_mm
        if self.vwc > p.field_capacity:
            excess = self.vwc - p.field_capacity
            self.vwc -= excess * (1 - math.exp(-dt / (p.drain_tau_h * 3600)))
        elif 7.0 <= local_hour(t) <= 17.0:
            # Daytime evapotranspiration, faster than the daily mean to compensate nights.
            excess = self.vwc - p.dry
            self.vwc -= excess * (1 - math.exp(-2.4 * dt / (p.dry_tau_d * 86400)))

    def saturation_fraction(self) -> float:
        return self.params.saturation_fraction(self.vwc)
