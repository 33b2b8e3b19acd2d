"""A labelled corpus of generated single-channel series for scoring anomaly detectors.

Ten kinds, each drawn ``per_kind`` times with its own scale, offset, noise, resolution
and reading interval (1, 5 or 10 minutes), so a method cannot lean on one scale:

    spike            isolated spikes of 8-20 sigma, either sign
    level_up         a step of +4..+10 sigma
    level_down       a step of -4..-10 sigma
    variance         the noise grows 3-5 times for a stretch
    drift            a ramp of 8-15 sigma over 150-300 readings, then a plateau
    daily_noisy      a daily cycle of 3-10 sigma with noise, then a spike or a step
    daily_clean      a daily cycle without noise (only the sensor's quantisation),
                     then a step of 20-60 resolution steps
    flat_quantised   a coarse sensor sitting on one value for long stretches, moving
                     by single steps, then a step of 6-12 resolution steps
    gaps             a noisy series with missing hours, then a spike or a step
    seasonal_change  a daily cycle whose phase moves by 6-12 hours (or whose amplitude
                     doubles) from one day on

Every series lasts at least four days (the detector's daily profile needs two).
Windows follow the Numenta Anomaly Benchmark rule (Lavin & Ahmad 2015): their total
length is 10 % of the series, shared equally by its anomalies, but each window opens
at the anomaly's onset, since the generator knows it, and lasts at least as long as
the anomaly itself (a drift's ramp, a variance change's stretch). Deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

KINDS = ("spike", "level_up", "level_down", "variance", "drift", "daily_noisy",
         "daily_clean", "flat_quantised", "gaps", "seasonal_change")
T0 = 1_790_000_000.0
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Series:
    kind: str
    name: str
    ts: np.ndarray
    values: np.ndarray
    windows: tuple[tuple[int, int], ...]  # [start, end) row ranges of the anomalies


@dataclass(slots=True)
class _Draw:
    rng: np.random.Generator
    n: int
    interval: float
    sigma: float
    level: float
    resolution: float
    onsets: list[int]
    ends: dict[int, int] = field(default_factory=dict)  # onset -> end of a long anomaly

    @property
    def t(self) -> np.ndarray:
        return T0 + np.arange(self.n) * self.interval

    def noise(self, scale: float = 1.0) -> np.ndarray:
        return self.rng.normal(0.0, self.sigma * scale, self.n)

    def daily(self, amplitude: float, phase_h: float = 0.0) -> np.ndarray:
        return amplitude * np.sin(2 * np.pi * (self.t / DAY - phase_h / 24.0))

    def onset(self, lo: float = 0.45, hi: float = 0.85) -> int:
        i = int(self.rng.uniform(lo, hi) * self.n)
        self.onsets.append(i)
        return i

    def step(self, x: np.ndarray, size: float) -> None:
        x[self.onset():] += size

    def spike(self, x: np.ndarray, size: float, lo: float = 0.45, hi: float = 0.85) -> None:
        x[self.onset(lo, hi)] += size * self.rng.choice((-1.0, 1.0))


def _spike(d: _Draw) -> np.ndarray:
    x = d.noise()
    for lo in (0.35, 0.6, 0.8):
        d.spike(x, d.rng.uniform(8, 20) * d.sigma, lo, lo + 0.12)
    return x


def _level(sign: float) -> Callable[[_Draw], np.ndarray]:
    def make(d: _Draw) -> np.ndarray:
        x = d.noise()
        d.step(x, sign * d.rng.uniform(4, 10) * d.sigma)
        return x
    return make


def _variance(d: _Draw) -> np.ndarray:
    x = d.noise()
    i = d.onset()
    stretch = min(d.n - i, int(d.rng.integers(150, 400)))
    x[i:i + stretch] *= d.rng.uniform(3, 5)
    d.ends[i] = i + stretch
    return x


def _drift(d: _Draw) -> np.ndarray:
    x = d.noise()
    i = d.onset(0.45, 0.7)
    length = int(d.rng.integers(150, 300))
    d.ends[i] = i + length
    ramp = np.clip((np.arange(d.n) - i) / length, 0.0, 1.0)
    out: np.ndarray = x + ramp * d.rng.uniform(8, 15) * d.sigma * d.rng.choice((-1.0, 1.0))
    return out


def _daily_noisy(d: _Draw) -> np.ndarray:
    x: np.ndarray = d.noise() + d.daily(d.rng.uniform(3, 10) * d.sigma, d.rng.uniform(0, 24))
    if d.rng.random() < 0.5:
        d.spike(x, d.rng.uniform(8, 20) * d.sigma)
    else:
        d.step(x, d.rng.choice((-1.0, 1.0)) * d.rng.uniform(4, 10) * d.sigma)
    return x


def _daily_clean(d: _Draw) -> np.ndarray:
    d.resolution = d.sigma / 5
    x = d.daily(d.rng.uniform(50, 200) * d.resolution, d.rng.uniform(0, 24))
    d.step(x, d.rng.choice((-1.0, 1.0)) * d.rng.uniform(20, 60) * d.resolution)
    return x


def _flat_quantised(d: _Draw) -> np.ndarray:
    d.resolution = d.sigma
    moves = d.rng.random(d.n) < 0.02  # a last-digit change now and then
    walk = np.cumsum(np.where(moves, d.rng.choice((-1.0, 1.0), d.n), 0.0))
    x = (walk - np.round(np.convolve(walk, np.ones(301) / 301, "same"))) * d.resolution
    d.step(x, d.rng.choice((-1.0, 1.0)) * d.rng.uniform(6, 12) * d.resolution)
    return x


def _gaps(d: _Draw) -> np.ndarray:
    x = d.noise()
    if d.rng.random() < 0.5:
        d.spike(x, d.rng.uniform(8, 20) * d.sigma)
    else:
        d.step(x, d.rng.choice((-1.0, 1.0)) * d.rng.uniform(4, 10) * d.sigma)
    return x


def _seasonal_change(d: _Draw) -> np.ndarray:
    amp = d.rng.uniform(5, 10) * d.sigma
    phase = d.rng.uniform(0, 24)
    x: np.ndarray = d.noise() + d.daily(amp, phase)
    i = d.onset(0.6, 0.8)
    if d.rng.random() < 0.5:
        moved = d.daily(amp, phase + d.rng.uniform(6, 12))
    else:
        moved = d.daily(2 * amp, phase)
    x[i:] += moved[i:] - d.daily(amp, phase)[i:]
    return x


MAKERS: dict[str, Callable[[_Draw], np.ndarray]] = {
    "spike": _spike, "level_up": _level(1.0), "level_down": _level(-1.0),
    "variance": _variance, "drift": _drift, "daily_noisy": _daily_noisy,
    "daily_clean": _daily_clean, "flat_quantised": _flat_quantised, "gaps": _gaps,
    "seasonal_change": _seasonal_change,
}


def corpus(seed: int = 11, per_kind: int = 8) -> list[Series]:
    """``per_kind`` series of every kind (80 by default)."""
    rng = np.random.default_rng(seed)
    out = []
    for kind in KINDS:
        for k in range(per_kind):
            out.append(_one(kind, f"{kind}-{k:02d}", rng))
    return out


def _one(kind: str, name: str, rng: np.random.Generator) -> Series:
    interval = float(rng.choice((60.0, 300.0, 600.0)))
    days = rng.uniform(4.0, 7.0)
    n = int(days * DAY / interval)
    sigma = float(10.0 ** rng.uniform(-2, 1))
    resolution = sigma / float(rng.choice((20.0, 5.0, 2.0)))
    d = _Draw(rng, n, interval, sigma, float(rng.uniform(-50, 500)), resolution, [])
    x = MAKERS[kind](d) + d.level
    x = np.round(x / d.resolution) * d.resolution
    ts = d.t
    if kind == "gaps":  # missing hours, never over an onset
        keep = np.ones(n, dtype=bool)
        for _ in range(int(rng.integers(3, 7))):
            g = int(rng.uniform(0.1, 0.95) * n)
            length = int(rng.uniform(1, 6) * 3600 / interval)
            if not any(g <= o < g + length + 2 for o in d.onsets):
                keep[g:g + length] = False
        index = np.cumsum(keep) - 1
        d.onsets = [int(index[o]) for o in d.onsets]
        ts, x = ts[keep], x[keep]
    onsets = sorted(d.onsets)
    length = max(1, int(0.1 * len(x) / len(onsets)))
    windows = tuple((o, min(len(x), max(o + length, d.ends.get(o, 0)))) for o in onsets)
    return Series(kind, name, ts, x, windows)
