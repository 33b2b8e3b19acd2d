"""People entering and leaving a zone (a town square) through counted gates.

Arrivals are a Poisson process whose hourly rate follows the local day (quiet
at night, a morning bump, an evening peak, more at weekends) plus any scheduled
events, whose arrivals ramp up to a peak and stop when the event ends. Each
person present leaves at rate 1 / dwell (exponential dwell times); during an
event people stay until it ends, then leave within ~20 minutes. Each arrival
and departure passes one of the zone's gates, chosen by the gates' weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from siaga.simulators.models.stepped import SteppedModel, binomial, local_hour, poisson, seeded

# Arrivals per hour at each local hour 0..23 on a weekday.
SQUARE_PROFILE = (  # a town-centre square: an evening peak
    20, 10, 5, 5, 10, 60, 180, 220, 160, 120, 120, 150,
    170, 150, 140, 180, 260, 380, 520, 600, 520, 360, 180, 60,
)
MARKET_PROFILE = (  # a traditional market: busiest from before dawn to late morning
    10, 10, 20, 60, 250, 600, 800, 750, 600, 450, 350, 300,
    250, 200, 180, 150, 120, 80, 40, 20, 10, 10, 10, 10,
)
WEEKEND_FACTOR = 1.8


@dataclass(frozen=True, slots=True)
class CrowdEvent:
    """A concert, a festival night: arrivals ramp to ``peak_per_h`` and stop at the end."""

    start_ts: float
    end_ts: float
    peak_per_h: float
    ramp_s: float = 3600.0

    def arrivals_per_h(self, ts: float) -> float:
        if not self.start_ts <= ts < self.end_ts:
            return 0.0
        # Most people arrive in the first hours; arrivals fade towards the end.
        rise = min(1.0, (ts - self.start_ts) / self.ramp_s)
        fade = max(0.0, (self.end_ts - ts) / (self.end_ts - self.start_ts))
        return self.peak_per_h * rise * (0.3 + 0.7 * fade)


@dataclass(frozen=True, slots=True)
class ZoneParams:
    gates: tuple[str, ...]
    gate_weights: tuple[float, ...] = ()
    profile: tuple[int, ...] = SQUARE_PROFILE
    daily_scale: float = 1.0
    dwell_min: float = 45.0
    leave_after_event_min: float = 20.0


class Zone(SteppedModel):
    step_s = 10.0

    def __init__(self, start_ts: float, params: ZoneParams, events: tuple[CrowdEvent, ...],
                 seed: int, name: str) -> None:
        super().__init__(start_ts)
        self.params = params
        self.events = events
        self.rng = seeded(seed, "zone", name)
        weights = params.gate_weights or tuple(1.0 for _ in params.gates)
        total = sum(weights)
        self._cum_weights = tuple(sum(weights[: i + 1]) / total for i in range(len(weights)))
        self.entered = dict.fromkeys(params.gates, 0)
        self.left = dict.fromkeys(params.gates, 0)
        self.regulars = 0  # people on an ordinary visit
        self.attendees = 0  # people staying for an event

    @property
    def occupancy(self) -> int:
        return self.regulars + self.attendees

    def daily_arrivals_per_h(self, ts: float) -> float:
        h = local_hour(ts)
        lo = int(h)
        frac = h - lo
        profile = self.params.profile
        rate = profile[lo] * (1 - frac) + profile[(lo + 1) % 24] * frac
        # POSIX day 0 was a Thursday; shift by the WIB offset to get the local weekday.
        weekday = (int((ts + 7 * 3600) // 86400) + 3) % 7  # 0 = Monday
        if weekday >= 5:
            rate *= WEEKEND_FACTOR
        return rate * self.params.daily_scale

    def _gate(self) -> str:
        x = self.rng.random()
        for gate, edge in zip(self.params.gates, self._cum_weights, strict=True):
            if x < edge:
                return gate
        return self.params.gates[-1]

    def _pass(self, counts: dict[str, int], n: int) -> None:
        for _ in range(n):
            counts[self._gate()] += 1

    def _step(self, t: float, dt: float) -> None:
        p = self.params
        regular = poisson(self.rng, self.daily_arrivals_per_h(t) * dt / 3600)
        event_rate = sum(e.arrivals_per_h(t) for e in self.events)
        attending = poisson(self.rng, event_rate * dt / 3600)
        in_event = any(e.start_ts <= t < e.end_ts for e in self.events)
        leave_regular = binomial(self.rng, self.regulars, 1 - math.exp(-dt / (p.dwell_min * 60)))
        if in_event:
            # A few leave early; the crowd stays for the show.
            leave_p = 1 - math.exp(-dt / (6 * 3600))
        else:
            leave_p = 1 - math.exp(-dt / (p.leave_after_event_min * 60))
        leave_event = binomial(self.rng, self.attendees, leave_p)
        self.regulars += regular - leave_regular
        self.attendees += attending - leave_event
        self._pass(self.entered, regular + attending)
        self._pass(self.left, leave_regular + leave_event)
