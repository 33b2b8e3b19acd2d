"""Rain over a site and the air around it (Kota Batu, East Java, ~870 m a.s.l.).

Rain comes as storms with a triangular hyetograph (intensity rises to a peak at
``peak_frac`` of the duration, then tails off), whose cumulative depth has a
closed form, so any node can ask "how much rain has fallen by t" without state.
Besides scripted storms, a ``RainClimate`` draws afternoon convective storms day by
day (lazily, seeded per day), so an endless live run rains like the wet season.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from siaga.simulators.models.stepped import DAY_S, WIB_OFFSET_S, local_day, local_hour, seeded


@dataclass(frozen=True, slots=True)
class Storm:
    start_ts: float
    duration_s: float
    total_mm: float
    peak_frac: float = 0.35

    @property
    def end_ts(self) -> float:
        return self.start_ts + self.duration_s

    @property
    def peak_mm_per_h(self) -> float:
        return 2 * self.total_mm / (self.duration_s / 3600)

    def depth_by(self, ts: float) -> float:
        """Rain fallen from the storm's start up to ``ts``, mm."""
        tau = ts - self.start_ts
        if tau <= 0:
            return 0.0
        d = self.duration_s
        if tau >= d:
            return self.total_mm
        a = self.peak_frac * d
        peak = 2 * self.total_mm / d  # mm/s
        if tau <= a:
            return peak * tau * tau / (2 * a)
        return self.total_mm - peak * (d - tau) ** 2 / (2 * (d - a))

    def intensity(self, ts: float) -> float:
        """Instantaneous rain rate, mm/h."""
        tau = ts - self.start_ts
        d = self.duration_s
        if tau <= 0 or tau >= d:
            return 0.0
        a = self.peak_frac * d
        frac = tau / a if tau <= a else (d - tau) / (d - a)
        return self.peak_mm_per_h * frac


@dataclass(frozen=True, slots=True)
class RainClimate:
    """Wet-season afternoon storms, one draw per local day.

    ``wet_day_p`` and ``mean_event_mm`` default to values typical of the East Java
    highlands in the wet season (Nov-Apr): rain on roughly half the days, most
    events light to moderate in BMKG's daily categories, a few heavy.
    """

    seed: int
    wet_day_p: float = 0.5
    mean_event_mm: float = 14.0
    max_event_mm: float = 70.0

    def storms_of_day(self, day: int) -> tuple[Storm, ...]:
        rng = seeded(self.seed, "rain-climate", day)
        if rng.random() >= self.wet_day_p:
            return ()
        total = min(self.max_event_mm, rng.expovariate(1 / self.mean_event_mm) + 1.0)
        # Convective storms in Java peak in the afternoon (13-18 WIB).
        onset_h = rng.uniform(13.0, 17.5)
        duration_h = rng.uniform(0.75, 2.5)
        start = day * DAY_S - WIB_OFFSET_S + onset_h * 3600
        return (Storm(start, duration_h * 3600, total, rng.uniform(0.2, 0.45)),)


class RainField:
    """All rain over one site: scripted storms plus, optionally, the climate's."""

    def __init__(self, storms: tuple[Storm, ...] = (), climate: RainClimate | None = None) -> None:
        self.storms = tuple(sorted(storms, key=lambda s: s.start_ts))
        self.climate = climate
        self._climate_days: dict[int, tuple[Storm, ...]] = {}
        self._climate_origin: int | None = None
        self._prefix: dict[int, float] = {}

    def _climate_recent(self, ts: float) -> tuple[float, list[Storm]]:
        """Depth of the climate's storms of days settled before ``ts`` (none lasts
        over a day, so all but yesterday and today), and the storms of those two."""
        if self.climate is None:
            return 0.0, []
        today = local_day(ts)
        # Climate storms count from the first day anyone asked about, so the
        # cumulative depth starts with the run, never with the epoch.
        if self._climate_origin is None:
            self._climate_origin = today
        origin = self._climate_origin
        settled = self._prefix_through(today - 2) if today - 2 >= origin else 0.0
        recent = [s for d in range(max(origin, today - 1), today + 1) for s in self._day(d)]
        return settled, recent

    def _day(self, day: int) -> tuple[Storm, ...]:
        if day not in self._climate_days:
            assert self.climate is not None
            self._climate_days[day] = self.climate.storms_of_day(day)
        return self._climate_days[day]

    def _prefix_through(self, day: int) -> float:
        assert self._climate_origin is not None
        last = max(self._prefix, default=self._climate_origin - 1)
        total = self._prefix.get(last, 0.0)
        for d in range(last + 1, day + 1):
            total += sum(s.total_mm for s in self._day(d))
            self._prefix[d] = total
        return self._prefix.get(day, total)

    def depth_by(self, ts: float) -> float:
        """Rain fallen since the start of the record up to ``ts``, mm."""
        settled, recent = self._climate_recent(ts)
        return settled + sum(s.depth_by(ts) for s in (*self.storms, *recent))

    def intensity(self, ts: float) -> float:
        """Rain rate at ``ts``, mm/h."""
        _, recent = self._climate_recent(ts)
        return sum(s.intensity(ts) for s in (*self.storms, *recent))


@dataclass(frozen=True, slots=True)
class Air:
    """Temperature and humidity near the ground, with the daily cycle and rain cooling.

    Kota Batu at ~870 m: about 17 degC before dawn and 27 degC early afternoon;
    relative humidity the mirror image, near saturation at night and in rain.
    """

    rain: RainField
    mean_c: float = 22.0
    amplitude_c: float = 5.0

    def temp(self, ts: float) -> float:
        h = local_hour(ts)
        diurnal = self.amplitude_c * math.cos(2 * math.pi * (h - 14.0) / 24)
        return self.mean_c + diurnal - min(4.0, 0.15 * self.rain.intensity(ts))

    def humidity(self, ts: float) -> float:
        h = local_hour(ts)
        rh = 80.0 - 15.0 * math.cos(2 * math.pi * (h - 14.0) / 24)
        return min(99.0, rh + min(15.0, 1.0 * self.rain.intensity(ts)))
