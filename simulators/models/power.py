"""A solar-charged Li-ion battery and the radio link's signal strength.

The battery charges in daylight up to ~4.15 V and sags overnight; when the
panel fails (``panel_fail_ts``) the cell discharges along a Li-ion curve: a
long plateau around 3.7 V, then a knee and a steep fall below ~3.5 V.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from siaga.simulators.models.stepped import local_hour


@dataclass(frozen=True, slots=True)
class Battery:
    night_v: float = 3.95
    day_v: float = 4.12
    panel_fail_ts: float | None = None
    # Hours from panel failure to empty (3.0 V), at the node's average draw.
    hours_to_empty: float = 30.0

    def voltage(self, ts: float) -> float:
        if self.panel_fail_ts is not None and ts >= self.panel_fail_ts:
            used = min(1.0, (ts - self.panel_fail_ts) / (self.hours_to_empty * 3600))
            return self.discharge_v(used)
        h = local_hour(ts)
        sun = max(0.0, math.sin(math.pi * (h - 6.0) / 12)) if 6.0 <= h <= 18.0 else 0.0
        return self.night_v + (self.day_v - self.night_v) * sun

    def discharge_v(self, used: float) -> float:
        """Open-circuit voltage after using ``used`` (0..1) of the charge."""
        plateau = self.night_v - 0.35 * used
        knee = 0.65 * max(0.0, used - 0.75) / 0.25
        sag: float = knee**1.5
        return max(3.0, plateau - sag)

    def time_below(self, volts: float) -> float | None:
        """When a failed panel's battery first reads below ``volts``."""
        if self.panel_fail_ts is None:
            return None
        lo, hi = 0.0, 1.0
        if self.discharge_v(hi) >= volts:
            return None
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self.discharge_v(mid) >= volts else (lo, mid)
        return self.panel_fail_ts + hi * self.hours_to_empty * 3600


@dataclass(frozen=True, slots=True)
class Radio:
    mean_dbm: float = -82.0
    sd_db: float = 3.0
