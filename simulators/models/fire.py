"""A growing fire and what a smoke/temperature node at some distance senses of it.

Heat release follows the t-squared growth curve of fire engineering,
Q = alpha * t^2 (NFPA 72 / SFPE: "fast" growth alpha = 0.0469 kW/s^2, reaching
1055 kW in 150 s), capped at ``q_max_kw``, and decays once fire fighters knock
it down. A node under the roof at radial distance r from the plume sees the
ceiling jet's excess temperature by Alpert's (1972) correlations; smoke
concentration is taken proportional to that excess temperature (both are the
same plume diluted by the same entrained air), and both arrive after the
jet's travel time r / u.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from siaga.simulators.models.stepped import SteppedModel


@dataclass(frozen=True, slots=True)
class Fire:
    ignition_ts: float
    alpha_kw_s2: float = 0.0469
    q_max_kw: float = 3000.0
    suppressed_ts: float | None = None
    decay_tau_s: float = 300.0

    def heat_release_kw(self, ts: float) -> float:
        tau = ts - self.ignition_ts
        if tau <= 0:
            return 0.0
        if self.suppressed_ts is None or ts <= self.suppressed_ts:
            return min(self.q_max_kw, self.alpha_kw_s2 * tau * tau)
        at_knockdown = self.heat_release_kw(self.suppressed_ts)
        return at_knockdown * math.exp(-(ts - self.suppressed_ts) / self.decay_tau_s)


def ceiling_jet_excess_c(q_kw: float, r_m: float, ceiling_m: float) -> float:
    """Alpert (1972): excess gas temperature under an unconfined ceiling, K."""
    if q_kw <= 0:
        return 0.0
    h = ceiling_m
    excess: float
    if r_m / h <= 0.18:
        excess = 16.9 * q_kw ** (2 / 3) / h ** (5 / 3)
    else:
        excess = 5.38 * (q_kw / r_m) ** (2 / 3) / h
    return excess


@dataclass(frozen=True, slots=True)
class Exposure:
    """Where a node hangs relative to a fire."""

    fire: Fire
    distance_m: float
    ceiling_m: float = 7.0
    jet_speed_m_s: float = 1.0
    ppm_per_kelvin: float = 35.0


class SmokeAndHeat(SteppedModel):
    """The excess temperature and smoke a node's sensors see, with their response lag
    (a thermistor in a housing and an MOS gas sensor both take tens of seconds)."""

    step_s = 5.0

    def __init__(self, start_ts: float, exposures: tuple[Exposure, ...],
                 temp_lag_s: float = 40.0, smoke_lag_s: float = 15.0) -> None:
        super().__init__(start_ts)
        self.exposures = exposures
        self.temp_lag_s = temp_lag_s
        self.smoke_lag_s = smoke_lag_s
        self.excess_c = 0.0
        self.smoke_ppm = 0.0

    def target(self, ts: float) -> tuple[float, float]:
        """Excess temperature (K) and smoke (ppm) at the node, before sensor lag."""
        excess = ppm = 0.0
        for e in self.exposures:
            q = e.fire.heat_release_kw(ts - e.distance_m / e.jet_speed_m_s)
            rise = ceiling_jet_excess_c(q, e.distance_m, e.ceiling_m)
            excess += rise
            ppm += e.ppm_per_kelvin * rise
        return excess, ppm

    def _step(self, t: float, dt: float) -> None:
        excess, ppm = self.target(t + dt)
        self.excess_c += (excess - self.excess_c) * (1 - math.exp(-dt / self.temp_lag_s))
        self.smoke_ppm += (ppm - self.smoke_ppm) * (1 - math.exp(-dt / self.smoke_lag_s))
